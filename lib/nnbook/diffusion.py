"""Diffusion models (扩散模型), chapter 17: DDPM, DDIM, classifier-free guidance.

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

**Stable API** (chapter 18 uses it)::

    model = train_ddpm(X_train, y_train=None, steps=2000, T=200, seed=0)   # X_train (n, D)
    x = model.sample(n, labels=None, guidance=0.0, sampling_steps=None, generator=None)   # (n, D)

``sampling_steps=None`` runs ancestral sampling with all ``T`` steps; an int runs DDIM with that
many steps. ``labels`` (n,) ints ask for classes (the model must have been trained with labels);
``guidance`` is the classifier-free guidance weight ``w``: ``ε̃ = (1 + w) ε(x, c) − w ε(x, ∅)``.
Samples are returned in the units of ``X_train``, clipped to its range.
``model.inpaint(known, mask, resample=1)`` fills the entries of ``known (n, D)`` where ``mask`` is False
(the replacement method; ``resample > 1``: RePaint's resampling).
"""
from __future__ import annotations

import math
import numbers
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.train import train_steps
from nnbook.utils import seeded
from nnbook.validate import (COUNT, NONNEGATIVE, POSITIVE, PROBABILITY, SEED, checked, Float, FloatTensor, Function,
                             Instance, Int, OneOf, Tensor)

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


# ---------------------------------------------------------------- argument rules
class Steps(Tensor):
    """The rule for diffusion steps ``t``: one int (or 0-d tensor) for every row, or ``(B,)`` ints."""

    def check(self, name, value):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        t = super().check(name, value)
        if t.is_floating_point() or t.dtype == torch.bool:
            raise TypeError(f"{name} must hold integer steps, got dtype {t.dtype}")
        return t.long()


class Labels(Tensor):
    """The rule for class labels ``(n,)``: integers >= 0, returned as a long tensor."""

    def check(self, name, value):
        y = super().check(name, value)
        if y.is_floating_point():
            raise ValueError(f"{name} must hold integer class indices, got dtype {y.dtype}")
        if bool((y < 0).any()):
            raise ValueError(f"{name} must be non-negative class indices")
        return y.long()


class AlphaBar(Float):
    """The rule for one ᾱ: a float, or a 0-d tensor such as ``schedule.alpha_bars[t]``."""

    def check(self, name, value):
        return super().check(name, value.item() if isinstance(value, torch.Tensor) and value.ndim == 0 else value)


ROWS, NOISE, STEPS, LABELS = FloatTensor(ndim=2), FloatTensor(ndim=2, optional=True), Steps(ndim=(0, 1)), Labels(ndim=1, optional=True)
BETA = Float(0.0, 1.0, lo_open=True, hi_open=True)
CLIP = Float(0.0, lo_open=True, optional=True)
SCHEDULE_KIND = OneOf(("linear", "cosine"))


def _like(name: str, a: torch.Tensor, x_name: str, x: torch.Tensor) -> torch.Tensor:
    """``a`` checked to have the shape of ``x``, on the device and dtype of ``x``."""
    if a.shape != x.shape:
        raise ValueError(f"{name} must have the shape of {x_name} {tuple(x.shape)}, got {tuple(a.shape)}")
    return a.to(device=x.device, dtype=x.dtype)


# ---------------------------------------------------------------- noise schedules
@checked(T=COUNT, beta_start=Float(0.0, 1.0, lo_open=True, hi_open=True, optional=True),
         beta_end=Float(0.0, 1.0, lo_open=True, hi_open=True, optional=True))
def linear_betas(T: int, beta_start: float | None = None, beta_end: float | None = None) -> torch.Tensor:
    """β_1…β_T evenly spaced from ``beta_start`` to ``beta_end`` (float64, shape ``(T,)``).

    Defaults are DDPM's 1e-4 → 0.02 for T = 1000, scaled by 1000/T so that any T destroys
    the data about as completely (Nichol & Dhariwal, 2021): for T = 200, 5e-4 → 0.1.
    """
    scale = 1000.0 / T
    beta_start = 1e-4 * scale if beta_start is None else beta_start
    beta_end = min(0.02 * scale, 0.999) if beta_end is None else beta_end
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


