"""`sg-explorer` entry point.

Each subcommand lives in `explorer/commands/<name>.py` with two functions:
`add_arguments(parser)` and `run(args) -> int`. With no subcommand the GUI opens.
Errors reach the user as one line: exit 2 for bad arguments, 1 for a failed load or run. Ctrl-C ends a command
with "interrupted" and exit 130; SIGTERM (a service manager, `kill`, a closing session) ends any command quietly
with exit 143, after the same cleanup (no partial files).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys

# name -> (module, one-line help). Modules are imported lazily: `sg-explorer info` must not import dearpygui.
COMMANDS = {
    "info": ("explorer.commands.info", "describe a checkpoint"),
    "images": ("explorer.commands.images", "render PNGs for seeds"),
    "bench": ("explorer.commands.bench", "benchmarks that print figures"),
    "video": ("explorer.commands.video", "export interpolation / transform / layer videos"),
    "dataset": ("explorer.commands.dataset", "build a training data set zip"),
    "train": ("explorer.commands.train", "train or fine-tune StyleGAN2 / StyleGAN3"),
    "directions": ("explorer.commands.directions", "semantic directions in W (SeFa, GANSpace)"),
    "project": ("explorer.commands.project", "project an image into W"),
    "metrics": ("explorer.commands.metrics", "FID, KID, precision/recall, EQ-T / EQ-R of a checkpoint"),
    "gui": ("explorer.commands.gui", "open the explorer window (the default)"),
}


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM. A BaseException, like KeyboardInterrupt, so that `except Exception`
    does not swallow it while every `finally` and cleanup handler still runs on the way out."""


TERMINATED_EXIT = 128 + signal.SIGTERM   # 143, the shell's code for a process ended by SIGTERM


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM raises Terminated while a command runs (main thread only; elsewhere the default stays)."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (main() called from a thread): signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _fail(message: str, code: int) -> int:
    print(f"sg-explorer: error: {message}", file=sys.stderr)
    return code


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before an error; users get one line and a pointer to --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(name: str) -> argparse.ArgumentParser:
    module_name, help_text = COMMANDS[name]
    parser = _OneLineParser(prog=f"sg-explorer {name}" if name != "gui" else "sg-explorer",
                                     description=help_text)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    importlib.import_module(module_name).add_arguments(parser)
    return parser


def usage_text() -> str:
    """What `sg-explorer --help` prints: the GUI default, then one line per subcommand."""
    lines = ["usage: sg-explorer [PKL|URL|RUN_DIR ...] [options]   open the explorer window",
             "       sg-explorer COMMAND [options]                 run a command",
             "",
             "commands:"]
    lines += [f"  {name:<10} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "sg-explorer COMMAND --help shows a command's options (sg-explorer gui --help: the window's)."]
    return "\n".join(lines) + "\n"


def _print_usage() -> None:
    print(usage_text(), end="")


def _looks_like_a_mistyped_command(word: str) -> bool:
    """A bare word that is no command and no existing file: `sg-explorer imagse ...` should not open the GUI."""
    import os
    return (word not in COMMANDS and word.isidentifier() and not os.path.exists(word))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        _print_usage()
        return 0
    if argv and _looks_like_a_mistyped_command(argv[0]):
        import difflib
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f" (commands: {', '.join(COMMANDS)})"
        return _fail(f"unknown command {argv[0]!r}{hint}", 2)
    name = argv.pop(0) if argv and argv[0] in COMMANDS else "gui"
    try:
        parser = build_parser(name)
    except ModuleNotFoundError as e:
        return _fail(f"subcommand {name!r} is not available ({e})", 1)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse already printed its one-line message
        return int(e.code or 0)
    from explorer.errors import UserError
    from networks.errors import CheckpointError
    module = importlib.import_module(COMMANDS[name][0])
    try:
        with _sigterm_raises():
            return int(module.run(args) or 0)
    except Terminated:
        return TERMINATED_EXIT
    except UserError as e:
        if args.debug:
            raise
        return _fail(str(e), 2)
    except CheckpointError as e:
        if args.debug:
            raise
        return _fail(str(e), 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as e:  # a traceback is for developers: --debug shows it
        if args.debug:
            raise
        return _fail(f"{type(e).__name__}: {e}", 1)


if __name__ == "__main__":
    sys.exit(main())
