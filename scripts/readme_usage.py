"""Writes README.md's usage section from the commands' own argparse help, so the two never drift.

    python scripts/readme_usage.py           rewrite the block between the usage markers in README.md
    python scripts/readme_usage.py --check   exit 1 (and say so) if README.md's block is out of date

Only the text between `<!-- usage:begin -->` and `<!-- usage:end -->` changes. The help text is
formatted at a fixed terminal width (COLUMNS=100) so the result does not depend on the terminal.
tests/test_readme.py fails when the README differs from what this script writes.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BEGIN, END = "<!-- usage:begin -->", "<!-- usage:end -->"
COLUMNS = 100

# Per command: heading, a short description, examples. The options themselves come from --help.
SECTIONS = [
    ("gui", "sg-explorer [PKL|URL|RUN_DIR ...]",
     "Opens the explorer window. The first checkpoint is shown; a second one is compared with it for texture "
     "sticking. A training run folder opens its newest `network-snapshot-*.pkl` (and follows new ones), and the "
     "*Training run* panel shows the run as it trains: every number in `stats.jsonl` and every `metric-*.jsonl` "
     "plotted against kimg (also in a larger window), the fakes grids on a kimg slider, and "
     "`training_options.json`; a URL is downloaded once into the cache (`$SG_EXPLORER_CACHE`, default `~/.cache/sg-explorer/downloads`). With no "
     "argument the last session's network, or the shipped default model, opens.",
     ["sg-explorer",
      "sg-explorer https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan3/versions/1/files/"
      "stylegan3-t-ffhq-1024x1024.pkl",
      "sg-explorer runs/00000-stylegan3-t-faces-gpus1-batch32-gamma2/"]),
    ("info", "sg-explorer info",
     "Describes a checkpoint without rendering: file format, architecture (stylegan2, stylegan3-t, "
     "stylegan3-r, stylegan, progan), resolution, z / w / c sizes, number of ws, the level of detail (`lod`) of "
     "progressive-growing networks, every synthesis layer with its output shape, and parameter counts. `--json` "
     "prints the same as JSON. ProGAN's single \"w\" is its pixel-normalised z: truncation and style mixing do not "
     "apply. StyleGAN (v1) truncates only when asked (`--trunc 0.7 --trunc-cutoff 8` is what its TF `Gs.run` did "
     "by default).",
     ["sg-explorer info stylegan3-r-afhqv2-512x512.pkl", "sg-explorer info network-snapshot-000200.pkl --json"]),
    ("images", "sg-explorer images",
     "Renders one PNG per seed, `seedNNNN.png`, with NVIDIA's seed convention and pixel conversion, so a seed "
     "gives the same image as NVIDIA's `gen_images.py`. `--translate` and `--rotate` set a StyleGAN3 network's "
     "input transform with the same meaning as there.",
     ["sg-explorer images ffhq.pkl --seeds 0-3,7 --trunc 0.7 --outdir out/",
      "sg-explorer images sg3.pkl --seeds 42 --translate 0.25,0 --rotate 15 --outdir out/",
      "sg-explorer images cond.pkl --seeds 0-9 --class 2 --noise-mode none --device cuda --outdir out/",
      "sg-explorer images ffhq.pkl --seeds 0-3 --edit sefa.npz:0:3:0-5 --outdir out/",
      "sg-explorer images ffhq.pkl --w proj/projected_w.npz --outdir out/"]),
    ("video", "sg-explorer video",
     "Exports a video: a walk through seeds (one or a grid of them), StyleGAN3 translation / rotation, a "
     "synthesis layer's activations, two checkpoints side by side, or a keyframe recipe saved from the GUI. "
     "The format follows the `--output` name (.mp4, .webm, .gif, or a folder of PNG frames).",
     ["sg-explorer video net.pkl --seeds 0-31 --grid 2x2 --w-frames 60 --output walk.mp4",
      "sg-explorer video --keyframes recipe.json --output tour.webm"]),
    ("directions", "sg-explorer directions",
     "Finds semantic directions in W: SeFa (closed form, from the style weights of the chosen layers) or "
     "GANSpace (PCA of sampled w). The `.npz` holds unit `directions`, their `values` and `stds` (one unit of "
     "edit strength); `images --edit FILE:INDEX:STRENGTH[:LAYERS]` and the window's directions panel apply them.",
     ["sg-explorer directions ffhq.pkl --method sefa --layers coarse --num 10 --output sefa.npz",
      "sg-explorer directions ffhq.pkl --method ganspace --samples 20000 --output gs.npz"]),
    ("project", "sg-explorer project",
     "Finds the w that draws a photo (NVIDIA's projector's optimisation): `target.png`, `proj.png`, "
     "`projected_w.npz` (key `w`) and with `--video` `proj.mp4`. Pixel loss offline; LPIPS with `--lpips`.",
     ["sg-explorer project ffhq.pkl --target me.jpg --steps 1000 --outdir proj/"]),
    ("dataset", "sg-explorer dataset",
     "Turns a folder or zip of images into a training data set: a zip of square RGB PNGs plus `dataset.json` "
     "(labels, if the source has a `dataset.json`).",
     ["sg-explorer dataset --source ~/photos --dest data/photos-64.zip --resolution 64x64 --transform center-crop"]),
    ("train", "sg-explorer train",
     "Trains or fine-tunes StyleGAN2 / StyleGAN3-T / StyleGAN3-R on a data set zip, on the CPU or CUDA, in one "
     "or several processes. Each run gets its own folder with `stats.jsonl`, snapshots that resume exactly, "
     "and image grids; `--resume latest` picks up from the newest snapshot in `--outdir`. `--cfg stylegan` "
     "(v1: logistic loss, R1, style mixing 0.9) and `--cfg progan` (WGAN-GP with drift) grow progressively as "
     "the papers: from `--start-res` (8 / 4 px), `--grow-kimg` (600) per fade-in and per stable phase, the "
     "papers' minibatch and learning rate per resolution (`--batch` is the final resolution's; `stats.jsonl` "
     "records `lod`); a snapshot taken mid-fade resumes exactly, and NVIDIA's TF pickles fine-tune fully grown.",
     ["sg-explorer train --cfg stylegan3-t --data data/photos-64.zip --outdir runs --batch 32 --gamma 2 --mirror",
      "sg-explorer train --cfg stylegan2 --data data/photos-64.zip --outdir runs --batch 32 --gamma 0.5 "
      "--resume latest",
      "sg-explorer train --cfg progan --data data/photos-64.zip --outdir runs --batch 32 --gamma 10 --mirror"]),
    ("metrics", "sg-explorer metrics",
     "NVIDIA's calc_metrics for this project. `fid`, `kid` and `pr` (precision / recall, k = 3) are NVIDIA's "
     "fid50k_full, kid50k_full and pr50k3_full: every image of `--data` against `--num` generated images (50000 "
     "by default; fewer for a quick look), z seeded by `--seed`, truncation 1, random noise, labels drawn from "
     "the data set for a conditional model, images quantised to uint8 as NVIDIA's; with `none` in place of PKL, "
     "the image set `--ref` against `--data` (folders or zips, any image size). `eqt`, `eqt_frac` and `eqr` are "
     "StyleGAN3's equivariance in dB (eqt50k_int, eqt50k_frac, eqr50k). The feature network is pytorch-fid's "
     "FID Inception: the plain state-dict file `pt_inception-2015-12-05-6726825d.pth` "
     "(https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth)"
     ", given with `--feature-net` or fetched once into the download cache when online; images go in as "
     "pytorch-fid's, in [-1, 1], resized bilinearly to 299 inside the network. FID values therefore follow "
     "pytorch-fid's network, close to but not bit-equal with NVIDIA's TF-graph detector. `pr` uses the same "
     "Inception features where NVIDIA's uses VGG16: its values are not comparable with NVIDIA's. Features of a "
     "data set are cached by content (`metric-features/` in the cache): a second run against the same data reads "
     "no image. One line per metric, or one JSON object with `--json`; `train --metrics fid,kid,...` computes "
     "the same at each snapshot.",
     ["sg-explorer metrics runs/00000-stylegan3-t-faces/ --metrics fid,kid --data data/photos-64.zip",
      "sg-explorer metrics ffhq.pkl --metrics eqt,eqt_frac,eqr --num 1000 --json",
      "sg-explorer metrics none --ref samples/ --data data/photos-64.zip --metrics fid,kid "
      "--feature-net pt_inception-2015-12-05-6726825d.pth"]),
    ("bench", "sg-explorer bench",
     "Prints speed and memory figures (benchmarks, not tests): seconds per image and GFLOP/s of a full-size "
     "generator with the reference and the fast ops, peak memory, GUI frame rate and latency, video export and "
     "training throughput.",
     ["sg-explorer bench --arch stylegan3-t --res 256", "sg-explorer bench --memory --arch stylegan3-t --res 1024"]),
]


@contextlib.contextmanager
def _columns(width: int):
    """argparse wraps to the terminal width it reads from $COLUMNS: pin it while formatting."""
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old


def help_texts() -> dict[str, str]:
    """'' -> `sg-explorer --help`, and command name -> `sg-explorer <name> --help`, exactly as printed."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from explorer import cli
    with _columns(COLUMNS):
        texts = {"": cli.usage_text()}
        for name in cli.COMMANDS:
            texts[name] = cli.build_parser(name).format_help()
    return texts


