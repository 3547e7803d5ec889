"""Suite-wide isolation: no test reads or writes the user's own sg-explorer state.

The config folder (~/.config/sg-explorer: recent files, last session, window layout) and the download cache
(~/.cache/sg-explorer) are pointed at per-session temporary folders before any test runs. They are set in
os.environ at import time, so subprocesses started by tests (the CLI, the window) inherit them too; a test
that needs its own folder still sets the variable itself with monkeypatch.
"""
import atexit
import os
import shutil
import signal
import tempfile

import pytest

_SESSION_DIR = tempfile.mkdtemp(prefix="sg-explorer-tests-")
os.environ["SG_EXPLORER_CONFIG_DIR"] = os.path.join(_SESSION_DIR, "config")
os.environ["SG_EXPLORER_CACHE"] = os.path.join(_SESSION_DIR, "cache")
os.environ.pop("XDG_CONFIG_HOME", None)  # config_dir reads it after the override; keep nothing of the user's
atexit.register(shutil.rmtree, _SESSION_DIR, True)

# A suite started from a background job (`pytest &`, CI runners) inherits SIGINT ignored; every process a test starts
# would inherit that too and could not be interrupted. Python's own handler here makes exec reset it to the default.
for _sig, _handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, _handler)


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_state():
    """Asserts the isolation above held for the whole session (a test that changed it for good is a defect)."""
    yield
    assert os.environ.get("SG_EXPLORER_CONFIG_DIR", "").startswith(_SESSION_DIR)
