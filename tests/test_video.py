"""Seed-walk videos decoded back: formats, frame counts (gen_video.py's rules), grids, interpolation kinds and
spaces, loop continuity, truncation / class / noise, and re-running an export from its command line."""
import json
import os
import shlex
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
import torch

from explorer.cli import main
from explorer.engine import RenderState, render
from explorer.engine.latents import seed_to_z, slerp
from explorer.engine.renderer import map_seeds, truncate
from explorer.errors import UserError
from explorer.video import VideoSpec, export_video, sidecar_paths
from networks.files import current_umask
from explorer.video.frames import seed_layout
from test_video_helpers import SG2, SG3, assert_close_image, cache, decode, leftovers, mean_diff  # noqa: F401


def _luma(x):
    x = np.asarray(x, np.float64)
    return x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114


def _w(G, seeds, psi=1.0, cutoff=None, class_idx=None) -> np.ndarray:
    """Truncated ws [len(seeds), num_ws, w_dim] as float32 numpy."""
    with torch.no_grad():
        return truncate(G, map_seeds(G, list(seeds), class_idx), psi, cutoff).numpy()


def _render_w(G, w, **kw) -> np.ndarray:
    return render(G, RenderState(w=np.asarray(w, np.float32).tolist(), **kw)).image


@pytest.fixture(scope="module")
def reference_walk(tmp_path_factory, cache):
    """The lossless PNG-folder export that the encoded formats are compared with: 3 seeds, no loop, linear, so
    every frame differs from every other."""
    out = tmp_path_factory.mktemp("ref") / "frames/"
    return decode(export_video(VideoSpec(checkpoint=SG2, output=str(out), seeds=[0, 1, 2], w_frames=3, loop=False,
                                         kind="linear"), cache=cache))


@pytest.mark.parametrize("ext,codec", [(".mp4", "h264"), (".webm", "vp9"), (".gif", None)])
def test_encoded_formats_decode_to_the_right_frames(tmp_path, cache, reference_walk, ext, codec):
    out = str(tmp_path / "walk") + ext
    spec = VideoSpec(checkpoint=SG2, output=out, seeds=[0, 1, 2], w_frames=3, loop=False, kind="linear", fps=15)
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape == reference_walk.shape == (7, 32, 32, 3)
    # Every decoded frame is nearest to its own lossless frame (order and content kept through the codec).
    d = np.array([[mean_diff(_luma(f), _luma(r)) for r in reference_walk] for f in frames])
    assert d.argmin(axis=1).tolist() == list(range(7)), d.round(1)
    assert np.diag(d).max() < 12, np.diag(d)
    if codec:
        reader = imageio_ffmpeg.read_frames(out)
        meta = next(reader)
        reader.close()
        assert meta["codec"] == codec and meta["fps"] == 15 and meta["size"] == (32, 32)
    else:
        meta = iio.immeta(out)
        assert meta["duration"] == 70 and "loop" not in meta  # 1/15 s in GIF's 10 ms steps; --no-loop plays once
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".gif", "/"])
def test_every_format_counts_keyframes_times_w_frames(tmp_path, cache, ext):
    out = str(tmp_path / "walk") + ext
    spec = VideoSpec(checkpoint=SG2, output=out, seeds=list(range(8)), grid=(2, 2), w_frames=5, kind="linear")
    path = export_video(spec, cache=cache)
    frames = decode(path)
    assert frames.shape == (2 * 5, 64, 64, 3)  # 8 seeds / 4 cells = 2 keyframes, x 5 frames, loop
    # Exports are made to be shared: the umask's permissions, not mkstemp's owner-only 0600.
    mode = 0o777 if ext == "/" else 0o666
    assert os.stat(path).st_mode & 0o777 == mode & ~current_umask()
    recipe, command = sidecar_paths(out)
    doc = json.loads(recipe.read_text())
    assert doc["frames"] == 10 and doc["size"] == [64, 64] and doc["video"]["seeds"] == list(range(8))
    assert command.read_text().startswith("sg-explorer video ")
    assert leftovers(tmp_path) == []


