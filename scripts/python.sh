# Sourced by install.sh, run.sh and test.sh: sets PY, the Python that sg-explorer is installed into and run with.
# An active virtual environment (VIRTUAL_ENV set) is used as it is; $PYTHON names another interpreter; otherwise
# ./.venv is created on first use (python3 -m venv) and used from then on, so nothing goes into the system Python.
if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then
    PY=$VIRTUAL_ENV/bin/python
else
    if [ ! -x .venv/bin/python ]; then
        echo "creating the virtual environment .venv (once)" >&2
        python3 -m venv .venv || { echo "python3 -m venv failed: on Debian/Ubuntu install python3-venv" >&2; exit 1; }
    fi
    PY=$PWD/.venv/bin/python
fi
export PY