def python_tag() -> str:
    """argparse's layout differs between Python versions (3.13 changed it): the block records which one wrote it."""
    return f"Python {sys.version_info[0]}.{sys.version_info[1]}"


def render() -> str:
    """The usage block's Markdown (without the marker lines)."""
    texts = help_texts()
    missing = set(texts) - {""} - {name for name, *_ in SECTIONS}
    if missing:
        raise SystemExit(f"readme_usage.py: add a section for the new command(s) {', '.join(sorted(missing))}")
    out = [f"<!-- written by scripts/readme_usage.py from each command's --help (COLUMNS={COLUMNS}, "
           f"{python_tag()}); do not edit here: change the command, then run the script -->",
           "", "```text", "$ sg-explorer --help", texts[""].rstrip("\n"), "```"]
    for name, title, text, examples in SECTIONS:
        if name not in texts:
            continue  # a command that was removed
        out += ["", f"### `{title}`", "", text, "", "```sh", *examples, "```", "",
                "```text", f"$ sg-explorer {name} --help", texts[name].rstrip("\n"), "```"]
    return "\n".join(out) + "\n"


def replace_block(readme: str, block: str) -> str:
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise SystemExit(f"readme_usage.py: README.md needs exactly one {BEGIN} ... {END} pair")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{block}{END}{tail}"


def current_block(readme: str) -> str:
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].removeprefix("\n")


def write_atomic(path: pathlib.Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether README.md is up to date")
    parser.add_argument("--readme", type=pathlib.Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    readme = args.readme.read_text(encoding="utf-8")
    updated = replace_block(readme, render())
    if args.check:
        if updated != readme:
            print(f"{args.readme}: the usage section is out of date; run python scripts/readme_usage.py",
                  file=sys.stderr)
            return 1
        return 0
    if updated != readme:
        write_atomic(args.readme, updated)
        print(f"{args.readme}: usage section rewritten")
    else:
        print(f"{args.readme}: usage section already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
