#!/usr/bin/env bash
# Set-up command 1: install, then open the explorer on the shipped default model (or on the given checkpoints).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
source scripts/python.sh
exec "$PY" -m explorer "$@"
