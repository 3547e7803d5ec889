"""A private X server: `Xvfb -displayfd` on a free display, 24-bit screen (GUI tests, bench_gui without a display)."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass


@dataclass
class XServer:
    display: str               # ':N'
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_xvfb(width: int = 3200, height: int = 2000, timeout_s: float = 10.0) -> XServer:
    """Starts Xvfb on a display it picks itself; returns once the display number is known (server ready).

    The screen is large on purpose: the X pointer sits at its centre (it cannot be moved on Xvfb here),
    outside a window opened at (0, 0) of up to width/2 x height/2. Measured: with the pointer inside the
    area where a Dear PyGui window is destroyed and the next one created (a new context in the same
    process, as tests and the bench do), GLFW's cursor-enter event reaches ImGui's handler and the
    process segfaults now and then.
    """
    exe = shutil.which("Xvfb")
    if exe is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    # Xvfb writes the number then a newline; closing our end before the newline kills it.
    data = b""
    deadline = time.monotonic() + timeout_s
    try:
        while not data.endswith(b"\n"):
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("Xvfb did not report a display number")
            chunk = os.read(read_fd, 16)
            if not chunk:
                raise RuntimeError("Xvfb closed its display pipe before reporting")
            data += chunk
    finally:
        os.close(read_fd)
    return XServer(display=":" + data.decode().strip(), process=proc)