def test_grid_cells_walk_their_own_share_of_the_seeds(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=list(range(10, 18)), grid=(2, 2), w_frames=3,
                     kind="linear")
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape == (6, 64, 64, 3)
    # Cell j (row-major) walks seeds 10 + 2j, 11 + 2j; keyframe 1 is at frame 3.
    for j, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        cell = (slice(32 * r, 32 * r + 32), slice(32 * c, 32 * c + 32))
        assert_close_image(frames[0][cell], render(G, RenderState(x=10 + 2 * j)).image)
        assert_close_image(frames[3][cell], render(G, RenderState(x=11 + 2 * j)).image)


def test_seeds_must_divide_among_cells_unless_num_keyframes(tmp_path, cache):
    with pytest.raises(UserError, match="divide evenly"):
        VideoSpec(checkpoint=SG2, output=str(tmp_path / "x.mp4"), seeds=[3, 4, 5], grid=(2, 1)).validate()
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[3, 4, 5], grid=(2, 1), num_keyframes=2,
                     w_frames=2, kind="linear")
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape == (2 * 2, 32, 64, 3)
    # Seeds repeat to fill 2 cells x 2 keyframes: cells walk [3, 4] and [5, 3].
    assert_close_image(frames[0][:, :32], render(G, RenderState(x=3)).image)
    assert_close_image(frames[0][:, 32:], render(G, RenderState(x=5)).image)
    assert_close_image(frames[2][:, :32], render(G, RenderState(x=4)).image)
    assert_close_image(frames[2][:, 32:], render(G, RenderState(x=3)).image)


def test_seed_layout_matches_gen_video_rules():
    lay = seed_layout([0, 1, 2, 3, 4, 5, 6, 7], cells=4, keyframes=2, shuffle_seed=None)
    assert lay.tolist() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert seed_layout([0, 1, 2], cells=2, keyframes=3, shuffle_seed=None).tolist() == [[0, 1, 2], [0, 1, 2]]
    shuffled = seed_layout(list(range(8)), 4, 2, shuffle_seed=1)
    expected = np.arange(8)
    np.random.RandomState(1).shuffle(expected)  # gen_video.py shuffles the repeated seed list with this RNG
    assert shuffled.reshape(-1).tolist() == expected.tolist() != list(range(8))


def test_no_loop_count_and_size_option(tmp_path, cache):
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[1, 2, 3], w_frames=4, loop=False,
                     size=(48, 40), kind="linear")
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape == ((3 - 1) * 4 + 1, 40, 48, 3)


def test_linear_walk_passes_through_the_seed_images_of_sg_explorer_images(tmp_path):
    assert main(["images", SG2, "--seeds", "7,8", "--trunc", "0.8", "--outdir", str(tmp_path / "img")]) == 0
    assert main(["video", SG2, "--seeds", "7,8", "--w-frames", "3", "--kind", "linear", "--trunc", "0.8",
                 "--output", str(tmp_path / "frames/")]) == 0
    frames = decode(tmp_path / "frames")
    assert frames.shape[0] == 6
    assert_close_image(frames[0], iio.imread(tmp_path / "img" / "seed0007.png"))
    assert_close_image(frames[3], iio.imread(tmp_path / "img" / "seed0008.png"))
    assert mean_diff(frames[1], frames[0]) > 1


def test_loop_last_frame_leads_into_the_first(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[1, 2, 3], w_frames=4, kind="linear",
                     trunc_psi=0.9)
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape[0] == 12
    w = _w(G, [3, 1], 0.9)
    # Frame 11 is three quarters of the way from the last seed back to the first: one step before frame 0.
    assert_close_image(frames[11], _render_w(G, w[0] + (w[1] - w[0]) * np.float32(0.75)))
    steps = [mean_diff(frames[i], frames[(i + 1) % 12]) for i in range(12)]
    assert steps[11] <= 2 * max(steps[8:11]) and steps[11] > 0


