"""Diffusion models (扩散模型), chapter 16: DDPM, DDIM, classifier-free guidance.

Notation (Ho et al., 2020), with steps ``t = 1, …, T`` and ``t = 0`` the clean data::

    forward (加噪) step    q(x_t | x_{t-1}) = N(√(1−β_t) x_{t-1}, β_t I)
    closed form           q(x_t | x_0)     = N(√ᾱ_t x_0, (1−ᾱ_t) I),   ᾱ_t = Π_{s≤t} (1−β_s)
    simplified loss       L = E_{x_0, t, ε} ‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)‖²
    reverse (去噪) step    x_{t-1} = μ̃_t(x_t, x̂_0) + σ_t z,   σ_t² = β̃_t = β_t (1−ᾱ_{t-1}) / (1−ᾱ_t)

Arrays indexed by ``t`` have length ``T + 1`` with entry 0 for the clean data
(``alpha_bars[0] = 1``), so ``schedule.alpha_bars[t]`` reads like ``ᾱ_t``.

Precision: the schedule is float64, and every coefficient (``√ᾱ_t``, ``√(1 − ᾱ_t)``, the posterior
weights) is formed from it in float64 and only then cast to the data's dtype. Near ``t = 0``,
``ᾱ_t`` lies within 1e-3 of 1, and ``1 − ᾱ_t`` formed from a float32 ``ᾱ_t`` would keep only three
or four significant digits.

**Stable API** (chapter 17 uses it)::

    model = train_ddpm(X_train, y_train=None, steps=2000, T=200, seed=0)   # X_train (n, D)
    x = model.sample(n, labels=None, guidance=0.0, sampling_steps=None, generator=None)   # (n, D)

``sampling_steps=None`` runs ancestral sampling with all ``T`` steps; an int runs DDIM with that
many steps. ``labels`` (n,) ints ask for classes (the model must have been trained with labels);
``guidance`` is the classifier-free guidance weight ``w``: ``ε̃ = (1 + w) ε(x, c) − w ε(x, ∅)``.
Samples are returned in the units of ``X_train``, clipped to its range.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.train import train_steps
from nnbook.utils import seeded
from nnbook.validate import check_callable, check_choice, check_float, check_int, check_tensor

__all__ = [
    "linear_betas",
    "cosine_betas",
    "NoiseSchedule",
    "q_sample",
    "q_mean_var",
    "forward_iterate",
    "ddpm_step",
    "ddim_step",
    "ddim_timesteps",
    "NoisePredictor",
    "DDPM",
    "train_ddpm",
]


# ---------------------------------------------------------------- noise schedules
def linear_betas(T: int, beta_start: float | None = None, beta_end: float | None = None) -> torch.Tensor:
    """β_1…β_T evenly spaced from ``beta_start`` to ``beta_end`` (float64, shape ``(T,)``).

    Defaults are DDPM's 1e-4 → 0.02 for T = 1000, scaled by 1000/T so that any T destroys
    the data about as completely (Nichol & Dhariwal, 2021): for T = 200, 5e-4 → 0.1.
    """
    T = check_int("T", T, min_value=1)
    scale = 1000.0 / T
    beta_start = 1e-4 * scale if beta_start is None else beta_start
    beta_end = min(0.02 * scale, 0.999) if beta_end is None else beta_end
    beta_start = check_float("beta_start", beta_start, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    beta_end = check_float("beta_end", beta_end, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule (Nichol & Dhariwal, 2021), shape ``(T,)``, float64.

    ``ᾱ(u) = cos²((u + s)/(1 + s) · π/2)`` for ``u = t/T``, and ``β_t = min(1 − ᾱ(t/T)/ᾱ((t−1)/T), max_beta)``.
    """
    T = check_int("T", T, min_value=1)
    s = check_float("s", s, min_value=0.0)
    max_beta = check_float("max_beta", max_beta, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((t + 1) / T) / f(t / T), max_beta) for t in range(T)], dtype=torch.float64)


