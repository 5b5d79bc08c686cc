"""GAN inversion: the code whose image reproduces a target image.

Optimisation by Adam from several starts at once (a batch), the best of many candidate codes. For
models with a mean code (the StyleGANs' mean w) the starts are it and mapped random codes, with NVIDIA's projector's decaying
noise on w early on; noise inputs stay the model's constant noise (the adapter has no other).

The loss works offline: mean squared error at every scale of an image pyramid, the error of the
image gradients (edges), and 1 - SSIM. A perceptual term from a discriminator's features would need
a discriminator, and none of the checkpoints we load carries one (the zoo DCGANs ship the generator
only; the StyleGAN2 loaders read G / Gs), so none is used rather than one downloaded at run time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import LowRankGANError
from ..limits import MAX_INVERT_STEPS, MAX_RESTARTS
from ..models.base import GeneratorAdapter

CANDIDATES = 128  # random codes scored before the restarts are picked from the best
EXPLORE = 4  # starts explored per restart over the first quarter of the steps
SSIM_WEIGHT = 0.1
GRAD_WEIGHT = 0.5
CURVE_POINTS = 200  # the loss curve recorded in invert.json is thinned to at most this many points


@dataclass
class Inversion:
    code: torch.Tensor  # [1, d] or [1, L, d] on the CPU
    space: str
    reconstruction: torch.Tensor  # [1, 3, H, W] in [-1, 1]
    losses: list[float]  # best loss at each step
    psnr: float
    ssim: float
    seconds: float
    steps: int
    restarts: int
    info: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# image similarity

def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM per image (Wang et al. 2004: 11-tap Gaussian window σ=1.5, K1=0.01, K2=0.03) of images
    in [-1, 1], computed on [0, 1], averaged over channels and the valid window positions."""
    x, y = (x + 1) / 2, (y + 1) / 2
    size = min(11, x.shape[-1], x.shape[-2])
    g = _gaussian_window(size).to(x)
    c = x.shape[1]
    wx, wy = g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    blur = lambda t: F.conv2d(F.conv2d(t, wx, groups=c), wy, groups=c)
    mx, my = blur(x), blur(y.expand_as(x))
    sxx = blur(x * x) - mx ** 2
    syy = blur(y.expand_as(x) ** 2) - my ** 2
    sxy = blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image, of images in [-1, 1] seen as [0, 1] (clamped, as they are saved)."""
    mse = (((x.clamp(-1, 1) - y.clamp(-1, 1)) / 2) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp_min(1e-12))


def image_loss(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Loss per image of ``x`` ``[n, 3, H, W]`` against ``target`` ``[1, 3, H, W]``."""
    total = torch.zeros(x.shape[0], device=x.device)
    a, b, scales = x, target, 0
    while True:  # MSE at every pyramid level down to 8 px: coarse levels pull the layout first
        total = total + ((a - b) ** 2).flatten(1).mean(1)
        scales += 1
        if a.shape[-1] < 16:
            break
        a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
    total = total / scales
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]
    grad = ((dx(x) - dx(target)).abs().flatten(1).mean(1) + (dy(x) - dy(target)).abs().flatten(1).mean(1)) / 2
    return total + GRAD_WEIGHT * grad ** 2 * 4 + SSIM_WEIGHT * (1 - ssim(x, target))


# ---------------------------------------------------------------------------------------------
# starts

def _candidates(gen: GeneratorAdapter, space: str, n: int, seed: int) -> torch.Tensor:
    """``n`` plausible codes in ``space``; in w / w+ the mean w comes first."""
    seeds = range(seed * 100003, seed * 100003 + n)
    if space == "z":
        return gen.sample(list(seeds), "z", 1.0)
    # Mapped codes pulled halfway to the mean: typical images, not the rare ones at the fringe.
    codes = gen.sample(list(seeds)[:n - 1], space, 0.5)
    mean = gen.mean_code(space)  # models without a mean code refuse
    return torch.cat([mean, codes], 0)


def _pick_starts(gen: GeneratorAdapter, target: torch.Tensor, space: str, restarts: int, seed: int) -> torch.Tensor:
    cands = _candidates(gen, space, max(CANDIDATES, restarts), seed)
    with torch.no_grad():
        scores = torch.cat([image_loss(gen.synthesize(cands[i:i + 16], space), target)
                            for i in range(0, len(cands), 16)])
    return cands[scores.argsort()[:restarts]].clone()


def _w_std(gen: GeneratorAdapter, space: str) -> float:
    """The spread of w (RMS distance of mapped codes from the mean), for the start noise."""
    if space == "z":
        return 0.0
    codes = gen.sample(list(range(10**6, 10**6 + 256)), "w", 1.0)
    return float(((codes - gen.mean_code("w")) ** 2).sum(1).mean().sqrt())


# ---------------------------------------------------------------------------------------------
# optimisation

