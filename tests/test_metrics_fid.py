"""FID, KID, precision/recall, the FID Inception and feature extraction (networks.metrics).

References are written here from the definitions: FID with the trace of the square root taken through the
eigenvalues of the symmetric S1^1/2 S2 S1^1/2 (not the code's sqrtm of S1 S2), covariances by explicit sums;
KID as the unbiased MMD^2 by explicit loops; precision/recall by explicit nearest-neighbour loops; the
Inception against pytorch-fid's own network (tests/data/metrics, made by make_reference.py).
"""
import importlib.util
import io
import pathlib
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from networks.metrics import MetricError, features as feat
from networks.metrics.fid import fid
from networks.metrics.inception import FIDInception, load_inception, load_state
from networks.metrics.kid import kid
from networks.metrics.precision_recall import precision_recall

DATA = pathlib.Path(__file__).parent / "data" / "metrics"


def tiny_net(dim: int = 12, seed: int = 0) -> torch.nn.Module:
    """A small random conv net standing in for the Inception: [N, 3, H, W] -> [N, dim]."""
    g = torch.Generator().manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, dim, 3, stride=2), torch.nn.Tanh(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net.eval()


def random_features(n: int, dim: int = 12, shift: float = 0.0, seed: int = 0) -> np.ndarray:
    """Features of a small random network on random inputs (a non-Gaussian, correlated distribution)."""
    x = torch.from_numpy(np.random.RandomState(seed).rand(n, 3, 9, 9).astype(np.float32)) * 2 - 1 + shift
    with torch.no_grad():
        return tiny_net()(x).double().numpy()


# ------------------------------------------------------------------------------------------ FID
def reference_fid(a: np.ndarray, b: np.ndarray) -> float:
    def stats(f):
        mu = f.sum(axis=0) / len(f)
        cov = sum(np.outer(x - mu, x - mu) for x in f) / len(f)   # NVIDIA's: divided by N
        return mu, cov
    mu1, s1 = stats(a)
    mu2, s2 = stats(b)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(root1 @ s2 @ root1)   # same spectrum as S1 S2, symmetric
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(lam, 0, None)).sum())


def test_fid_matches_the_eigenvalue_reference():
    a, b = random_features(300, seed=1), random_features(200, shift=0.3, seed=2)
    want = reference_fid(a, b)
    assert want > 0.01
    # float64: error of order eps * cond * trace; 1e-9 relative is loose for 12-d covariances
    assert fid(a, b) == pytest.approx(want, rel=1e-9, abs=1e-12 * np.trace(np.cov(a.T)))


def test_fid_of_a_set_against_itself_is_zero():
    a = random_features(250, seed=3)
    scale = float(np.trace(np.cov(a.T)))
    assert abs(fid(a, a)) < 1e-10 * scale   # sqrtm(S S) = S up to float64 rounding


# ------------------------------------------------------------------------------------------ KID
def reference_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, by explicit loops."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (float(a @ b) / d + 1) ** 3
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_unbiased_mmd_when_a_subset_is_the_whole_set():
    x, y = random_features(40, seed=4), random_features(40, shift=0.4, seed=5)
    want = reference_mmd2(x, y)
    # each subset is then a permutation of the set, and the estimator does not depend on order
    assert kid(x, y, num_subsets=3, max_subset_size=1000) == pytest.approx(want, rel=1e-9)


def test_kid_subsets_average_unbiased_mmd_of_subsets():
    x, y = random_features(30, seed=6), random_features(50, shift=0.2, seed=7)
    rnd = np.random.RandomState(0)   # the documented draw: gen subset then real subset, without replacement
    want = np.mean([reference_mmd2(x[rnd.choice(30, 10, replace=False)], y[rnd.choice(50, 10, replace=False)])
                    for _ in range(4)])
    assert kid(x, y, num_subsets=4, max_subset_size=10, seed=0) == pytest.approx(want, rel=1e-9)