@checked(T=COUNT, s=NONNEGATIVE, max_beta=BETA)
def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule (Nichol & Dhariwal, 2021), shape ``(T,)``, float64.

    ``ᾱ(u) = cos²((u + s)/(1 + s) · π/2)`` for ``u = t/T``, and ``β_t = min(1 − ᾱ(t/T)/ᾱ((t−1)/T), max_beta)``.
    """
    f = lambda u: math.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return torch.tensor([min(1 - f((t + 1) / T) / f(t / T), max_beta) for t in range(T)], dtype=torch.float64)


class NoiseSchedule:
    """Everything derived from the betas ``(T,)``, each in (0, 1). Tensors are float64.

    ``betas``, ``alphas``, ``alpha_bars``, ``posterior_variance`` have length ``T + 1``,
    indexed by ``t`` (entry 0 is the clean data: β_0 = 0, ᾱ_0 = 1, β̃_0 = 0).
    """

    @checked(betas=Tensor(ndim=1, dtype=torch.float64))
    def __init__(self, betas):
        b = betas.cpu()
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
    @checked(kind=SCHEDULE_KIND, T=COUNT)
    def make(cls, kind: str, T: int) -> "NoiseSchedule":
        """``kind`` = ``"linear"`` or ``"cosine"`` with ``T`` steps and the default parameters."""
        return cls(linear_betas.unchecked(T) if kind == "linear" else cosine_betas.unchecked(T))

    @checked(t=STEPS, n=Int(0, optional=True), min_t=Int(0))
    def check_t(self, t, n: int | None = None, min_t: int = 0) -> torch.Tensor:
        """``t`` (an int, or ``(n,)`` ints) as a long tensor ``(n,)``, checked to lie in ``[min_t, T]``."""
        if not isinstance(t, torch.Tensor) or t.ndim == 0:
            t = torch.full((1 if n is None else n,), int(t), dtype=torch.long)
        if n is not None and len(t) != n:
            raise ValueError(f"t must have one step per row: shape ({n},), got {tuple(t.shape)}")
        if bool(((t < min_t) | (t > self.T)).any()):
            raise ValueError(f"t must lie in [{min_t}, {self.T}] (T = {self.T}), got values from {int(t.min())} to {int(t.max())}")
        return t

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio ``ᾱ_t / (1 − ᾱ_t)`` for t = 1…T, shape ``(T,)``."""
        ab = self.alpha_bars[1:]
        return ab / (1 - ab)


SCHEDULE = Instance(NoiseSchedule)
_steps = NoiseSchedule.check_t.unchecked  # _steps(schedule, t, n, min_t): for a t that has passed STEPS already


