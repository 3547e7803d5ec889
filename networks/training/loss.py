"""StyleGAN losses (Karras et al. 2020 "Analyzing and Improving the Image Quality of StyleGAN";
2021 "Alias-Free GAN"), written from the papers.

- G: non-saturating logistic loss softplus(-D(G(z))); lazy path-length regularisation (StyleGAN2):
  |J_w^T y| for y ~ N(0, I) / sqrt(H W), pulled toward its running mean blended with the batch mean.
- D: softplus(D(G(z))) + softplus(-D(x)); lazy R1 = gamma / 2 * |grad_x D(x)|^2 on reals.
- Style mixing: with probability p a sample switches to a second latent from a random w index on.
- StyleGAN3-R: D's inputs are blurred by 2^-(t/sigma)^2 taps (zero padded) whose sigma fades linearly to zero.
Phases: 'Gmain' | 'Greg' | 'Gboth' | 'Dmain' | 'Dreg' | 'Dboth'. `accumulate` adds gain * the gradient
of the chunk's mean loss to .grad (the loop passes the phase interval for every chunk, so chunks sum, as
NVIDIA's) and returns the chunk means of its terms (floats) for logging and finiteness checks.
"""
from __future__ import annotations

import math
import torch
import torch.nn.functional as F

from networks.training.options import LossOptions


def blur_kernel(sigma: float) -> torch.Tensor:
    """1-D taps of the StyleGAN3-R D-input blur: 2 ** -(t / sigma) ** 2 for integer t in [-r, r],
    r = floor(3 sigma), summing to 1 (float64 [2r + 1]). The std of this bell is sigma / sqrt(2 ln 2)."""
    radius = int(math.floor(sigma * 3))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp2(-(t / sigma).square())
    return k / k.sum()


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """StyleGAN3-R's blur of D's input, [N, C, H, W] -> same: the separable blur_kernel(sigma) with zero
    padding (what NVIDIA's upfirdn2d filter2d does); identity when floor(3 sigma) < 1."""
    if sigma <= 0 or math.floor(sigma * 3) < 1:
        return img
    k = blur_kernel(sigma).to(device=img.device, dtype=img.dtype)
    r, c = k.numel() // 2, img.shape[1]
    x = F.conv2d(img, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), padding=(0, r), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), padding=(r, 0), groups=c)