def test_kid_of_two_samples_of_one_distribution_is_zero_in_expectation():
    values = [kid(random_features(60, seed=10 + i), random_features(60, seed=50 + i), num_subsets=5)
              for i in range(12)]
    shifted = kid(random_features(60, seed=99), random_features(60, shift=0.5, seed=98), num_subsets=5)
    mean, se = np.mean(values), np.std(values, ddof=1) / np.sqrt(len(values))
    assert abs(mean) < 4 * se
    assert shifted > mean + 10 * np.std(values)


# ------------------------------------------------------------------------------------------ precision / recall
def reference_pr(real: np.ndarray, gen: np.ndarray, k: int = 3) -> tuple:
    def covered(manifold, probes):
        radii = [sorted(np.linalg.norm(manifold - p, axis=1))[k] for p in manifold]   # [0] is the point itself
        return np.mean([any(np.linalg.norm(q - manifold[j]) <= radii[j] for j in range(len(manifold)))
                        for q in probes])
    return covered(real, gen), covered(gen, real)


def test_precision_recall_match_the_nearest_neighbour_reference():
    real, gen = random_features(40, seed=20), random_features(30, shift=0.3, seed=21)
    p, r = precision_recall(real, gen, rows=7)
    wp, wr = reference_pr(real, gen)
    assert 0 < wp < 1 and 0 < wr <= 1
    assert (p, r) == pytest.approx((wp, wr), abs=1e-12)


