#!/usr/bin/env bash
# Set-up command 2: install everything the tests need (Xvfb and xdotool for the real-window GUI tests),
# then run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null || ! command -v xauth >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq xvfb xauth xdotool >/dev/null
fi
bash scripts/install.sh
mkdir -p test-artifacts
exec "${PYTHON:-python3}" -m pytest -q -p no:cacheprovider "$@"