def _kinks(frames: np.ndarray) -> np.ndarray:
    """Mean |second difference| at every frame (cyclic): small on a smooth path, large at a corner."""
    f = frames.astype(np.float64)
    return np.abs(np.roll(f, -1, axis=0) + np.roll(f, 1, axis=0) - 2 * f).mean(axis=(1, 2, 3))


def test_cubic_goes_through_the_ws_without_corners_and_loops_smoothly(tmp_path, cache):
    G = cache.get(SG2)
    base = dict(checkpoint=SG2, seeds=[1, 2, 3], w_frames=12)
    cubic = decode(export_video(VideoSpec(output=str(tmp_path / "a/"), kind="cubic", **base), cache=cache))
    boundaries = [0, 12, 24]  # frame 0 is also where the loop wraps from the last frame
    for i, seed in zip(boundaries, [1, 2, 3]):
        assert_close_image(cubic[i], render(G, RenderState(x=seed)).image)
    k = _kinks(cubic)
    # A C1 path through the keyframes bends no more at a seed than between seeds, the wrap included.
    assert k[boundaries].max() <= 1.5 * np.median(k), (k[boundaries], np.median(k))
    steps = np.array([mean_diff(cubic[i], cubic[(i + 1) % 36]) for i in range(36)])
    assert steps.max() <= 8 * np.median(steps)
    # Linear interpolation turns a corner at every seed: the same measure sees it, so the check can fail.
    linear = decode(export_video(VideoSpec(output=str(tmp_path / "b/"), kind="linear", **base), cache=cache))
    kl = _kinks(linear)
    assert kl[boundaries].min() > 2 * np.median(kl), (kl[boundaries], np.median(kl))
    # Without loop the last frame is the last keyframe, not a step before the first: a jump back to frame 0.
    open_ = decode(export_video(VideoSpec(output=str(tmp_path / "c/"), loop=False, kind="cubic", **base),
                                cache=cache))
    assert open_.shape[0] == 25
    assert_close_image(open_[-1], render(G, RenderState(x=3)).image)
    osteps = [mean_diff(open_[i], open_[(i + 1) % 25]) for i in range(25)]
    assert osteps[-1] > 4 * np.median(osteps[:-1])


def test_slerp_walks_the_great_circle_in_z(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[3, 4], w_frames=4, kind="slerp")
    frames = decode(export_video(spec, cache=cache))
    assert frames.shape[0] == 8 and spec.latent_space == "z"
    assert_close_image(frames[0], render(G, RenderState(x=3)).image, levels=2, fraction=0.02)
    z = slerp(seed_to_z(3, G.z_dim), seed_to_z(4, G.z_dim), 0.5)
    with torch.no_grad():
        w = G.mapping(torch.from_numpy(z[None]), torch.zeros([1, 0]))[0]
    assert_close_image(frames[2], _render_w(G, w))
    # Halfway in w is another image: the space matters.
    w34 = _w(G, [3, 4])
    assert mean_diff(frames[2], _render_w(G, (w34[0] + w34[1]) / 2)) > 2


def test_space_z_interpolates_before_the_mapping(tmp_path, cache):
    G = cache.get(SG2)
    spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / "f/"), seeds=[3, 4], w_frames=2, kind="linear",
                     space="z", trunc_psi=0.5)
    frames = decode(export_video(spec, cache=cache))
    z = (seed_to_z(3, G.z_dim) + seed_to_z(4, G.z_dim)) / 2
    with torch.no_grad():
        w = G.mapping(torch.from_numpy(z[None]), torch.zeros([1, 0]), truncation_psi=0.5)[0]
    assert_close_image(frames[1], _render_w(G, w))
    with pytest.raises(UserError, match="slerp"):
        VideoSpec(checkpoint=SG2, output=str(tmp_path / "x.mp4"), kind="slerp", space="w").validate()