def _column(coef: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A float64 coefficient ``(B,)`` as a column ``(B, 1)``, cast only now to the dtype and device of ``like``."""
    return coef.to(device=like.device, dtype=like.dtype)[:, None]


def _q_sample(x0: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, noise: torch.Tensor) -> torch.Tensor:
    """``√ᾱ_t x_0 + √(1 − ᾱ_t) ε`` without input checks (used by :func:`q_sample` and :meth:`DDPM.loss`)."""
    ab = schedule.alpha_bars[t.cpu()]                                       # float64 (B,)
    return _column(ab.sqrt(), x0) * x0 + _column((1 - ab).sqrt(), x0) * noise


# ---------------------------------------------------------------- the forward process
@checked(x0=ROWS, t=STEPS, schedule=SCHEDULE)
def q_mean_var(x0, t, schedule: NoiseSchedule) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``√ᾱ_t x_0`` ``(B, D)`` and variance ``1 − ᾱ_t`` ``(B, 1)`` of ``q(x_t | x_0)``."""
    t = _steps(schedule, t, len(x0))
    ab = schedule.alpha_bars[t]                                             # float64 (B,)
    return _column(ab.sqrt(), x0) * x0, _column(1 - ab, x0)


@checked(x0=ROWS, t=STEPS, schedule=SCHEDULE, noise=NOISE)
def q_sample(x0, t, schedule: NoiseSchedule, noise=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """A draw from ``q(x_t | x_0)`` in one step: ``√ᾱ_t x_0 + √(1 − ᾱ_t) ε``.

    ``x0 (B, D)``; ``t`` an int or ``(B,)`` ints in ``[0, T]``; ``noise`` ``ε (B, D)`` (drawn if None).
    """
    t = _steps(schedule, t, len(x0))
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device)
    return _q_sample(x0, t, schedule, _like("noise", noise, "x0", x0))


@checked(x0=ROWS, t=Int(0), schedule=SCHEDULE)
def forward_iterate(x0, t: int, schedule: NoiseSchedule, generator: torch.Generator | None = None) -> torch.Tensor:
    """Run the one-step forward process ``x_s = √(1−β_s) x_{s−1} + √β_s ε_s`` for s = 1…t. ``(B, D)``."""
    if t > schedule.T:
        raise ValueError(f"t must be <= {schedule.T} (the schedule's T), got {t}")
    x = x0
    for s in range(1, t + 1):
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        x = math.sqrt(1 - schedule.betas[s]) * x + math.sqrt(schedule.betas[s]) * eps
    return x


# ---------------------------------------------------------------- one reverse step
@checked(x_t=ROWS, eps=ROWS, t=STEPS, schedule=SCHEDULE, noise=NOISE, clip=CLIP)
def ddpm_step(x_t, eps, t, schedule: NoiseSchedule, noise=None, clip: float | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One ancestral step ``x_t → x_{t−1}`` of DDPM, given the predicted noise ``eps``.

    ``x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t`` (clipped to ``[−clip, clip]`` if ``clip``), then
    ``x_{t−1} = μ̃_t + σ_t z`` with the posterior mean
    ``μ̃_t = √ᾱ_{t−1} β_t/(1−ᾱ_t) x̂_0 + √α_t (1−ᾱ_{t−1})/(1−ᾱ_t) x_t`` and ``σ_t² = β̃_t``
    (no noise at t = 1). ``x_t``, ``eps``, ``noise``: ``(B, D)``; ``t`` int or ``(B,)`` in ``[1, T]``.
    """
    eps = _like("eps", eps, "x_t", x_t)
    t = _steps(schedule, t, len(x_t), min_t=1).cpu()
    ab_t, ab_prev = schedule.alpha_bars[t], schedule.alpha_bars[t - 1]     # float64 (B,)
    beta, alpha = schedule.betas[t], schedule.alphas[t]
    x0 = (x_t - _column((1 - ab_t).sqrt(), x_t) * eps) / _column(ab_t.sqrt(), x_t)
    if clip is not None:
        x0 = x0.clamp(-clip, clip)
    mean = (_column(ab_prev.sqrt() * beta / (1 - ab_t), x_t) * x0
            + _column(alpha.sqrt() * (1 - ab_prev) / (1 - ab_t), x_t) * x_t)
    if noise is None:
        noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
    return mean + _column(schedule.posterior_variance[t].sqrt(), x_t) * _like("noise", noise, "x_t", x_t)


@checked(x_t=ROWS, eps=ROWS, alpha_bar_t=AlphaBar(0.0, 1.0, lo_open=True, hi_open=True), alpha_bar_prev=AlphaBar(0.0, 1.0, lo_open=True),
         eta=NONNEGATIVE, noise=NOISE, clip=CLIP)
def ddim_step(x_t, eps, alpha_bar_t, alpha_bar_prev, eta: float = 0.0, noise=None, clip: float | None = None,
              recompute_eps: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """One DDIM step from ``ᾱ_t`` to ``ᾱ_prev`` (Song et al., 2021), eq. (12)::

        x̂_0 = (x_t − √(1−ᾱ_t) ε)/√ᾱ_t
        x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε + σ z,
        σ = η √((1−ᾱ_prev)/(1−ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev)

    η = 0 is deterministic. ``clip`` clamps ``x̂_0`` to ``[−clip, clip]``; then ``ε`` is recomputed from
    the clipped ``x̂_0`` (``recompute_eps=False`` keeps the old ε: a known trap, shown in chapter 17).
    ``x_t``, ``eps``: ``(B, D)``; ``alpha_bar_t``, ``alpha_bar_prev``: floats in (0, 1] with prev > t.
    """
    eps = _like("eps", eps, "x_t", x_t)
    ab_t, ab_prev = alpha_bar_t, alpha_bar_prev
    if ab_prev < ab_t:
        raise ValueError(f"alpha_bar_prev must be >= alpha_bar_t (a step towards the data), got {ab_prev} < {ab_t}")
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
        out = out + sigma * _like("noise", noise, "x_t", x_t)
    return out


@checked(T=COUNT, steps=COUNT)
def ddim_timesteps(T: int, steps: int) -> list[int]:
    """``steps + 1`` evenly spaced steps from ``T`` down to 0 (the DDIM sub-sequence τ)."""
    if steps > T:
        raise ValueError(f"steps must be <= T = {T}, got {steps}")
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
    ``time_input=False`` hides ``t`` from the network (the ablation of chapter 17).
    """

    @checked(dim=COUNT, T=COUNT, hidden=Int(2), depth=Int(0), num_classes=Int(0))
    def __init__(self, dim: int, T: int, hidden: int = 256, depth: int = 3, num_classes: int = 0, time_input: bool = True):
        super().__init__()
        self.dim, self.T, self.num_classes = dim, T, num_classes
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
SAMPLING = dict(n=COUNT, labels=LABELS, guidance=NONNEGATIVE, sampling_steps=Int(1, optional=True))  # DDPM.sample, .trajectory


class DDPM(nn.Module):
    """A denoising diffusion model: a :class:`NoiseSchedule` and a :class:`NoisePredictor`.

    Works in a normalised space: data ``x`` is mapped to ``(x − lo)/(hi − lo)·2 − 1`` ∈ [−1, 1]
    with the scalars ``lo, hi`` = the training data's min and max; :meth:`sample` maps back.
    """

    @checked(net=Instance(NoisePredictor), schedule=SCHEDULE, lo=Float(), hi=Float())
    def __init__(self, net: NoisePredictor, schedule: NoiseSchedule, lo: float = -1.0, hi: float = 1.0):
        super().__init__()
        self.net, self.schedule = net, schedule
        if net.T != schedule.T:
            raise ValueError(f"net was built for T = {net.T} but the schedule has T = {schedule.T}")
        self.lo, self.hi = lo, hi
        if not self.hi > self.lo:
            raise ValueError(f"hi must be > lo, got lo={lo}, hi={hi}")
        self.history: list[float] = []

    @property
    def T(self) -> int:
        return self.schedule.T

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @checked(x=ROWS)
    def normalize(self, x) -> torch.Tensor:
        if x.shape[1] != self.net.dim:
            raise ValueError(f"x must have shape (batch, {self.net.dim}), got {tuple(x.shape)}")
        return ((x.to(self.device, torch.float32) - self.lo) / (self.hi - self.lo)) * 2 - 1

    def denormalize(self, z: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """Back to data units; ``clamp`` clips to the training data's range ``[lo, hi]``."""
        x = (z + 1) / 2 * (self.hi - self.lo) + self.lo
        return x.clamp(self.lo, self.hi) if clamp else x

    def _check_labels(self, labels, n):
        """``labels`` (after their rule) checked against the model's classes and the number of samples ``n``."""
        if labels is None:
            return None
        if not self.net.num_classes:
            raise ValueError("labels were given but this model was trained without labels (num_classes = 0)")
        if len(labels) != n:
            raise ValueError(f"labels must be {n} class indices, one per sample, got shape {tuple(labels.shape)}")
        if bool((labels >= self.net.num_classes).any()):
            raise ValueError(f"labels must lie in [0, {self.net.num_classes - 1}]")
        return labels.to(self.device)

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

    @checked(**SAMPLING, keep=Int(2, optional=True))
    @torch.no_grad()
    def trajectory(self, n: int, labels=None, guidance: float = 0.0, sampling_steps: int | None = None,
                   generator: torch.Generator | None = None, clip: bool = True, keep: int | None = None) -> tuple[list[int], torch.Tensor]:
        """Run the reverse process and return ``(steps, frames)``: ``frames (K, n, D)`` in data units.

        The frames are ``x_t`` at the steps listed (from ``T`` down to 0), not clipped, except the
        last (``x_0``), which is clipped to the data range; ``keep`` thins them to about that many.
        ``clip`` clamps the predicted ``x̂_0`` to the data range at every step.
        """
        labels = self._check_labels(labels, n)
        if guidance > 0 and labels is None:
            raise ValueError("guidance > 0 needs labels (the class each sample should show)")
        if sampling_steps is not None and sampling_steps > self.T:
            raise ValueError(f"sampling_steps must be <= T = {self.T}, got {sampling_steps}")
        c = 1.0 if clip else None
        x = torch.randn(n, self.net.dim, generator=generator).to(self.device)       # x_T ~ N(0, I)
        ts = list(range(self.T, -1, -1)) if sampling_steps is None else ddim_timesteps.unchecked(self.T, sampling_steps)
        frames = [x]
        was_training = self.training
        self.eval()
        for t, t_prev in zip(ts[:-1], ts[1:]):
            eps = self.predict_noise(x, t, labels, guidance)
            if sampling_steps is None:
                x = ddpm_step.unchecked(x, eps, t, self.schedule, clip=c, generator=generator)
            else:
                ab = self.schedule.alpha_bars
                x = ddim_step.unchecked(x, eps, float(ab[t]), float(ab[t_prev]), clip=c)
            frames.append(x)
        self.train(was_training)
        idx = range(len(frames)) if keep is None else sorted(set(np.linspace(0, len(frames) - 1, keep).round().astype(int)))
        last = len(frames) - 1
        return [ts[i] for i in idx], torch.stack([self.denormalize(frames[i], clamp=i == last) for i in idx])

    @checked(**SAMPLING)
    @torch.no_grad()
    def sample(self, n: int, labels=None, guidance: float = 0.0, sampling_steps: int | None = None,
               generator: torch.Generator | None = None, clip: bool = True) -> torch.Tensor:
        """``n`` samples ``(n, D)`` in data units, clipped to the training data's range.

        ``sampling_steps=None``: ancestral sampling with all T steps; an int: DDIM (η = 0) with that many.
        """
        _, frames = DDPM.trajectory.unchecked(self, n, labels, guidance, sampling_steps, generator, clip, keep=2)
        return frames[-1]

    @checked(known=ROWS, mask=Tensor(ndim=2), labels=LABELS, guidance=NONNEGATIVE, resample=COUNT,
             generator=Instance(torch.Generator, optional=True))
    @torch.no_grad()
    def inpaint(self, known, mask, labels=None, guidance: float = 0.0, resample: int = 1,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill in the pixels of ``known (n, D)`` (data units) where ``mask (n, D)`` is False.

        The replacement method (inpainting, 图像修复): ancestral sampling from ``x_T ~ N(0, I)`` in
        which, after every step ``t → t−1``, the known pixels are overwritten by a fresh draw from
        ``q(x_{t−1} | x_0 = known)``, so the network always sees them at the right noise level and
        fills the rest to match. ``resample = u > 1`` (RePaint's resampling): each step is done ``u``
        times, going back to level ``t`` by one forward step ``√α_t x + √β_t z`` in between, so the
        filled pixels can adjust to the known ones (``u`` times the cost). Nothing is retrained. Returns ``(n, D)`` in data units, equal to
        ``known`` where ``mask`` is True (clipped to the data range elsewhere).
        """
        n = len(known)
        if mask.shape != known.shape:
            raise ValueError(f"mask must have the shape of known {tuple(known.shape)}, got {tuple(mask.shape)}")
        if mask.is_floating_point() and not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("mask must hold booleans (True = known pixel), or 0/1")
        labels = self._check_labels(labels, n)
        if guidance > 0 and labels is None:
            raise ValueError("guidance > 0 needs labels (the class each sample should show)")
        keep = mask.bool().to(self.device)
        x0_known = self.normalize(known)
        x = torch.randn(n, self.net.dim, generator=generator).to(self.device)       # x_T ~ N(0, I)
        was_training = self.training
        self.eval()
        for t in range(self.T, 0, -1):
            for u in range(resample):
                eps = self.predict_noise(x, t, labels, guidance)
                x = ddpm_step.unchecked(x, eps, t, self.schedule, clip=1.0, generator=generator)
                noised = q_sample.unchecked(x0_known, t - 1, self.schedule, generator=generator)
                x = torch.where(keep, noised, x)                                    # known pixels at level t−1
                if u < resample - 1 and t > 1:                                      # back to level t
                    z = torch.randn(x.shape, generator=generator).to(x)
                    x = math.sqrt(self.schedule.alphas[t]) * x + math.sqrt(self.schedule.betas[t]) * z
        self.train(was_training)
        return torch.where(keep, known.to(x), self.denormalize(x))


@checked(X_train=ROWS, y_train=LABELS, steps=COUNT, T=COUNT, seed=SEED, schedule=SCHEDULE_KIND, hidden=Int(2), depth=Int(0),
         lr=POSITIVE, batch_size=COUNT, p_uncond=PROBABILITY, num_classes=Int(1, optional=True), callback=Function(optional=True),
         every=COUNT)
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
    X = X_train
    if len(X) < 2:
        raise ValueError(f"X_train needs at least 2 rows, got {len(X)}")
    device = X.device if device is None else torch.device(device)
    if y_train is not None:
        if len(y_train) != len(X):
            raise ValueError(f"y_train must have one label per row of X_train ({len(X)}), got shape {tuple(y_train.shape)}")
        k = int(y_train.max()) + 1
        if num_classes is not None and num_classes < k:
            raise ValueError(f"num_classes must be >= {k} (the largest label + 1), got {num_classes}")
        num_classes = k if num_classes is None else num_classes
        y = y_train.to(device)
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