class NoiseSchedule:
    """Everything derived from the betas ``(T,)``, each in (0, 1). Tensors are float64.

    ``betas``, ``alphas``, ``alpha_bars``, ``posterior_variance`` have length ``T + 1``,
    indexed by ``t`` (entry 0 is the clean data: β_0 = 0, ᾱ_0 = 1, β̃_0 = 0).
    """

    def __init__(self, betas):
        b = check_tensor("betas", betas, ndim=1, dtype=torch.float64).cpu()
        if bool(((b <= 0) | (b >= 1)).any()):
            raise ValueError(f"betas must all lie strictly between 0 and 1, got min {float(b.min()):.3g}, max {float(b.max()):.3g}")
        self.T = len(b)
        zero = torch.zeros(1, dtype=torch.float64)
        self.betas = torch.cat([zero, b])
        self.alphas = 1 - self.betas
        self.alpha_bars = torch.cumprod(self.alphas, 0)                          # ᾱ_t, ᾱ_0 = 1
        ab_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bars[:-1]])
        self.posterior_variance = torch.cat([zero, (b * (1 - ab_prev[1:]) / (1 - self.alpha_bars[1:]))])

    @classmethod
    def make(cls, kind: str, T: int) -> "NoiseSchedule":
        """``kind`` = ``"linear"`` or ``"cosine"`` with ``T`` steps and the default parameters."""
        check_choice("kind", kind, ["linear", "cosine"])
        return cls(linear_betas(T) if kind == "linear" else cosine_betas(T))

    def check_t(self, t, n: int | None = None, min_t: int = 0) -> torch.Tensor:
        """``t`` (int or ``(n,)`` ints) as a long tensor, checked to lie in ``[min_t, T]``."""
        if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
            t = torch.full((1 if n is None else n,), int(t), dtype=torch.long)
        t = check_tensor("t", t, ndim=1)
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"t must hold integer steps, got dtype {t.dtype}")
        if n is not None and len(t) != n:
            raise ValueError(f"t must have one step per row: shape ({n},), got {tuple(t.shape)}")
        if bool(((t < min_t) | (t > self.T)).any()):
            raise ValueError(f"t must lie in [{min_t}, {self.T}] (T = {self.T}), got values from {int(t.min())} to {int(t.max())}")
        return t.long()

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ``ᾱ_t / (1 − ᾱ_t)`` for t = 1…T, shape ``(T,)``."""
        ab = self.alpha_bars[1:]
        return ab / (1 - ab)


def _check_schedule(schedule):
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a nnbook.diffusion.NoiseSchedule, got {type(schedule).__name__}")
    return schedule


def _check_x(name, x):
    x = check_tensor(name, x, ndim=2)
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


def _check_clip(clip):
    return None if clip is None else check_float("clip", clip, min_value=0.0, min_inclusive=False)


def _column(coef: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A float64 coefficient ``(B,)`` as a column ``(B, 1)``, cast only now to the dtype and device of ``like``."""
    return coef.to(device=like.device, dtype=like.dtype)[:, None]