class StyleGANLoss:
    def __init__(self, G, D, augment_pipe=None, opts: LossOptions = LossOptions(), device="cpu"):
        self.G, self.D, self.augment_pipe, self.opts = G, D, augment_pipe, opts
        self.device = torch.device(device)
        self.pl_mean = torch.zeros([], device=self.device)   # Running mean path length (part of resume state).

    def update_pl_mean(self, chunk_means) -> None:
        """pl_mean <- lerp(pl_mean, m, pl_decay) for each chunk's mean length m, in global chunk order
        (one chunk per step: NVIDIA's update)."""
        with torch.no_grad():
            for m in ([chunk_means] if isinstance(chunk_means, (int, float)) else chunk_means):
                self.pl_mean.copy_(self.pl_mean.lerp(torch.tensor(float(m), device=self.pl_mean.device),
                                                     self.opts.pl_decay))

    # ------------------------------------------------------------------ forward passes
    def mixing_layers(self, num_ws: int) -> int:
        """The mixing cutoff is drawn from [1, this): all ws here; the active layers under progressive growing."""
        return num_ws

    def blur_sigma(self, cur_nimg: int) -> float:
        """sigma of D's input blur at cur_nimg: fades linearly to 0 over blur_fade_kimg; no fade = no blur."""
        o = self.opts
        if o.blur_fade_kimg <= 0:
            return 0.0
        return max(1 - cur_nimg / (o.blur_fade_kimg * 1e3), 0.0) * o.blur_init_sigma

    def run_G(self, z: torch.Tensor, c: torch.Tensor, update_emas: bool = False):
        """z [N, z_dim], c [N, c_dim] -> (img [N, C, H, W], ws [N, num_ws, w_dim])."""
        ws = self.G.mapping(z, c, update_emas=update_emas)
        if self.opts.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = torch.randint(1, self.mixing_layers(num_ws), [], device=ws.device)
            use = torch.rand([], device=ws.device) < self.opts.style_mixing_prob
            cutoff = torch.where(use, cutoff, torch.full_like(cutoff, num_ws))
            mixed = self.G.mapping(torch.randn_like(z), c, update_emas=False)
            tail = torch.arange(num_ws, device=ws.device)[None, :, None] >= cutoff
            ws = torch.where(tail, mixed, ws)
        img = self.G.synthesis(ws, noise_mode="random", update_emas=update_emas)
        return img, ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor, blur_sigma: float = 0.0, update_emas: bool = False):
        """img [N, C, H, W] -> logits [N, 1] after blur and augmentation."""
        img = gaussian_blur(img, blur_sigma)
        if self.augment_pipe is not None:
            img = self.augment_pipe(img)
        return self.D(img, c, update_emas=update_emas)

    # ------------------------------------------------------------------ phases
    def accumulate(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor, gen_z: torch.Tensor,
                   gen_c: torch.Tensor, gain: float, cur_nimg: int) -> dict:
        """Adds gain * d(loss)/d(params) of one phase on one chunk to .grad; returns {name: float}."""
        o = self.opts
        assert phase in ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")
        if o.pl_weight == 0:
            phase = {"Greg": "none", "Gboth": "Gmain"}.get(phase, phase)
        if o.r1_gamma == 0:
            phase = {"Dreg": "none", "Dboth": "Dmain"}.get(phase, phase)
        sigma = self.blur_sigma(cur_nimg)
        stats: dict = {}

        if phase in ("Gmain", "Gboth"):
            img, _ = self.run_G(gen_z, gen_c)
            logits = self.run_D(img, gen_c, sigma)
            loss = F.softplus(-logits)
            stats["Loss/scores/fake"] = float(logits.detach().mean())
            stats["Loss/G/loss"] = float(loss.detach().mean())
            (loss.mean() * gain).backward()

        if phase in ("Greg", "Gboth"):
            n = max(gen_z.shape[0] // o.pl_batch_shrink, 1)
            img, ws = self.run_G(gen_z[:n], gen_c[:n])
            noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            grads, = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
            lengths = grads.square().sum(2).mean(1).sqrt()          # [n]
            # The penalty pulls toward the running mean blended with this chunk's mean, gradient
            # included (NVIDIA's). The buffer itself moves after the phase (update_pl_mean, all chunks
            # of all processes in order), so every chunk of a step blends the same starting mean.
            stats["_pl_length"] = float(lengths.detach().mean())
            target = self.pl_mean.lerp(lengths.mean(), o.pl_decay)
            penalty = (lengths - target).square()
            stats["Loss/pl_penalty"] = float(penalty.detach().mean())
            loss = penalty * o.pl_weight
            stats["Loss/G/reg"] = float(loss.detach().mean())
            # Adding 0 * img keeps every synthesis parameter in the graph (DDP-style reducers expect it).
            ((loss.mean() + img[:, 0, 0, 0].mean() * 0) * gain).backward()

        if phase in ("Dmain", "Dboth"):
            with torch.no_grad():
                img, _ = self.run_G(gen_z, gen_c, update_emas=True)
            logits = self.run_D(img, gen_c, sigma, update_emas=True)
            loss_fake = F.softplus(logits)
            stats["Loss/scores/fake"] = float(logits.detach().mean())
            (loss_fake.mean() * gain).backward()
            stats["Loss/D/fake"] = float(loss_fake.detach().mean())

        if phase in ("Dmain", "Dreg", "Dboth"):
            real = real_img.detach().requires_grad_(phase in ("Dreg", "Dboth"))
            logits = self.run_D(real, real_c, sigma)
            # ADA's overfitting signal: sign(D(real)) of the main and the R1 pass alike (NVIDIA's).
            stats["_real_sign_sum"] = float(torch.sign(logits.detach()).sum())
            stats["_real_count"] = float(logits.numel())
            total = torch.zeros([], device=real.device)
            if phase in ("Dmain", "Dboth"):
                loss_real = F.softplus(-logits)
                stats["Loss/scores/real"] = float(logits.detach().mean())
                stats["Loss/D/real"] = float(loss_real.detach().mean())
                stats["Loss/D/loss"] = stats["Loss/D/fake"] + stats["Loss/D/real"]
                total = total + loss_real.mean()
            if phase in ("Dreg", "Dboth"):
                grads, = torch.autograd.grad(logits.sum(), real, create_graph=True)
                penalty = grads.square().sum(dim=[1, 2, 3])
                stats["Loss/r1_penalty"] = float(penalty.detach().mean())
                reg = penalty * (o.r1_gamma / 2)
                stats["Loss/D/reg"] = float(reg.detach().mean())
                total = total + reg.mean()
            (total * gain).backward()
        return stats


def real_to_float(img_uint8: torch.Tensor, device) -> torch.Tensor:
    """uint8 [N, C, H, W] in [0, 255] -> float32 in [-1, 1] on device."""
    return img_uint8.to(device=device, dtype=torch.float32) / 127.5 - 1

