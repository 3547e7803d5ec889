"""Progressive growing (StyleGAN v1, ProGAN): the schedule against the papers' definition, ProGAN's WGAN-GP
against a direct autograd computation of its formula, a tiny run that grows 8 -> 16 -> 32, exact resume mid-fade."""
import json
import math

import numpy as np
import pytest
import torch

from networks.training import progressive as P
from networks.training.loop import Trainer
from networks.training.loss_wgangp import WGANGPLoss, WGANGPOptions
from networks.training.options import TrainOptions
from test_train import make_zip, tiny_options


# ------------------------------------------------------------------ schedule
def _lod_reference(kimg, final_res, start_res, stable, fade):
    """The papers' schedule drawn as its breakpoints: `stable` kimg at each level, then a linear fade of one
    level over `fade` kimg, from log2(final / start) down to 0 (np.interp between the corners)."""
    levels = int(math.log2(final_res // start_res))
    xs, ys, t = [0.0], [float(levels)], 0.0
    for level in range(levels, 0, -1):
        t += stable
        xs.append(t); ys.append(float(level))
        t += fade
        xs.append(t); ys.append(float(level - 1))
    return float(np.interp(kimg, xs, ys))


def test_lod_follows_the_papers_schedule():
    # Hand-computed: 32 px from 8 px, 1 kimg stable + 1 kimg fade per level.
    table = {0: 2, 0.5: 2, 1.0: 2, 1.25: 1.75, 1.5: 1.5, 2.0: 1, 3.0: 1, 3.5: 0.5, 4.0: 0, 10: 0}
    for kimg, lod in table.items():
        assert P.lod_at(kimg, 32, 8, 1, 1) == pytest.approx(lod, abs=1e-12), kimg
    # ProGAN's defaults at 1024 px: start 4 px, 600 + 600 kimg.
    for kimg, lod in {0: 8, 600: 8, 900: 7.5, 1200: 7, 9000: 1, 9300: 0.5, 9600: 0, 12000: 0}.items():
        assert P.lod_at(kimg, 1024, 4, 600, 600) == pytest.approx(lod, abs=1e-12), kimg
    rnd = np.random.RandomState(0)
    for kimg in rnd.uniform(0, 9000, 200):
        assert P.lod_at(kimg, 256, 8, 600, 300) == pytest.approx(_lod_reference(kimg, 256, 8, 600, 300), abs=1e-9)
        lod = P.lod_at(kimg, 256, 8, 600, 300)
        start = P.kimg_grown(P.ProgressiveOptions(start_res=8, stable_kimg=600, fade_kimg=300), 256, lod)
        assert P.lod_at(start, 256, 8, 600, 300) == pytest.approx(lod, abs=1e-9) and start <= kimg + 1e-9


def test_minibatch_and_learning_rate_tables_are_the_papers():
    sg = TrainOptions(cfg="stylegan", data="d", outdir="o", batch=32, gamma=10).progressive_options()
    assert sg.start_res == 8 and sg.stable_kimg == sg.fade_kimg == 600
    kimg_at = {8: 0, 16: 1200, 32: 2400, 64: 3600}                      # stable phase of each level at 64 px
    got = {r: P.schedule(sg, int(k * 1000), 64, 32, 0.001, 0.001) for r, k in kimg_at.items()}
    assert {r: (s.resolution, s.minibatch) for r, s in got.items()} == {8: (8, 128), 16: (16, 128),
                                                                        32: (32, 64), 64: (64, 32)}
    at128 = P.schedule(sg, 10 ** 9, 128, 16, 0.001, 0.001)
    assert (at128.resolution, at128.minibatch, at128.g_lr, at128.d_lr) == (128, 16, pytest.approx(0.0015),
                                                                           pytest.approx(0.0015))
    pg = TrainOptions(cfg="progan", data="d", outdir="o", batch=4, gamma=10)
    assert (pg.g_lr, pg.dlr, pg.ema_nimg, pg.ema_rampup, pg.cbase) == (0.001, 0.001, 10000, None, 16384)
    pgs = pg.progressive_options()
    assert pgs.start_res == 4
    first, last = P.schedule(pgs, 0, 1024, 4, 0.001, 0.001), P.schedule(pgs, 10 ** 8, 1024, 4, 0.001, 0.001)
    assert (first.resolution, first.minibatch, first.g_lr) == (4, 128, pytest.approx(0.001))
    assert (last.resolution, last.minibatch, last.g_lr) == (1024, 4, pytest.approx(0.0015))
    assert P.schedule(pgs, 10 ** 8, 512, 4, 0.002, 0.001).g_lr == pytest.approx(0.002)   # --glr scales the table


def test_reals_are_box_averaged_faded_and_repeated():
    rnd = np.random.RandomState(1)
    x = rnd.randint(0, 256, (2, 3, 8, 8)).astype(np.uint8)

    def down(a, f):
        n, c, h, w = a.shape
        return a.reshape(n, c, h // f, f, w // f, f).mean(axis=(3, 5))

    def up(a, f):
        return np.kron(a, np.ones((1, 1, f, f)))

    lvl1 = np.rint(down(x.astype(np.float64), 2)) / 127.5 - 1            # the stored 4x4 level, in [-1, 1]
    want = up(lvl1 * 0.75 + up(down(lvl1, 2), 2) * 0.25, 2)             # lod 1.25
    got = P.lod_reals(torch.from_numpy(x), 1.25).double().numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(P.lod_reals(torch.from_numpy(x), 0.0).numpy(), x / 127.5 - 1, atol=1e-6)


# ------------------------------------------------------------------ WGAN-GP
class _TinyG(torch.nn.Module):
    z_dim, c_dim = 4, 0

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2 * 4 * 4)
        self.mapping = lambda z, c, update_emas=False: z[:, None, :]
        self.synthesis = lambda ws, noise_mode="random", update_emas=False: (
            torch.tanh(self.fc(ws[:, 0])).view(-1, 2, 4, 4))


class _TinyD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 3, 3, padding=1)
        self.fc = torch.nn.Linear(3 * 16, 1)

    def forward(self, img, c=None, update_emas=False):
        return self.fc(torch.nn.functional.softplus(self.conv(img)).flatten(1))


@pytest.mark.parametrize("lam,target,eps", [(10.0, 1.0, 0.001), (3.0, 2.0, 0.1)])
def test_wgan_gp_gradients_match_the_papers_formula(lam, target, eps):
    torch.manual_seed(0)                             # float64 throughout: the two sums agree to ~1e-15
    G, D = _TinyG().double(), _TinyD().double()
    real = torch.randn(5, 2, 4, 4, dtype=torch.float64)
    z, c = torch.randn(5, 4, dtype=torch.float64), torch.zeros(5, 0, dtype=torch.float64)
    loss = WGANGPLoss(G, D, opts=WGANGPOptions(wgan_lambda=lam, wgan_target=target, wgan_epsilon=eps))
    torch.manual_seed(7)
    stats = loss.accumulate("Dboth", real, c, z, c, gain=1.0, cur_nimg=0)
    got = [p.grad.clone() for p in D.parameters()]

    torch.manual_seed(7)
    u = torch.rand(5, 1, 1, 1, dtype=torch.float64)  # the loss's first draw: one mixing factor per image
    D.zero_grad()
    fake = G.synthesis(G.mapping(z, c)).detach()
    terms = []
    for i in range(5):                               # per image, straight from the formula
        xh = (real[i:i + 1] + u[i] * (fake[i:i + 1] - real[i:i + 1])).requires_grad_(True)
        g, = torch.autograd.grad(D(xh).sum(), xh, create_graph=True)
        norm = torch.sqrt((g ** 2).sum())
        terms.append(D(fake[i:i + 1])[0, 0] - D(real[i:i + 1])[0, 0] + lam / target ** 2 * (norm - target) ** 2
                     + eps * D(real[i:i + 1])[0, 0] ** 2)
    ref = torch.stack(terms).mean()
    ref.backward()
    for a, b in zip(got, D.parameters()):
        torch.testing.assert_close(a, b.grad, rtol=1e-9, atol=1e-12)
    assert stats["Loss/D/loss"] == pytest.approx(float(ref.detach()), rel=1e-6)   # logged in float32
    assert stats["Loss/gp_penalty"] > 0 and stats["Loss/drift"] > 0 and stats["_real_count"] == 5

    D.zero_grad()
    G.zero_grad()
    loss.accumulate("Gboth", real, c, z, c, gain=2.0, cur_nimg=0)
    got = [p.grad.clone() for p in G.parameters()]
    G.zero_grad()
    (-D(G.synthesis(G.mapping(z, c))).mean() * 2).backward()
    for a, p in zip(got, G.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ training runs
@pytest.fixture(scope="module")
def data32(tmp_path_factory):
    return make_zip(tmp_path_factory.mktemp("data") / "d32.zip", res=32, count=12)


def grow_options(data, outdir, cfg, **kw):
    # batch 2 at 32 px (4 at 8 and 16 px, the papers' table); 32 images per stable phase and per fade,
    # the schedule read every 4 minibatches: 8 px, fade, 16 px, fade, 32 px in 0.16 kimg.
    base = dict(batch=2, mbstd_group=2, start_res=8, grow_kimg=0.032, kimg=0.160, tick=0.016, snap=1)
    base.update(kw)
    return tiny_options(data, outdir, cfg=cfg, **base)


class _CheckedTrainer(Trainer):
    """Opens every snapshot as it is written and renders it (snapshots below 1 kimg share one file name)."""
    checked: list

    def _write_snapshot(self):
        from networks import load_network_pkl
        path = super()._write_snapshot()
        data = load_network_pkl(path)
        G = data["G_ema"]
        img = G(torch.randn(2, G.z_dim), None, noise_mode="const")
        self.checked.append((float(G.synthesis.lod), float(data["D"].lod), tuple(img.shape),
                             bool(torch.isfinite(img).all()), data["resume"]["progressive"]))
        return path


def test_stylegan_grows_8_16_32_and_every_snapshot_renders(data32, tmp_path):
    from PIL import Image
    opts = grow_options(data32, tmp_path, "stylegan", aug="ada")
    run = tmp_path / "run"
    run.mkdir()
    t = _CheckedTrainer(opts, run_dir=run, log=lambda m: None)
    t.checked = []
    t.run()
    records = [json.loads(ln) for ln in (run / "stats.jsonl").read_text().splitlines()]
    lods = [r["lod"] for r in records]
    assert len(records) == 10 and lods == sorted(lods, reverse=True) and lods[0] == 2 and lods[-1] == 0
    assert any(0 < v < 1 for v in lods) and any(1 < v < 2 for v in lods)          # both fades were seen
    assert [r["resolution"] for r in records if r["lod"] in (2, 1, 0)][:1] == [8]
    assert {r["batch"] for r in records if r["lod"] >= 1} == {4} and records[-1]["batch"] == 2
    assert all(math.isfinite(r["Loss/G/loss"]) and math.isfinite(r["Loss/D/loss"]) for r in records)
    assert [c[0] for c in t.checked] == lods and [c[1] for c in t.checked] == lods   # lod stored in G and D
    assert all(c[2] == (2, 3, 32, 32) and c[3] for c in t.checked)
    assert Image.open(run / "fakes.png").size == (8 * 32, 4 * 32)


def _steps(trainer, n):
    it = trainer._data_iterator()
    return [trainer.step(it) for _ in range(n)]


def test_progan_resume_mid_fade_continues_bit_for_bit(data32, tmp_path):
    from networks import load_network_pkl
    # target -1: E[sign D(real)] is always above it, so ADA raises p and its state is part of the check
    opts = grow_options(data32, tmp_path, "progan", aug="ada", ada_interval=2, target=-1.0)
    a = Trainer(opts, run_dir=tmp_path / "a", log=lambda m: None)
    (tmp_path / "a").mkdir()
    it = a._data_iterator()
    for _ in range(13):                               # 32 + 20 images: inside the first fade, mid round
        a.step(it)
    lod_mid = a.grower.current.lod
    assert 1 < lod_mid < 2 and a.counters.batch_idx % 4 == 1
    path = a._write_snapshot()
    rest_a = [a.step(it) for _ in range(16)]          # through lod 1 and into the second fade (batch 4 -> 2)
    assert a.grower.current.lod < 1 and a.step_opts.batch == 2

    saved = load_network_pkl(path)
    assert float(saved["G"].synthesis.lod) == lod_mid
    b = Trainer(opts, run_dir=None, resume_data=saved, log=lambda m: None)
    assert b.grower.current.lod == lod_mid and b.counters.cur_nimg == 52
    rest_b = _steps(b, 16)
    assert rest_a == rest_b                           # every loss term, exactly
    for name, pa in a.G.state_dict().items():
        assert torch.equal(pa, b.G.state_dict()[name]), name
    for name, pa in a.G_ema.state_dict().items():
        assert torch.equal(pa, b.G_ema.state_dict()[name]), name
    for name, pa in a.D.state_dict().items():
        assert torch.equal(pa, b.D.state_dict()[name]), name
    assert a.augment_pipe.p.item() == b.augment_pipe.p.item() > 0


class _TinyLabelD(_TinyD):
    """ProGAN-style D: score and label logits from one head (forward_with_labels), c unused."""

    def __init__(self, c_dim):
        super().__init__()
        self.fc = torch.nn.Linear(3 * 16, 1 + c_dim)

    def forward_with_labels(self, img):
        out = self.fc(torch.nn.functional.softplus(self.conv(img)).flatten(1))
        return out[:, :1], out[:, 1:]

    def forward(self, img, c=None, update_emas=False):
        return self.forward_with_labels(img)[0]


def test_progan_label_terms_are_softmax_cross_entropy():
    torch.manual_seed(1)
    G, D = _TinyG().double(), _TinyLabelD(3).double()
    real = torch.randn(4, 2, 4, 4, dtype=torch.float64)
    z = torch.randn(4, 4, dtype=torch.float64)
    cls = torch.tensor([0, 2, 1, 2])
    c = torch.nn.functional.one_hot(cls, 3).double()
    loss = WGANGPLoss(G, D)
    torch.manual_seed(3)
    stats = loss.accumulate("Dboth", real, c, z, c, gain=1.0, cur_nimg=0)
    got = [p.grad.clone() for p in D.parameters()]

    def ce(logits):                                   # -log softmax(logits)[label], written out
        return logits.exp().sum(1).log() - logits[torch.arange(4), cls]

    torch.manual_seed(3)
    u = torch.rand(4, 1, 1, 1, dtype=torch.float64)
    D.zero_grad()
    fake = G.synthesis(G.mapping(z, c)).detach()
    (s_f, l_f), (s_r, l_r) = D.forward_with_labels(fake), D.forward_with_labels(real)
    xh = (real + u * (fake - real)).requires_grad_(True)
    g, = torch.autograd.grad(D.forward_with_labels(xh)[0].sum(), xh, create_graph=True)
    gp = (g.square().sum([1, 2, 3]).sqrt() - 1) ** 2
    ref = (s_f[:, 0] - s_r[:, 0] + 10 * gp + 0.001 * s_r[:, 0] ** 2 + ce(l_r) + ce(l_f)).mean()
    ref.backward()
    for a, p in zip(got, D.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-9, atol=1e-12)
    assert stats["Loss/D/labels_real"] == pytest.approx(float(ce(l_r).mean().detach()), rel=1e-6)


@pytest.mark.parametrize("cfg,name", [("stylegan", "sg1-32"), ("progan", "progan-32")])
def test_fine_tune_from_nvidia_tensorflow_pickle_starts_fully_grown(tmp_path, cfg, name):
    from networks import load_network_pkl
    pkl = f"tests/data/nvidia-compat/{name}/network.pkl"
    fixture = load_network_pkl(pkl)
    data = make_zip(tmp_path / "d32.zip", res=32, count=4)
    t = Trainer(tiny_options(data, tmp_path, cfg=cfg, resume=pkl, aug="ada", batch=2), resume_data=fixture,
                log=lambda m: None)
    for name_, want in fixture["G_ema"].state_dict().items():
        torch.testing.assert_close(t.G_ema.state_dict()[name_], want, rtol=0, atol=0)
    # The pretrained network is at lod 0: the schedule starts where growing ends (not back at 8 px).
    assert t.opts.finetune and t.grower.current.lod == 0 and t.grower.current.resolution == 32
    stats = _steps(t, 1)[0]
    assert math.isfinite(stats["Loss/G/loss"]) and math.isfinite(stats["Loss/D/loss"])
    assert float(t.G.synthesis.lod) == 0 and float(t.D.lod) == 0


def test_cli_trains_a_conditional_progan(tmp_path, capsys):
    from explorer import cli
    from networks import load_network_pkl
    data = make_zip(tmp_path / "d16.zip", res=16, count=6, classes=3)
    rc = cli.main(["train", "--cfg", "progan", "--data", data, "--outdir", str(tmp_path / "o"), "--cond",
                   "--batch", "2", "--gamma", "10", "--cbase", "256", "--cmax", "32", "--z-dim", "32",
                   "--workers", "0", "--device", "cpu", "--kimg", "0.032", "--tick", "0.016", "--mbstd-group", "2",
                   "--start-res", "8", "--grow-kimg", "0.008"])
    out = capsys.readouterr().out
    assert rc == 0
    run = next((tmp_path / "o").iterdir())
    records = [json.loads(ln) for ln in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["lod"] for r in records] == [1.0, 0.0] and "lod 1.00" in out
    assert all(r["Loss/D/labels_real"] > 0 and r["Loss/G/labels"] > 0 for r in records)
    G = load_network_pkl(run / "network-snapshot-000000.pkl")["G_ema"]
    assert (G.img_resolution, G.c_dim, float(G.synthesis.lod)) == (16, 3, 0.0)
    assert json.loads((run / "training_options.json").read_text())["start_res"] == 8


def test_bench_times_the_progressive_cfgs():
    from networks.training.bench import bench_cfg
    r = bench_cfg("progan", "cpu", batch=2, res=16, steps=1, cbase=128, cmax=16, zw_dim=16)
    assert r.images_per_second > 0 and r.greg_s == 0 and r.dreg_s == 0    # no lazy regularisation to amortise


def test_stylegan_style_mixing_cuts_only_among_the_active_layers():
    from networks import build_discriminator, build_generator
    from networks.config import StyleGAN1Config, StyleGAN1DiscriminatorConfig
    from networks.progressive import set_lod
    from networks.training.options import LossOptions
    G = build_generator(StyleGAN1Config(latent_size=8, dlatent_size=8, resolution=32, mapping_layers=1,
                                        mapping_fmaps=8, fmap_base=64, fmap_max=8))
    D = build_discriminator(StyleGAN1DiscriminatorConfig(resolution=32, fmap_base=64, fmap_max=8))
    set_lod(G.synthesis, 1.5)                         # 32 px G (8 ws) fading 8 -> 16 px: 6 ws are in use

    class KeepWs:                                     # G's mapping and lod; synthesis returns the ws it got
        mapping = G.mapping

        class synthesis:
            lod = G.synthesis.lod

            def __new__(cls, ws, **kw):
                return ws

    loss = P.GrowingStyleGANLoss(KeepWs, D, None, LossOptions(style_mixing_prob=0.9))
    torch.manual_seed(0)
    cutoffs = []
    for _ in range(400):
        ws, _ = loss.run_G(torch.randn(1, 8), torch.zeros(1, 0))
        differs = [i for i in range(8) if not torch.equal(ws[0, i], ws[0, 0])]
        cutoffs.append(differs[0] if differs else 8)
    mixed = [c for c in cutoffs if c < 8]
    assert set(mixed) == {1, 2, 3, 4, 5}              # TF's cutoff ~ U{1, ..., 8 - 2 floor(1.5) - 1}
    assert 0.9 * 400 - 3 * 6 < len(mixed) < 0.9 * 400 + 3 * 6      # p = 0.9, within 3 sigma of binomial


def test_processes_share_each_minibatch_exactly_when_it_shrinks():
    """--nproc: after the minibatch changes (the loader is rebuilt at the images consumed so far), N processes
    still see exactly the images one process sees, step by step."""
    from types import SimpleNamespace
    from networks.training.dataset import InfiniteSampler

    def loader(rank, world, consumed, batch, chunk):   # what Trainer._loader yields, as index lists
        it = iter(InfiniteSampler(10, rank, world, seed=3, start=consumed, global_batch=batch))
        while True:
            yield [next(it) for _ in range(chunk)]

    def stream(world):
        ranks = []
        for rank in range(world):
            t = SimpleNamespace(counters=SimpleNamespace(cur_nimg=0), info=SimpleNamespace(world=world))
            t._loader = lambda consumed, batch, chunk, rank=rank: loader(rank, world, consumed, batch, chunk)
            ranks.append(t)
        grower, steps = P.Grower(P.ProgressiveOptions(), 32), []
        gens = [grower.batches(t) for t in ranks]
        for batch in (8, 8, 8, 4, 4, 2, 2, 2):
            items = []
            for t, g in zip(ranks, gens):
                t.step_opts = tiny_options("d", "o", batch=batch, nproc=world)
                items += next(g)
                t.counters.cur_nimg += batch
            steps.append(items)
        return steps

    assert stream(2) == stream(1)