def _q_sample(x0: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """``√ᾱ_t x_0 + √(1 − ᾱ_t) ε`` without input checks (used by :func:`q_sample` and :meth:`DDPM.loss`)."""
    ab = schedule.alpha_bars[t.cpu()]                                       # float64 (B,)
    return _column(ab.sqrt(), x0) * x0 + _column((1 - ab).sqrt(), x0) * noise


# ---------------------------------------------------------------- the forward process
def q_mean_var(x0, t, schedule: NoiseSchedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``√ᾱ_t x_0`` ``(B, D)`` and variance ``1 − ᾱ_t`` ``(B, 1)`` of ``q(x_t | x_0)``."""
    schedule = _check_schedule(schedule)
    x0 = _check_x("x0", x0)
    t = schedule.check_t(t, len(x0))
    ab = schedule.alpha_bars[t]                                             # float64 (B,)
    return _column(ab.sqrt(), x0) * x0, _column(1 - ab, x0)


def q_sample(x0, t, schedule: NoiseSchedule, noise=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A draw from ``q(x_t | x_0)`` in one step: ``√ᾱ_t x_0 + √(1 − ᾱ_t) ε``.

    ``x0 (B, D)``; ``t`` an int or ``(B,)`` ints in ``[0, T]``; ``noise`` ``ε (B, D)`` (drawn if None).
    """
    schedule = _check_schedule(schedule)
    x0 = _check_x("x0", x0)
    t = schedule.check_t(t, len(x0))
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    else:
        noise = _check_x("noise", noise)
        if noise.shape != x0.shape:
            raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {tuple(noise.shape)}")
        noise = noise.to(device=x0.device, dtype=x0.dtype)
    return _q_sample(x0, t, schedule, noise)


def forward_iterate(x0, t: int, schedule: NoiseSchedule, generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the one-step forward process ``x_s = √(1−β_s) x_{s−1} + √β_s ε_s`` for s = 1…t. ``(B, D)``."""
    schedule = _check_schedule(schedule)
    x = _check_x("x0", x0)
    t = check_int("t", t, min_value=0, max_value=schedule.T)
    for s in range(1, t + 1):
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x = math.sqrt(1 - schedule.betas[s]) * x + math.sqrt(schedule.betas[s]) * eps
    return x


# ---------------------------------------------------------------- one reverse step
def ddpm_step(x_t, eps, t, schedule: NoiseSchedule, noise=None, clip: float | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One ancestral step ``x_t → x_{t−1}`` of DDPM, given the predicted noise ``eps``.

    ``x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t`` (clipped to ``[−clip, clip]`` if ``clip``), then
    ``x_{t−1} = μ̃_t + σ_t z`` with the posterior mean
    ``μ̃_t = √ᾱ_{t−1} β_t/(1−ᾱ_t) x̂_0 + √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) x_t`` and ``σ_t² = β̃_t``
    (no noise at t = 1). ``x_t``, ``eps``, ``noise``: ``(B, D)``; ``t`` int or ``(B,)`` in ``[1, T]``.
    """
    schedule = _check_schedule(schedule)
    x_t, eps = _check_x("x_t", x_t), _check_x("eps", eps)
    if eps.shape != x_t.shape:
        raise ValueError(f"eps must have the shape of x_t {tuple(x_t.shape)}, got {tuple(eps.shape)}")
    t = schedule.check_t(t, len(x_t), min_t=1)
    clip = _check_clip(clip)
    t = t.cpu()
    ab_t, ab_prev = schedule.alpha_bars[t], schedule.alpha_bars[t - 1]     # float64 (B,)
    beta, alpha = schedule.betas[t], schedule.alphas[t]
    x0 = (x_t - _column((1 - ab_t).sqrt(), x_t) * eps.to(x_t.dtype)) / _column(ab_t.sqrt(), x_t)
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
    mean = (_column(ab_prev.sqrt() * beta / (1 - ab_t), x_t) * x0
            + _column(alpha.sqrt() * (1 - ab_prev) / (1 - ab_t), x_t) * x_t)
    if noise is None:
        noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
    noise = _check_x("noise", noise).to(device=x_t.device, dtype=x_t.dtype)
    return mean + _column(schedule.posterior_variance[t].sqrt(), x_t) * noise


def ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev, eta: float = 0.0, noise=None, clip: float | None = None,
              recompute_eps: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """One DDIM step from ``ᾱ_t`` to ``ᾱ_prev`` (Song et al., 2021), eq. (12)::

        x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t
        x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε + σ z,
        σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev)

    η = 0 is deterministic. ``clip`` clamps ``x̂_0`` to ``[−clip, clip]``; then ``ε`` is recomputed from
    the clipped ``x̂_0`` (``recompute_eps=False`` keeps the old ε: a known trap, shown in chapter 16).
    ``x_t``, ``eps``: ``(B, D)``; ``alpha_bar_t``, ``alpha_bar_prev``: floats in (0, 1] with prev > t.
    """
    x_t, eps = _check_x("x_t", x_t), _check_x("eps", eps)
    if eps.shape != x_t.shape:
        raise ValueError(f"eps must have the shape of x_t {tuple(x_t.shape)}, got {tuple(eps.shape)}")
    # ᾱ values may come as 0-d tensors (schedule.alpha_bars[t])
    alpha_bar_t, alpha_bar_prev = (a.item() if isinstance(a, torch.Tensor) and a.ndim == 0 else a for a in (alpha_bar_t, alpha_bar_prev))
    ab_t = check_float("alpha_bar_t", alpha_bar_t, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    ab_prev = check_float("alpha_bar_prev", alpha_bar_prev, min_value=0.0, max_value=1.0, min_inclusive=False)
    if ab_prev < ab_t:
        raise ValueError(f"alpha_bar_prev must be >= alpha_bar_t (a step towards the data), got {ab_prev} < {ab_t}")
    eta = check_float("eta", eta, min_value=0.0)
    clip = _check_clip(clip)
    eps = eps.to(x_t.dtype)
    x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
        if recompute_eps:
            eps = (x_t - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)
    sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev))
    out = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
    if sigma > 0:
        if noise is None:
            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
        out = out + sigma * _check_x("noise", noise).to(device=x_t.device, dtype=x_t.dtype)
    return out


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps + 1`` evenly spaced steps from ``T`` down to 0 (the DDIM sub-sequence τ)."""
    T = check_int("T", T, min_value=1)
    steps = check_int("steps", steps, min_value=1, max_value=T)
    return [int(round(T - i * T / steps)) for i in range(steps + 1)]


# ---------------------------------------------------------------- the noise predictor ε_θ(x_t, t, c)
def timestep_embedding(t: torch.Tensor, dim: int, T: int) -> torch.Tensor:
    """Sinusoidal features of the step ``t (B,)`` → ``(B, dim)``: how the network is told "which step"."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, device=t.device) / max(half - 1, 1))
    angle = (t.float() / T * 1000.0)[:, None] * freqs[None] / 10.0
    return torch.cat([angle.sin(), angle.cos()], dim=1)


class NoisePredictor(nn.Module):
    """An MLP ``ε_θ(x_t, t, c)``: input ``x (B, dim)``, step ``t (B,)``, optional label ``c (B,)``.

    ``e = emb(t) [+ emb(c)]``, ``h = W_in x + e``, then ``depth`` residual blocks
    ``h += W₂ SiLU(W₁ SiLU(h + e))`` (the step and label enter every block), then
    ``W_out SiLU(h)`` → ``(B, dim)``. With ``num_classes = K`` the label embedding has ``K + 1``
    rows; row ``K`` is the "no label" token ∅ used by classifier-free guidance.
    ``time_input=False`` hides ``t`` from the network (the ablation of chapter 16).
    """

    def __init__(self, dim: int, T: int, hidden: int = 256, depth: int = 3, num_classes: int = 0, time_input: bool = True):
        super().__init__()
        self.dim = check_int("dim", dim, min_value=1)
        self.T = check_int("T", T, min_value=1)
        hidden = check_int("hidden", hidden, min_value=2)
        depth = check_int("depth", depth, min_value=0)
        self.num_classes = check_int("num_classes", num_classes, min_value=0)
        self.time_input = bool(time_input)
        self.emb_dim = 32
        self.inp = nn.Linear(dim, hidden)
        self.time_mlp = nn.Linear(self.emb_dim, hidden)
        self.label_emb = nn.Embedding(self.num_classes + 1, hidden) if self.num_classes else None
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)) for _ in range(depth))
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        cond = torch.zeros(len(x), self.inp.out_features, device=x.device, dtype=x.dtype)
        if self.time_input:
            cond = cond + self.time_mlp(timestep_embedding(t, self.emb_dim, self.T))
        if self.label_emb is not None:
            if labels is None:
                labels = torch.full((len(x),), self.num_classes, dtype=torch.long, device=x.device)
            cond = cond + self.label_emb(labels)
        h = self.inp(x) + cond                                             # (B, hidden)
        for block in self.blocks:
            h = h + block(h + cond)                                        # step and label enter every block
        return self.out(h)