def test_truncation_cutoff_and_class(tmp_path, cache):
    G = cache.get(SG3)
    spec = VideoSpec(checkpoint=SG3, output=str(tmp_path / "f/"), seeds=[6, 7], w_frames=2, kind="linear",
                     trunc_psi=0.5, trunc_cutoff=4, class_idx=2)
    frames = decode(export_video(spec, cache=cache))
    want = render(G, RenderState(x=6, trunc_psi=0.5, trunc_cutoff=4, class_idx=2)).image
    assert_close_image(frames[0], want)
    assert mean_diff(want, render(G, RenderState(x=6, trunc_psi=0.5, trunc_cutoff=4, class_idx=0)).image) > 1
    assert mean_diff(want, render(G, RenderState(x=6, trunc_psi=0.5, class_idx=2)).image) > 0.5


def test_noise_modes(tmp_path, cache):
    G = cache.get(SG2)
    none = decode(export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "n/"), seeds=[5], w_frames=2,
                                         noise_mode="none"), cache=cache))
    assert_close_image(none[0], render(G, RenderState(x=5, noise_mode="none")).image)
    assert mean_diff(none[0], render(G, RenderState(x=5)).image) > 0.5
    # Random noise: frame k draws from noise_seed + k, so the video does not depend on --batch.
    spec = dict(checkpoint=SG2, seeds=[5], w_frames=3, noise_mode="random", noise_seed=40)
    a = decode(export_video(VideoSpec(output=str(tmp_path / "a/"), batch=3, **spec), cache=cache))
    b = decode(export_video(VideoSpec(output=str(tmp_path / "b/"), batch=1, **spec), cache=cache))
    np.testing.assert_array_equal(a, b)
    for k in range(3):
        assert_close_image(a[k], render(G, RenderState(x=5, noise_mode="random", noise_seed=40 + k)).image)
    assert mean_diff(a[0], a[1]) > 0.5


def _rerun(command: str, output: str) -> int:
    argv = shlex.split(command)
    assert argv[:2] == ["sg-explorer", "video"]
    argv = argv[1:]
    argv[argv.index("--output") + 1] = output
    return main(argv)


def test_the_command_line_beside_an_export_re_runs_it(tmp_path, cache):
    out = tmp_path / "first/"
    spec = VideoSpec(checkpoint=SG3, output=str(out), seeds=[2, 5, 9, 11], grid=(2, 1), w_frames=3, kind="cubic",
                     shuffle_seed=3, trunc_psi=0.123456789, class_idx=1, translate_anim=(0.0625, 1.5),
                     rotate_anim=12.5, fps=8, size=(48, 24), batch=2)
    export_video(spec, cache=cache)
    command = sidecar_paths(str(out))[1].read_text().strip()
    assert "--trunc 0.123456789" in command and "--translate-anim 0.0625,1.5" in command
    assert _rerun(command, str(tmp_path / "again/")) == 0
    first, again = decode(out), decode(tmp_path / "again")
    assert first.shape == (6, 24, 48, 3)
    np.testing.assert_array_equal(first, again)
    doc = json.loads(sidecar_paths(str(out))[0].read_text())
    assert VideoSpec.from_dict(doc["video"]) == spec


def test_crf_and_bitrate_reach_the_encoder(tmp_path, cache):
    def size(name, **kw):
        spec = VideoSpec(checkpoint=SG2, output=str(tmp_path / name), seeds=[1, 2], w_frames=8, **kw)
        path = export_video(spec, cache=cache)
        assert decode(path).shape == (16, 32, 32, 3)
        return path.stat().st_size

    assert size("fine.mp4", crf=5) > 1.5 * size("coarse.mp4", crf=45)
    assert size("high.webm", bitrate="2M") > 1.5 * size("low.webm", bitrate="20k")
