"""`sg-explorer dataset` and the training-set loader (networks.training.dataset)."""
import io
import json
import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import cli
from explorer.commands import dataset as ds_cmd
from explorer.errors import UserError
from networks.training.dataset import DatasetError, DatasetOptions, ImageDataset, InfiniteSampler


def _solid(w, h, rgb, mode="RGB"):
    return Image.new(mode, (w, h), rgb if mode != "L" else rgb[0])


@pytest.fixture
def source(tmp_path):
    """A folder of mixed formats, sizes and modes, one broken file and a label file."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    _solid(40, 20, (255, 0, 0)).save(src / "a.png")                       # wide -> crop/resize
    _solid(16, 16, (0, 255, 0)).save(src / "b.jpg", quality=100)
    _solid(30, 30, (0, 0, 200), "L").save(src / "sub" / "c.bmp")          # grayscale
    Image.new("RGBA", (8, 8), (10, 20, 30, 128)).save(src / "sub" / "d.webp", lossless=True)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (src / "notes.txt").write_text("ignored")
    labels = {"labels": [["a.png", 0], ["b.jpg", 2], ["sub/c.bmp", 1], ["sub/d.webp", 0], ["broken.png", 1]]}
    (src / "dataset.json").write_text(json.dumps(labels))
    return src


def test_cli_builds_zip_skips_broken_and_keeps_labels(source, tmp_path, capsys):
    dest = tmp_path / "out" / "data.zip"
    rc = cli.main(["dataset", "--source", str(source), "--dest", str(dest), "--resolution", "16x16",
                   "--transform", "center-crop"])
    out, err = capsys.readouterr()
    assert rc == 0
    assert "broken.png" in err and "warning" in err
    assert "wrote 4 images" in out and "1 skipped" in out and "3 classes" in out
    with zipfile.ZipFile(dest) as zf:
        names = sorted(zf.namelist())
        assert names == ["00000/img00000000.png", "00000/img00000001.png", "00000/img00000002.png",
                         "00000/img00000003.png", "dataset.json"]
        labels = json.loads(zf.read("dataset.json"))["labels"]
        # Sorted source order: a.png, b.jpg, sub/c.bmp, sub/d.webp (broken.png dropped).
        assert labels == [["00000/img00000000.png", 0], ["00000/img00000001.png", 2],
                          ["00000/img00000002.png", 1], ["00000/img00000003.png", 0]]
        first = np.asarray(Image.open(zf.open("00000/img00000000.png")))
        gray = Image.open(zf.open("00000/img00000002.png"))
        assert gray.mode == "RGB" and gray.size == (16, 16)
    assert first.shape == (16, 16, 3)
    np.testing.assert_array_equal(first[8, 8], [255, 0, 0])
    assert not [f for f in os.listdir(dest.parent) if f.endswith(".tmp")]


def test_center_crop_wide_pads_to_square(tmp_path):
    src = tmp_path / "s"
    src.mkdir()
    _solid(64, 32, (200, 100, 50)).save(src / "x.png")
    dest = tmp_path / "w.zip"
    ds_cmd.build_dataset(ds_cmd.BuildOptions(str(src), str(dest), 16, 8, "center-crop-wide"), progress=False)
    with zipfile.ZipFile(dest) as zf:
        img = np.asarray(Image.open(zf.open("00000/img00000000.png")))
        assert json.loads(zf.read("dataset.json")) == {"labels": None}
    assert img.shape == (16, 16, 3)
    np.testing.assert_array_equal(img[0, 0], [0, 0, 0])       # padding bands above and below
    np.testing.assert_array_equal(img[15, 15], [0, 0, 0])
    np.testing.assert_array_equal(img[8, 8], [200, 100, 50])   # content in the middle band


def test_zip_source_and_errors(tmp_path, capsys):
    zpath = tmp_path / "src.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        buf = __import__("io").BytesIO()
        _solid(8, 8, (1, 2, 3)).save(buf, format="PNG")
        zf.writestr("deep/one.png", buf.getvalue())
    dest = tmp_path / "o.zip"
    assert cli.main(["dataset", "--source", str(zpath), "--dest", str(dest), "--resolution", "8"]) == 0
    assert zipfile.ZipFile(dest).namelist()[0] == "00000/img00000000.png"

    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"garbage")
    keep = tmp_path / "keep.zip"
    keep.write_bytes(b"previous contents")
    capsys.readouterr()
    rc = cli.main(["dataset", "--source", str(bad), "--dest", str(keep), "--resolution", "8x8"])
    err = capsys.readouterr().err
    assert rc == 2 and "no readable images" in err and len(err.strip().splitlines()) == 2  # warning + error
    assert keep.read_bytes() == b"previous contents"          # a failed run never touches the old file
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    for res in ["12x12", "16x8", "abc", "0"]:
        assert cli.main(["dataset", "--source", str(zpath), "--dest", str(dest), "--resolution", res]) == 2
    assert cli.main(["dataset", "--source", str(tmp_path / "nope"), "--dest", str(dest), "--resolution", "8"]) == 2
    with pytest.raises(UserError):
        ds_cmd.parse_resolution("8x8x8")


@pytest.fixture
def built(source, tmp_path):
    dest = tmp_path / "d.zip"
    ds_cmd.build_dataset(ds_cmd.BuildOptions(str(source), str(dest), 16, 16, "center-crop"),
                         warn=lambda m: None, progress=False)
    return dest


def test_loader_zip_labels_xflip(built):
    ds = ImageDataset(DatasetOptions(str(built), use_labels=True, xflip=True))
    assert len(ds) == 8 and ds.raw_size == 4 and ds.resolution == 16 and ds.num_channels == 3
    assert ds.label_dim == 3
    img, lab = ds[1]
    assert img.dtype == torch.uint8 and tuple(img.shape) == (3, 16, 16)
    assert lab.tolist() == [0, 0, 1]
    img0, _ = ds[0]
    mirrored, lab4 = ds[4]
    assert torch.equal(mirrored, torch.flip(img0, dims=[2]))
    assert lab4.tolist() == [1, 0, 0]
    nolab = ImageDataset(DatasetOptions(str(built)))
    assert nolab.label_dim == 0 and nolab[0][1].shape == (0,)
    assert ImageDataset(DatasetOptions(str(built), max_size=2)).raw_size == 2


def test_loader_folder_and_errors(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    arr = np.random.RandomState(0).randint(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(arr).save(folder / "i.png")
    ds = ImageDataset(DatasetOptions(str(folder), resolution=8))
    np.testing.assert_array_equal(ds[0][0].numpy().transpose(1, 2, 0), arr)
    with pytest.raises(DatasetError, match="expected 16x16"):
        ImageDataset(DatasetOptions(str(folder), resolution=16))
    Image.fromarray(arr[:, :6]).save(folder / "j.png")
    ds2 = ImageDataset(DatasetOptions(str(folder)))
    with pytest.raises(DatasetError, match="j.png"):
        ds2[1]
    with pytest.raises(DatasetError, match="not a folder or a zip"):
        ImageDataset(DatasetOptions(str(tmp_path / "missing.zip")))


def _noise_zip(path, count=24, res=8, corrupt=None):
    """Random RGB PNGs (each image distinct); member number `corrupt` holds bytes no decoder reads."""
    rnd = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            buf = io.BytesIO()
            Image.fromarray(rnd.randint(0, 256, (res, res, 3), dtype=np.uint8)).save(buf, format="PNG")
            zf.writestr(f"00000/img{i:08d}.png", b"garbage, not an image" if i == corrupt else buf.getvalue())
    return str(path)


def test_workers_give_the_batches_of_the_main_process(tmp_path):
    """Three forked workers, after the parent itself read the zip (what the trainer's reals grid does):
    every batch equals the in-process one. A shared zip handle fails here with 'Bad magic number'."""
    ds = ImageDataset(DatasetOptions(_noise_zip(tmp_path / "n.zip")))
    ds[0]
    batches = {}
    for workers in (0, 3):
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers,
                                             sampler=InfiniteSampler(len(ds), seed=1))
        it = iter(loader)
        batches[workers] = [next(it)[0] for _ in range(12)]              # each image twice, on average
        del it, loader
    for a, b in zip(batches[0], batches[3]):
        assert torch.equal(a, b)
    assert len({bytes(img.numpy()) for batch in batches[0] for img in batch}) > 12


def test_a_corrupt_member_is_one_line_naming_it(tmp_path, capsys):
    from networks.training.loop import Trainer, TrainingError
    from test_train import TINY_ARGS, tiny_options
    data = _noise_zip(tmp_path / "bad.zip", count=8, res=16, corrupt=5)
    opts = tiny_options(data, tmp_path, workers=2, batch=8)
    t = Trainer(opts, log=lambda m: None)
    with pytest.raises(TrainingError) as e:
        t.step(t._data_iterator())                                       # the worker decodes img5
    assert str(e.value).startswith(f"{data}: cannot read 00000/img00000005.png (cannot identify image file")
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)
    args = list(TINY_ARGS)
    args[args.index("--workers") + 1] = "2"
    args[args.index("--batch") + 1] = "8"
    rc = cli.main(["train", "--cfg", "stylegan2", "--data", data, "--outdir", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "00000/img00000005.png" in err, err


def test_default_workers_fit_the_cores():
    from networks.training.dataset import default_workers
    cores = len(os.sched_getaffinity(0))
    assert default_workers(1) == max(0, min(3, cores - 1))
    assert default_workers(cores) == 0                                   # one core per process: in-process


def test_infinite_sampler_shards_and_resumes():
    take = lambda s, n: [i for _, i in zip(range(n), iter(s))]
    full = take(InfiniteSampler(10, seed=3), 40)
    assert set(full) == set(range(10))
    assert full[:10] != full[10:20]  # the window keeps reshuffling
    r0 = take(InfiniteSampler(10, rank=0, world=2, seed=3), 20)
    r1 = take(InfiniteSampler(10, rank=1, world=2, seed=3), 20)
    assert r0 == full[0::2] and r1 == full[1::2]
    assert take(InfiniteSampler(10, seed=3, start=7), 20) == full[7:27]
    # Contiguous slices of each global batch: 2 ranks x 3 items == one process with batch 6.
    q0 = take(InfiniteSampler(10, rank=0, world=2, seed=3, global_batch=6), 9)
    q1 = take(InfiniteSampler(10, rank=1, world=2, seed=3, global_batch=6), 9)
    assert q0 == full[0:3] + full[6:9] + full[12:15]
    assert q1 == full[3:6] + full[9:12] + full[15:18]