# ------------------------------------------------------------------------------------------ Inception
def _reference():
    spec = importlib.util.spec_from_file_location("make_reference", DATA / "make_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, np.load(DATA / "inception_reference.npz")


def test_inception_gives_pytorch_fid_features_with_the_same_weights():
    make, ref = _reference()
    shapes = {str(n): tuple(int(v) for v in s.split(",")) for n, s in zip(ref["names"], ref["shapes"])}
    net = FIDInception()
    own = {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert own == shapes   # pytorch-fid's weight names and shapes, so its .pth file loads strictly
    state = {k: torch.from_numpy(v) for k, v in make.seeded_state(shapes).items()}
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        for i in range(2):
            img = torch.from_numpy(ref[f"image{i}"]).permute(2, 0, 1)[None].float() / 127.5 - 1
            got, want = net(img)[0].numpy(), ref["features"][i]
            # float32 through ~50 layers: a few ulps of the largest feature (measured 3e-7 relative)
            np.testing.assert_allclose(got, want, rtol=0, atol=4e-6 * np.abs(want).max())


def test_load_inception_refuses_other_files(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_inception(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a plain state-dict file"):
        load_inception(tmp_path / "junk.pth")
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not the pt_inception"):
        load_inception(tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"fc.weight is \[3\], expected \[1008, 2048\]"):
        state = dict(FIDInception().state_dict(), **{"fc.weight": torch.zeros(3)})
        load_state(FIDInception(), state)


# ------------------------------------------------------------------------------------------ features
def write_images(path: pathlib.Path, images, as_zip: bool) -> pathlib.Path:
    blobs = {}
    for i, im in enumerate(images):
        b = io.BytesIO()
        Image.fromarray(im).save(b, "PNG")
        blobs[f"sub/img{i:03d}.png"] = b.getvalue()
    if as_zip:
        with zipfile.ZipFile(path, "w") as z:
            for name, blob in blobs.items():
                z.writestr(name, blob)
    else:
        for name, blob in blobs.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(blob)
    return path


def random_images(n: int, seed: int, size: int = 16, grey: bool = False):
    rnd = np.random.RandomState(seed)
    return [rnd.randint(0, 256, (size, size) if grey else (size, size, 3)).astype(np.uint8) for _ in range(n)]


def test_image_set_features_are_the_network_on_the_decoded_images_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("SG_EXPLORER_CACHE", str(tmp_path / "cache"))
    images = random_images(5, seed=1) + random_images(2, seed=2, grey=True)
    path = write_images(tmp_path / "set.zip", images, as_zip=True)
    fnet = feat.FeatureNet(net=tiny_net(), digest="tiny", dim=12)
    got = feat.image_set_features(str(path), fnet, batch=3, progress=False)
    rgb = [np.repeat(im[:, :, None], 3, axis=2) if im.ndim == 2 else im for im in images]   # grey -> 3 channels
    x = torch.from_numpy(np.stack(rgb)).permute(0, 3, 1, 2).double() / 127.5 - 1
    with torch.no_grad():
        want = tiny_net().double()(x).numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)

    def no_decoding(self, i):
        raise AssertionError("an image was decoded")
    monkeypatch.setattr(feat.ImageSet, "read", no_decoding)
    np.testing.assert_array_equal(feat.image_set_features(str(path), fnet, progress=False), got)
    other = feat.FeatureNet(net=tiny_net(seed=1), digest="tiny-other", dim=12)
    with pytest.raises(AssertionError, match="decoded"):   # another network: another cache entry
        feat.image_set_features(str(path), other, progress=False)


def test_folder_content_hash_follows_names_and_bytes(tmp_path):
    a = write_images(tmp_path / "a", random_images(3, seed=3), as_zip=False)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    h = feat.ImageSet(str(a)).content_hash()
    assert len(feat.ImageSet(str(a))) == 3
    (tmp_path / "a" / "notes.txt").write_text("changed")
    assert feat.ImageSet(str(a)).content_hash() == h
    (a / "sub" / "img000.png").rename(a / "sub" / "img999.png")
    assert feat.ImageSet(str(a)).content_hash() != h


def test_image_set_errors_are_one_line(tmp_path):
    with pytest.raises(MetricError, match="no such file or folder"):
        feat.ImageSet(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MetricError, match="no images found"):
        feat.ImageSet(str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    with pytest.raises(MetricError, match=r"cannot read x.png"):
        feat.ImageSet(str(bad)).read(0)


Z_SEEN = []


class _ConstantG(torch.nn.Module):
    """A stand-in generator: every image is the given [3, H, W] tensor (records the z it was given)."""

    def __init__(self, img):
        super().__init__()
        self.img, self.z_dim, self.c_dim = img, 5, 0

    def forward(self, z, c, truncation_psi=1, noise_mode="const"):
        assert truncation_psi == 1 and noise_mode == "random"   # NVIDIA's metric G_kwargs: the defaults
        Z_SEEN.append(z.clone())
        return self.img[None].repeat(len(z), 1, 1, 1)


def test_generated_images_are_quantised_like_nvidias_and_z_is_torch_seeded():
    Z_SEEN.clear()
    img = torch.linspace(-1.2, 1.2, 3 * 4 * 4).reshape(3, 4, 4)
    fnet = feat.FeatureNet(net=lambda x: x.flatten(1), digest="identity", dim=48)
    G = _ConstantG(img)
    out = feat.generator_features(G, fnet, num=6, seed=3, batch=4, batch_gen=2, progress=False)
    assert out.shape == (6, 48)
    want = (np.clip(np.floor(img.numpy().astype(np.float64) * 127.5 + 128), 0, 255) / 127.5 - 1).ravel()
    np.testing.assert_allclose(out[0], want, rtol=0, atol=1e-6)
    torch.manual_seed(3)   # NVIDIA's stream: torch.randn([batch_gen, z_dim]) repeatedly after the seed
    want_z = torch.cat([torch.randn(2, 5) for _ in range(3)])
    np.testing.assert_array_equal(torch.cat(Z_SEEN).numpy(), want_z.numpy())


def test_conditional_generators_get_labels_drawn_from_the_data_set(tmp_path):
    import json
    path = write_images(tmp_path / "lab.zip", random_images(4, seed=5), as_zip=True)
    with zipfile.ZipFile(path, "a") as z:   # every image is class 2 of 3
        z.writestr("dataset.json", json.dumps({"labels": [[f"sub/img{i:03d}.png", 2] for i in range(4)]}))
    sampler = feat.LabelSampler(str(path), 3, seed=0)
    np.testing.assert_array_equal(sampler(5).numpy(), np.tile([0, 0, 1], (5, 1)))
    with pytest.raises(MetricError, match="c_dim is 4"):
        feat.LabelSampler(str(path), 4, seed=0)
    with pytest.raises(MetricError, match="--data gives its labels"):
        feat.LabelSampler(None, 3, seed=0)
