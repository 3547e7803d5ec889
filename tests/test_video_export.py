"""How an export runs: batched generation, an encoder thread working while the next batch is generated, the file
appearing only when complete, cancel / interrupt leaving nothing, bad input failing before any file."""
import threading
from pathlib import Path

import pytest
import torch

import explorer.video.export as export_mod
from explorer.errors import UserError
from explorer.video import ExportCancelled, VideoSpec, export_video
from test_video_helpers import SG2, SG3, cache, decode, leftovers  # noqa: F401


def test_frames_are_generated_in_batches(tmp_path, cache):
    G = cache.get(SG2)
    sizes = []
    handle = G.synthesis.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
    try:
        export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "a/"), seeds=[1, 2], w_frames=5, batch=4),
                     cache=cache)
        first = list(sizes)
        sizes.clear()
        export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "b/"), seeds=[1, 2, 3, 4], grid=(2, 1),
                               w_frames=5, batch=4), cache=cache)
    finally:
        handle.remove()
    assert first == [4, 4, 2]          # 10 frames, 4 per synthesis call
    assert sizes == [8, 8, 4]          # and every grid cell of those frames in the same call


def test_encoding_runs_while_the_next_batch_is_generated(tmp_path, cache, monkeypatch):
    """The encoder holds the first frame until generation has finished the second batch: with encoding on the
    generating thread this would wait forever (here: time out and fail)."""
    second_batch_done = threading.Event()
    seen = {}
    real_writer, real_open = export_mod.make_writer, export_mod.open_frames

    class HoldingWriter:
        def __init__(self, inner):
            self.inner = inner

        def write(self, frame):
            if "held" not in seen:
                seen["held"] = second_batch_done.wait(timeout=30)
                seen["thread"] = threading.current_thread().name
            self.inner.write(frame)

        def close(self):
            self.inner.close()

        def abort(self):
            self.inner.abort()

    def open_frames(*a, **kw):
        source = real_open(*a, **kw)
        batches = source.batches

        def counted():
            for i, b in enumerate(batches()):
                yield b
                if i == 1:
                    second_batch_done.set()
        source.batches = counted
        return source

    monkeypatch.setattr(export_mod, "make_writer", lambda *a, **kw: HoldingWriter(real_writer(*a, **kw)))
    monkeypatch.setattr(export_mod, "open_frames", open_frames)
    out = export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "c.mp4"), seeds=[1, 2], w_frames=6, batch=2),
                       cache=cache)
    assert seen == {"held": True, "thread": "video-encoder"}
    assert decode(out).shape[0] == 12


@pytest.mark.parametrize("name", ["v.mp4", "frames/"])
def test_the_output_appears_only_when_complete(tmp_path, cache, name):
    final = tmp_path / name.rstrip("/")
    during = []

    def progress(done, total):
        during.append((final.exists(), len(leftovers(tmp_path))))

    export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / name), seeds=[1, 2], w_frames=3),
                 progress=progress, cache=cache)
    assert len(during) == 6 and set(during) == {(False, 1)}  # a hidden temporary, never the final name
    assert final.exists() and leftovers(tmp_path) == []


def test_cancel_leaves_no_output(tmp_path, cache):
    cancel = threading.Event()
    seen = []

    def progress(done, total):
        seen.append(threading.current_thread() is threading.main_thread())
        if done >= 3:
            cancel.set()

    for out in (tmp_path / "c.mp4", tmp_path / "c.webm", tmp_path / "c.gif", tmp_path / "frames/"):
        cancel.clear()
        with pytest.raises(ExportCancelled):
            export_video(VideoSpec(checkpoint=SG2, output=str(out), seeds=list(range(4)), w_frames=30, batch=2),
                         progress=progress, cancel=cancel, cache=cache)
    assert list(tmp_path.iterdir()) == []
    assert seen and not any(seen)  # frames were encoded off the generating thread


def test_interrupt_and_encoder_errors_leave_no_output(tmp_path, cache):
    def interrupt(done, total):
        if done == 2:
            raise KeyboardInterrupt

    for out in (tmp_path / "i.gif", tmp_path / "frames/", tmp_path / "i.mp4"):
        with pytest.raises(KeyboardInterrupt):
            export_video(VideoSpec(checkpoint=SG2, output=str(out), seeds=[1, 2], w_frames=10, batch=2),
                         progress=interrupt, cache=cache)

    def disk_full(done, total):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        export_video(VideoSpec(checkpoint=SG2, output=str(tmp_path / "f.mp4"), seeds=[1, 2], w_frames=10, batch=2),
                     progress=disk_full, cache=cache)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_is_replaced_whole(tmp_path, cache):
    out = tmp_path / "v.gif"
    out.write_bytes(b"old video")
    cancel = threading.Event()
    with pytest.raises(ExportCancelled):
        export_video(VideoSpec(checkpoint=SG2, output=str(out), seeds=[1, 2], w_frames=10, batch=2),
                     progress=lambda d, t: cancel.set(), cancel=cancel, cache=cache)
    assert out.read_bytes() == b"old video"   # a cancelled export does not touch it
    export_video(VideoSpec(checkpoint=SG2, output=str(out), seeds=[1, 2], w_frames=2), cache=cache)
    assert decode(out).shape == (4, 32, 32, 3)


def test_bad_input_fails_before_any_file(tmp_path, cache):
    def bad(match, **kw):
        spec = {"checkpoint": SG2, "output": str(tmp_path / "x.mp4"), "seeds": [1, 2], **kw}
        with pytest.raises(UserError, match=match):
            export_video(VideoSpec(**spec), cache=cache)

    bad("unknown layer", layer="no_such_layer")
    bad("StyleGAN3", translate_anim=(0.1, 2.0))
    bad("unconditional", class_idx=1)
    bad("out of range", checkpoint=SG3, class_idx=7)
    bad("does not exist", output=str(tmp_path / "missing" / "x.mp4"))
    bad("not writable", output="/proc/x.mp4")
    bad("not writable", output="/sys/x.webm")
    bad("unknown output format", output=str(tmp_path / "x.avi"))
    bad("divide evenly", grid=(3, 1))
    bad("slerp", kind="slerp", space="w")
    bad("not both", crf=20, bitrate="4M")
    bad("between 0 and 51", crf=52)
    bad("bad --bitrate", bitrate="fast")
    bad("bad --bitrate", bitrate="0k")
    bad("apply to .mp4/.webm", crf=20, output=str(tmp_path / "x.gif"))
    bad("--fps", fps=0.0)
    bad("--w-frames", w_frames=0)
    bad("--num-keyframes", num_keyframes=0)
    bad("--size", size=(0, 32))
    bad("period", translate_anim=(0.1, 0.0), checkpoint=SG3)
    bad("no checkpoint", checkpoint="")
    if not torch.cuda.is_available():
        bad("CUDA is not available", device="cuda")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("user data")
    bad("not empty", output=str(tmp_path / "full/"))
    (tmp_path / "dir.mp4").mkdir()
    bad("is a folder", output=str(tmp_path / "dir.mp4"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.mp4", "full"]
    assert (tmp_path / "full" / "keep.txt").read_text() == "user data"
    # webm's VP9 scale goes to 63.
    VideoSpec(checkpoint=SG2, output=str(tmp_path / "x.webm"), crf=60).validate()