def invert_image(gen: GeneratorAdapter, target: torch.Tensor, space: str | None = None, steps: int = 300,
                 restarts: int = 4, lr: float | None = None, seed: int = 0, progress: bool = True,
                 z_prior: float = 1e-3, on_step: Callable[[int, int], None] | None = None) -> Inversion:
    """Invert ``target`` (``[1, 3, R, R]`` in [-1, 1], R the model's resolution) into ``space``.
    ``on_step(done, steps)`` is called after each step (the page's progress bar; it may raise to stop).

    ``z_prior`` keeps z codes near the shell |z|² ≈ d where a Gaussian's samples lie: far from it
    a DCGAN's images still match pixels but edits behave unlike on the model's own images."""
    space = gen.check_space(space or gen.default_space)
    if not 1 <= steps <= MAX_INVERT_STEPS:
        raise LowRankGANError(f"steps {steps}: use 1..{MAX_INVERT_STEPS}", "steps")
    if not 1 <= restarts <= MAX_RESTARTS:
        raise LowRankGANError(f"restarts {restarts}: use 1..{MAX_RESTARTS}", "restarts")
    if target.dim() != 4 or target.shape[0] != 1 or target.shape[-1] != gen.resolution or target.shape[-2] != gen.resolution:
        raise LowRankGANError(f"the target must be [1, 3, {gen.resolution}, {gen.resolution}], got {list(target.shape)}")
    t0 = time.perf_counter()
    target = target.to(gen.device, torch.float32)
    torch.manual_seed(seed)
    # Explore: EXPLORE x as many starts for the first quarter of the steps, then the best of them
    # go on. Local minima are the failure mode (DCGAN z especially); breadth early is the cure.
    explore = min(MAX_RESTARTS, restarts * EXPLORE) if steps >= 8 else restarts
    run = _Run(gen, target, space, _pick_starts(gen, target, space, explore, seed), lr or 0.1,
               0.05 * _w_std(gen, space), z_prior if space == "z" else 0.0)
    bar = _progress(steps, progress)
    for step in range(steps):
        if step == steps // 4 and explore > restarts:
            run.keep(restarts)
        run.step(step / steps)
        bar.update(1)
        bar.set_postfix(loss=f"{run.curve[-1]:.4f}", refresh=False)
        if on_step is not None:
            on_step(step + 1, steps)
    bar.close()
    return _finish(gen, target, run.best, space, run.curve, t0, steps, restarts, run.lr)


class _Run:
    """Adam on a batch of codes, remembering each one's best point."""

    def __init__(self, gen: GeneratorAdapter, target: torch.Tensor, space: str, starts: torch.Tensor, lr: float,
                 w_noise: float, z_prior: float) -> None:
        self.gen, self.target, self.space, self.lr, self.w_noise, self.z_prior = gen, target, space, lr, w_noise, z_prior
        self.codes = starts.clone().requires_grad_(True)
        self.opt = torch.optim.Adam([self.codes], lr=lr, betas=(0.9, 0.999))
        self.best_loss = torch.full((len(starts),), math.inf, device=starts.device)
        self.best = starts.detach().clone()
        self.curve: list[float] = []

    def step(self, t: float) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.lr * _ramp(t)
        noisy = self.codes
        if self.w_noise > 0:  # NVIDIA's projector: noise on w, decaying to none at 3/4 of the way
            noisy = self.codes + torch.randn_like(self.codes) * self.w_noise * max(0.0, 1 - t / 0.75) ** 2
        loss = image_loss(self.gen.synthesize(noisy, self.space), self.target)
        if self.z_prior > 0:
            loss = loss + self.z_prior * ((self.codes ** 2).sum(-1) / self.codes.shape[-1] - 1) ** 2
        self.opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        self.opt.step()
        with torch.no_grad():
            better = loss.detach() < self.best_loss
            self.best_loss = torch.where(better, loss.detach(), self.best_loss)
            self.best[better] = noisy.detach()[better]
        self.curve.append(float(self.best_loss.min()))

    def keep(self, n: int) -> None:
        """Go on with the ``n`` best codes only, their Adam moments kept."""
        idx = self.best_loss.argsort()[:n]
        state = self.opt.state[self.codes]
        self.codes = self.codes.detach()[idx].clone().requires_grad_(True)
        opt = torch.optim.Adam([self.codes], lr=self.lr, betas=(0.9, 0.999))
        opt.state[self.codes] = {"step": state["step"], "exp_avg": state["exp_avg"][idx].clone(),
                                 "exp_avg_sq": state["exp_avg_sq"][idx].clone()}
        self.opt, self.best, self.best_loss = opt, self.best[idx], self.best_loss[idx]


def _ramp(t: float) -> float:
    """NVIDIA's projector's learning-rate schedule: a short warm-up, a cosine ramp down at the end."""
    ramp_down = min(1.0, (1 - t) / 0.25)
    ramp_down = 0.5 - 0.5 * math.cos(ramp_down * math.pi)
    return ramp_down * min(1.0, t / 0.05)


def _finish(gen: GeneratorAdapter, target: torch.Tensor, best: torch.Tensor, space: str, curve: list[float],
            t0: float, steps: int, restarts: int, lr: float) -> Inversion:
    """The best restart, judged again without noise, with its metrics."""
    with torch.no_grad():
        images = gen.synthesize(best, space)
        final = image_loss(images, target)
        i = int(final.argmin())
        recon = images[i:i + 1].clamp(-1, 1)
        info = {"restart_losses": [round(float(v), 6) for v in final], "lr": lr,
                "loss": "multi-scale MSE + gradient + (1 - SSIM)"}
        return Inversion(best[i:i + 1].detach().cpu(), space, recon.cpu(), _thin(curve),
                         float(psnr(recon, target)[0]), float(ssim(recon, target)[0]),
                         time.perf_counter() - t0, steps, restarts, info)


def _thin(curve: list[float]) -> list[float]:
    stride = max(1, math.ceil(len(curve) / CURVE_POINTS))
    points = curve[::stride]
    if curve and (len(curve) - 1) % stride:
        points.append(curve[-1])
    return [round(v, 6) for v in points]


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="invert", unit="step", disable=not enabled, leave=False, delay=0.5)


def seed_target(gen: GeneratorAdapter, seed: int, space: str | None = None) -> torch.Tensor:
    """The generated image of ``seed`` (a round-trip target)."""
    space = gen.check_space(space or gen.default_space)
    with torch.no_grad():
        return gen.synthesize(gen.sample([seed], space, 1.0), space).clamp(-1, 1)


__all__ = ["Inversion", "invert_image", "image_loss", "psnr", "seed_target", "ssim"]
