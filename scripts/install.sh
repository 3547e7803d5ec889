#!/usr/bin/env bash
# Installs sg-explorer and its dependencies into the project's Python (idempotent): the active virtual environment,
# else ./.venv (created here; see scripts/python.sh).
# PyTorch's CPU build goes in first: a bare `torch` requirement would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python.sh
if ! "$PY" -c "import torch" 2>/dev/null; then
    "$PY" -m pip install -q torch==2.13.0 || "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
"$PY" -m pip install -q -e ".[test]"