# ---------------------------------------------------------------- the model
class DDPM(nn.Module):
    """A denoising diffusion model: a :class:`NoiseSchedule` and a :class:`NoisePredictor`.

    Works in a normalised space: data ``x`` is mapped to ``(x − lo)/(hi − lo)·2 − 1`` ∈ [−1, 1]
    with the scalars ``lo, hi`` = the training data's min and max; :meth:`sample` maps back.
    """

    def __init__(self, net: NoisePredictor, schedule: NoiseSchedule, lo: float = -1.0, hi: float = 1.0):
        super().__init__()
        if not isinstance(net, NoisePredictor):
            raise TypeError(f"net must be a NoisePredictor, got {type(net).__name__}")
        self.net, self.schedule = net, _check_schedule(schedule)
        if net.T != schedule.T:
            raise ValueError(f"net was built for T = {net.T} but the schedule has T = {schedule.T}")
        self.lo, self.hi = check_float("lo", lo), check_float("hi", hi)
        if not self.hi > self.lo:
            raise ValueError(f"hi must be > lo, got lo={lo}, hi={hi}")
        self.history: list[float] = []

    @property
    def T(self) -> int:
        return self.schedule.T

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def normalize(self, x) -> torch.Tensor:
        x = _check_x("x", x)
        if x.shape[1] != self.net.dim:
            raise ValueError(f"x must have shape (batch, {self.net.dim}), got {tuple(x.shape)}")
        return ((x.to(self.device, torch.float32) - self.lo) / (self.hi - self.lo)) * 2 - 1

    def denormalize(self, z: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Back to data units; ``clamp`` clips to the training data's range ``[lo, hi]``."""
        x = (z + 1) / 2 * (self.hi - self.lo) + self.lo
        return x.clamp(self.lo, self.hi) if clamp else x

    def _check_labels(self, labels, n):
        if labels is None:
            return None
        if not self.net.num_classes:
            raise ValueError("labels were given but this model was trained without labels (num_classes = 0)")
        labels = check_tensor("labels", labels, ndim=1)
        if labels.is_floating_point() or len(labels) != n:
            raise ValueError(f"labels must be {n} integer class indices, got dtype {labels.dtype}, shape {tuple(labels.shape)}")
        if bool(((labels < 0) | (labels >= self.net.num_classes)).any()):
            raise ValueError(f"labels must lie in [0, {self.net.num_classes - 1}]")
        return labels.long().to(self.device)

    def loss(self, x0_normed: torch.Tensor, labels=None, p_uncond: float = 0.0, generator=None) -> torch.Tensor:
        """The simplified loss ``‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t, c)‖²`` (mean), t ~ U{1…T}.

        ``x0_normed (B, D)`` is already normalised; with ``labels``, each label is replaced by ∅
        with probability ``p_uncond`` (classifier-free guidance training).
        """
        B = len(x0_normed)
        t = torch.randint(1, self.T + 1, (B,), generator=generator)
        eps = torch.randn(x0_normed.shape, generator=generator).to(device=x0_normed.device, dtype=x0_normed.dtype)
        x_t = _q_sample(x0_normed, t, self.schedule, eps)
        if labels is not None and p_uncond > 0:
            drop = (torch.rand(B, generator=generator) < p_uncond).to(labels.device)
            labels = torch.where(drop, torch.full_like(labels, self.net.num_classes), labels)
        return F.mse_loss(self.net(x_t, t.to(x_t.device), labels), eps)

    def predict_noise(self, x_t, t: int, labels=None, guidance: float = 0.0) -> torch.Tensor:
        """``ε_θ(x_t, t, c)``; with ``guidance = w > 0``: ``(1 + w) ε(x_t, t, c) − w ε(x_t, t, ∅)``."""
        tt = torch.full((len(x_t),), t, dtype=torch.long, device=x_t.device)
        if labels is None or guidance == 0:
            return self.net(x_t, tt, labels)
        both = self.net(torch.cat([x_t, x_t]), torch.cat([tt, tt]), torch.cat([labels, torch.full_like(labels, self.net.num_classes)]))
        cond, uncond = both.chunk(2)
        return (1 + guidance) * cond - guidance * uncond

    @torch.no_grad()
    def trajectory(self, n: int, labels=None, guidance: float = 0.0, sampling_steps: int | None = None,
                   generator: torch.Generator | None = None, clip: bool = True, keep: int | None = None) -> tuple[list[int], torch.Tensor]:
        """Run the reverse process and return ``(steps, frames)``: ``frames (K, n, D)`` in data units.

        The frames are ``x_t`` at the steps listed (from ``T`` down to 0), not clipped, except the
        last (``x_0``), which is clipped to the data range; ``keep`` thins them to about that many.
        ``clip`` clamps the predicted ``x̂_0`` to the data range at every step.
        """
        n = check_int("n", n, min_value=1)
        guidance = check_float("guidance", guidance, min_value=0.0)
        labels = self._check_labels(labels, n)
        if guidance > 0 and labels is None:
            raise ValueError("guidance > 0 needs labels (the class each sample should show)")
        c = 1.0 if clip else None
        x = torch.randn(n, self.net.dim, generator=generator).to(self.device)       # x_T ~ N(0, I)
        if sampling_steps is None:
            ts = list(range(self.T, -1, -1))
        else:
            ts = ddim_timesteps(self.T, check_int("sampling_steps", sampling_steps, min_value=1, max_value=self.T))
        frames = [x]
        was_training = self.training
        self.eval()
        for t, t_prev in zip(ts[:-1], ts[1:]):
            eps = self.predict_noise(x, t, labels, guidance)
            if sampling_steps is None:
                x = ddpm_step(x, eps, t, self.schedule, clip=c, generator=generator)
            else:
                ab = self.schedule.alpha_bars
                x = ddim_step(x, eps, ab[t], ab[t_prev], clip=c)
            frames.append(x)
        self.train(was_training)
        idx = range(len(frames)) if keep is None else sorted(set(np.linspace(0, len(frames) - 1, check_int("keep", keep, min_value=2)).round().astype(int)))
        last = len(frames) - 1
        return [ts[i] for i in idx], torch.stack([self.denormalize(frames[i], clamp=i == last) for i in idx])

    @torch.no_grad()
    def sample(self, n: int, labels=None, guidance: float = 0.0, sampling_steps: int | None = None,
               generator: torch.Generator | None = None, clip: bool = True) -> torch.Tensor:
        """``n`` samples ``(n, D)`` in data units, clipped to the training data's range.

        ``sampling_steps=None``: ancestral sampling with all T steps; an int: DDIM (η = 0) with that many.
        """
        _, frames = self.trajectory(n, labels, guidance, sampling_steps, generator, clip, keep=2)
        return frames[-1]


def train_ddpm(
    X_train,
    y_train=None,
    *,
    steps: int = 2000,
    T: int = 200,
    seed: int = 0,
    schedule: str = "cosine",
    hidden: int = 192,
    depth: int = 2,
    lr: float = 3e-3,
    batch_size: int = 128,
    p_uncond: float = 0.1,
    time_input: bool = True,
    num_classes: int | None = None,
    device=None,
    callback: Callable[[int, DDPM], None] | None = None,
    every: int = 100,
) -> DDPM:
    """Train a DDPM on rows ``X_train (n, D)`` (optionally with class labels ``y_train (n,)``).

    Adam with cosine learning-rate decay on minibatches for ``steps`` steps of the simplified loss.
    With labels, each label is dropped to ∅ with probability ``p_uncond`` (so one network is both
    conditional and unconditional — classifier-free guidance). Deterministic for a given ``seed``,
    which seeds only this call: torch's global random state is left as it was.
    The model keeps ``history`` (mean loss every ``every`` steps); ``callback(step, model)`` is
    called at those moments. Returns the model in eval mode.
    """
    X = _check_x("X_train", X_train)
    if len(X) < 2:
        raise ValueError(f"X_train needs at least 2 rows, got {len(X)}")
    steps = check_int("steps", steps, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    lr = check_float("lr", lr, min_value=0.0, min_inclusive=False)
    batch_size = check_int("batch_size", batch_size, min_value=1)
    p_uncond = check_float("p_uncond", p_uncond, min_value=0.0, max_value=1.0)
    schedule = check_choice("schedule", schedule, ["linear", "cosine"])
    every = check_int("every", every, min_value=1)
    if callback is not None:
        check_callable("callback", callback)
    device = X.device if device is None else torch.device(device)
    if y_train is not None:
        y = check_tensor("y_train", y_train, ndim=1)
        if y.is_floating_point() or len(y) != len(X):
            raise ValueError(f"y_train must be {len(X)} integer labels, got dtype {y.dtype}, shape {tuple(y.shape)}")
        if bool((y < 0).any()):
            raise ValueError("y_train must be non-negative class indices")
        num_classes = int(y.max()) + 1 if num_classes is None else check_int("num_classes", num_classes, min_value=int(y.max()) + 1)
        y = y.long().to(device)
    else:
        y, num_classes = None, 0
    lo, hi = float(X.min()), float(X.max())
    if not hi > lo:
        raise ValueError("X_train is constant: nothing to model")
    with seeded(seed):                                  # the initial weights; the caller's random state is kept
        net = NoisePredictor(X.shape[1], T, hidden=hidden, depth=depth, num_classes=num_classes, time_input=time_input)
    g = torch.Generator().manual_seed(seed)             # minibatches, steps and noise of the training loop
    model = DDPM(net, NoiseSchedule.make(schedule, T), lo, hi).to(device)
    Xn = model.normalize(X)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)

    def step_loss(step):
        idx = torch.randint(len(Xn), (min(batch_size, len(Xn)),), generator=g).to(device)
        return model.loss(Xn[idx], None if y is None else y[idx], p_uncond, generator=g)

    model.history = train_steps(model, step_loss, opt, steps, every=every, callback=callback, scheduler=sched)
    return model


# ---------------------------------------------------------------- exercise checkers
def _ref_alpha_bar(betas):
    return torch.cumprod(1 - betas, dim=0)


@exercise(
    "diffusion.alpha_bar",
    reference=_ref_alpha_bar,
    wrong=[lambda b: torch.cumprod(b, 0), lambda b: 1 - torch.cumsum(b, 0), lambda b: 1 - torch.cumprod(1 - b, 0),
           lambda b: torch.cumprod(torch.sqrt(1 - b), 0)],
    hint="α_s = 1 − β_s and ᾱ_t = α_1 α_2 ⋯ α_t: a cumulative product (torch.cumprod), one value per step.",
)
def _check_alpha_bar(func):
    for betas in [torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64),
                  linear_betas(50), cosine_betas(20)]:
        expect_close(func(betas.clone()), torch.cumprod(1 - betas, 0), f"ᾱ for {len(betas)} betas", atol=1e-10)


