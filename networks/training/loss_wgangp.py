"""ProGAN's loss (Karras et al. 2018, section A.1; Gulrajani et al. 2017 "Improved Training of Wasserstein
GANs"), written from the papers.

- D: D(G(z)) - D(x)
       + lambda / target^2 * (|grad_x^ D(x^)|_2 - target)^2 at x^ = lerp(x, G(z), u), u ~ U[0, 1) per image
       + epsilon * D(x)^2 (the drift term that keeps the critic's output near zero).
  Defaults: lambda 10, target 1, epsilon 0.001.
- G: -D(G(z)).
- Conditional ProGAN (AC-GAN style): D's label logits add softmax cross-entropy with the labels for reals
  and fakes to D's loss and for fakes to G's, with weight cond_weight.
The interface is StyleGANLoss's (`accumulate(phase, ...)`, phases Gboth / Dboth, `pl_mean` kept for the loop).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from networks.training.loss import StyleGANLoss
from networks.training.options import LossOptions


@dataclass(frozen=True)
class WGANGPOptions:
    wgan_lambda: float = 10.0      # Gradient-penalty weight (lambda).
    wgan_target: float = 1.0       # Target gradient norm; the penalty is scaled by 1 / target^2.
    wgan_epsilon: float = 0.001    # Drift weight on D(real)^2.
    cond_weight: float = 1.0       # Weight of the label cross-entropy terms (conditional D only).


def split_scores(out):
    """D's output -> (scores [N, 1], label logits [N, c_dim] or None)."""
    if isinstance(out, (tuple, list)):
        return out[0], (out[1] if len(out) > 1 and out[1] is not None and out[1].shape[-1] > 0 else None)
    return out, None


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor, u: torch.Tensor, target: float,
                     create_graph: bool = True) -> torch.Tensor:
    """(|grad D(lerp(real, fake, u))| - target)^2 per image: [N]. u [N, 1, 1, 1]; D maps images to scores [N, 1]."""
    mixed = torch.lerp(real.detach(), fake.detach(), u).requires_grad_(True)
    scores, _ = split_scores(D(mixed))
    grads, = torch.autograd.grad(scores.sum(), mixed, create_graph=create_graph)
    return (grads.square().sum(dim=[1, 2, 3]).sqrt() - target).square()


class WGANGPLoss(StyleGANLoss):
    """WGAN-GP with drift for ProGAN; G and D are run as StyleGANLoss runs them (augmentation included)."""

    def __init__(self, G, D, augment_pipe=None, opts: WGANGPOptions = WGANGPOptions(), device="cpu"):
        super().__init__(G, D, augment_pipe, LossOptions(r1_gamma=0.0), device)
        self.wgan = opts

    def _D(self, img, c, update_emas=False):
        """-> (scores [N, 1], label logits [N, c_dim] or None) of the augmented images."""
        img = self.augment_pipe(img) if self.augment_pipe is not None else img
        if c.shape[1] > 0 and hasattr(self.D, "forward_with_labels"):   # ProGAN's auxiliary classifier.
            return split_scores(self.D.forward_with_labels(img))
        return split_scores(self.D(img, c, update_emas=update_emas))

    def _label_loss(self, logits, c):
        if logits is None or c.shape[1] == 0:
            return None
        return F.cross_entropy(logits, c.argmax(dim=1), reduction="none")

    def accumulate(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor,
                   gen_c: torch.Tensor, gain: float, cur_nimg: int) -> dict:
        w = self.wgan
        assert phase in ("Gmain", "Gboth", "Dmain", "Dboth"), phase
        stats: dict = {}
        if phase in ("Gmain", "Gboth"):
            img, _ = self.run_G(gen_z, gen_c)
            scores, labels = self._D(img, gen_c)
            loss = -scores.flatten()
            ce = self._label_loss(labels, gen_c)
            if ce is not None:
                loss = loss + ce * w.cond_weight
                stats["Loss/G/labels"] = float(ce.detach().mean())
            stats["Loss/scores/fake"] = float(scores.detach().mean())
            stats["Loss/G/loss"] = float(loss.detach().mean())
            (loss.mean() * gain).backward()
            return stats

        with torch.no_grad():
            fake, _ = self.run_G(gen_z, gen_c, update_emas=True)
        fake_scores, fake_labels = self._D(fake, gen_c, update_emas=True)
        real_scores, real_labels = self._D(real_img.detach(), real_c)
        u = torch.rand([real_img.shape[0], 1, 1, 1], device=real_img.device, dtype=real_img.dtype)
        gp = gradient_penalty(lambda x: self._D(x, real_c), real_img, fake, u, w.wgan_target)
        drift = real_scores.flatten().square()
        loss = fake_scores.flatten() - real_scores.flatten()
        loss = loss + gp * (w.wgan_lambda / w.wgan_target ** 2) + drift * w.wgan_epsilon
        for which, logits, c in (("real", real_labels, real_c), ("fake", fake_labels, gen_c)):
            ce = self._label_loss(logits, c)
            if ce is not None:
                loss = loss + ce * w.cond_weight
                stats[f"Loss/D/labels_{which}"] = float(ce.detach().mean())
        stats["Loss/scores/fake"] = float(fake_scores.detach().mean())
        stats["Loss/scores/real"] = float(real_scores.detach().mean())
        stats["Loss/gp_penalty"] = float(gp.detach().mean())
        stats["Loss/drift"] = float(drift.detach().mean())
        stats["Loss/D/loss"] = float(loss.detach().mean())
        # ADA's overfitting signal, as for the other cfgs: sign(D(real)).
        stats["_real_sign_sum"] = float(torch.sign(real_scores.detach()).sum())
        stats["_real_count"] = float(real_scores.numel())
        (loss.mean() * gain).backward()
        return stats
