"""`sg-explorer [PKL|URL|RUN_DIR ...]`: the explorer window.

The first checkpoint is shown; a second one goes to the texture-sticking comparison. With none, the last
session's network or assets/default-sg3t.pkl opens, else the network panel asks for one.
"""
from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "assets" / "default-sg3t.pkl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="*", metavar="PKL|URL|RUN_DIR",
                        help="checkpoint file, URL or training run folder (a second one is compared for texture sticking)")
    parser.add_argument("--session", metavar="FILE", help="load this session JSON instead of the last session")
    parser.add_argument("--device", default="cpu", help="torch device for rendering (default: cpu)")
    parser.add_argument("--fps-cap", type=int, default=60, metavar="N", help="UI frames per second; 0 = uncapped")


def run(args: argparse.Namespace) -> int:
    from explorer.devices import resolve_device
    from explorer.errors import UserError
    from explorer.gui.display import display_problem

    if args.fps_cap < 0:
        raise UserError("--fps-cap must be 0 (uncapped) or more")
    device = resolve_device(args.device)          # one line for an unknown or missing device
    if device.index not in (None, 0):
        raise UserError(f"--device {args.device}: the explorer renders on cpu or the first CUDA device (cuda)")
    # Before importing dearpygui: without a display it would abort the process.
    problem = display_problem()
    if problem:
        raise UserError(problem)
    from explorer.gui.app import App, AppOptions

    app = App(AppOptions(checkpoints=list(args.checkpoints), session=args.session, device=device.type,
                         fps_cap=args.fps_cap, default_checkpoint=str(DEFAULT_CHECKPOINT)))
    # SIGTERM raises explorer.cli.Terminated here (as in every command): App.run's cleanup saves the session, as
    # closing the window does, and the command ends quietly with exit 143.
    try:
        app.start()
    except BaseException:
        app.close()
        raise
    return app.run()