def _ref_q_sample(x0, alpha_bar_t, noise):
    return alpha_bar_t.sqrt()[:, None] * x0 + (1 - alpha_bar_t).sqrt()[:, None] * noise


@exercise(
    "diffusion.q_sample",
    reference=_ref_q_sample,
    wrong=[lambda x0, ab, e: ab[:, None] * x0 + (1 - ab)[:, None] * e,
           lambda x0, ab, e: x0 + (1 - ab).sqrt()[:, None] * e,
           lambda x0, ab, e: ab.sqrt()[:, None] * x0 + ab.sqrt()[:, None] * e],
    hint="x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε, with one ᾱ_t per row: use alpha_bar_t[:, None] to broadcast over the columns.",
)
def _check_q_sample(func):
    g = torch.Generator().manual_seed(0)
    for B, D in [(1, 1), (4, 2), (3, 64)]:
        x0 = torch.randn(B, D, generator=g, dtype=torch.float64)
        ab = torch.rand(B, generator=g, dtype=torch.float64) * 0.98 + 0.01
        e = torch.randn(B, D, generator=g, dtype=torch.float64)
        expect_close(func(x0, ab, e), _ref_q_sample(x0, ab, e), f"x_t for x0 of shape {(B, D)}", atol=1e-10)


def _ref_ddim(x_t, eps, ab_t, ab_prev):
    x0 = (x_t - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)
    return math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps


@exercise(
    "diffusion.ddim_step",
    reference=_ref_ddim,
    wrong=[lambda x, e, a, p: (x - math.sqrt(1 - a) * e) / math.sqrt(a),
           lambda x, e, a, p: math.sqrt(p) * x + math.sqrt(1 - p) * e,
           lambda x, e, a, p: math.sqrt(p) * (x - math.sqrt(1 - a) * e) / math.sqrt(a)],
    hint="first x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t, then x_prev = √ᾱ_prev · x̂_0 + √(1−ᾱ_prev) · ε (the same ε).",
)
def _check_ddim(func):
    g = torch.Generator().manual_seed(1)
    for B, D, a, p in [(1, 1, 0.5, 0.9), (5, 2, 0.01, 0.3), (2, 64, 0.7, 1.0)]:
        x = torch.randn(B, D, generator=g, dtype=torch.float64)
        e = torch.randn(B, D, generator=g, dtype=torch.float64)
        expect_close(func(x, e, a, p), ddim_step(x, e, a, p), f"DDIM step ᾱ_t={a} → ᾱ_prev={p}", atol=1e-10)
    x = torch.randn(3, 4, generator=g, dtype=torch.float64)
    e = torch.randn(3, 4, generator=g, dtype=torch.float64)
    if not torch.allclose(torch.as_tensor(func(x, e, 0.4, 0.4)), x):
        raise CheckFailed("a step with ᾱ_prev = ᾱ_t must leave x_t unchanged")
