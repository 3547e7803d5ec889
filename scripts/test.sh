#!/usr/bin/env bash
# Set-up command 2: install everything the tests need (Xvfb and xdotool for the real-window GUI tests, the
# colour emoji font of the default models' data set), then run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
EMOJI_FONT=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
if ! command -v Xvfb >/dev/null || ! command -v xdotool >/dev/null || ! command -v xauth >/dev/null \
        || [ ! -f "$EMOJI_FONT" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq xvfb xauth xdotool fonts-noto-color-emoji >/dev/null
fi
bash scripts/install.sh
source scripts/python.sh
mkdir -p test-artifacts
exec "$PY" -m pytest -q -p no:cacheprovider "$@"
