"""Generative adversarial networks (生成对抗网络), chapter 15.

The game (Goodfellow et al., 2014): a generator ``G`` maps noise ``z ~ N(0, I)`` to samples,
a discriminator ``D`` outputs a logit ``a(x)`` with ``D(x) = σ(a(x))``::

    min_G max_D  V(D, G) = E_data[log D(x)] + E_z[log(1 − D(G(z)))]

All losses here take **logits** (never probabilities) and are written with
``softplus(t) = log(1 + e^t)``, so that ``−log σ(a) = softplus(−a)`` and
``−log(1 − σ(a)) = softplus(a)``:

    discriminator_loss(a_real, a_fake) = mean softplus(−a_real) + mean softplus(a_fake)   (= −V)
    generator_loss(a_fake)             = mean softplus(−a_fake)         non-saturating: −log D(G(z))
    generator_loss(a_fake, False)      = −mean softplus(a_fake)         minimax: log(1 − D(G(z)))

WGAN (Arjovsky et al., 2017) replaces ``D`` by a critic ``f`` with real-valued scores;
WGAN-GP (Gulrajani et al., 2017) keeps ``f`` about 1-Lipschitz with a gradient penalty::

    critic_loss(f_real, f_fake) = mean f_fake − mean f_real
    gradient_penalty(f, x_real, x_fake) = mean_x̂ (‖∇f(x̂)‖₂ − 1)²,  x̂ = α x_real + (1 − α) x_fake

**Stable API** (chapter 18 uses it)::

    G = train_digit_gan(X_train, steps=1000, seed=0)  # DCGAN, ~5–10 s CPU   # X_train (n, 64) in [0, 1]
    G.sample(n, generator=None)                         # (n, 64) tensor in [0, 1]

a small style-based generator (StyleGAN's mapping network, constant input and per-layer AdaIN)
``train_style_gan(X_train)`` with ``StyleGenerator.mix(z_coarse, z_fine, n_coarse)`` for style mixing,
and for the 2-D ring experiments ``train_2d_gan(X, loss="gan" | "wgan" | "wgan-gp", ...)``
and ``mode_coverage(samples, centres, std)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import exercise, expect_close
from nnbook.train import train_steps
from nnbook.utils import seeded
from nnbook.validate import (COUNT, GENERATOR, NONNEGATIVE, POSITIVE, PROBABILITY, SEED, Array, Function, Instance,
                             Int, OneOf, Tensor, Widths, check_tensor, checked)

__all__ = [
    "discriminator_loss",
    "generator_loss",
    "critic_loss",
    "gradient_penalty",
    "optimal_discriminator",
    "js_divergence",
    "adain",
    "ring_centres",
    "mode_coverage",
    "mlp",
    "Generator",
    "EnsembleLinear",
    "ensemble_mlp",
    "GANRun",
    "train_2d_gan",
    "train_discriminator",
    "MLPDigitGenerator",
    "MLPDigitDiscriminator",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "train_digit_gan",
    "train_cycle_gan",
    "StyleGenerator",
    "train_style_gan",
]


# ---------------------------------------------------------------- argument rules
@dataclass(frozen=True)
class Logits(Tensor):
    """One logit (or score) per sample: ``(B,)`` or ``(B, 1)``, as a floating tensor."""

    ndim: tuple = (1, 2)

    def check(self, name, value):
        a = super().check(name, value)
        if a.ndim == 2 and a.shape[1] != 1:
            raise ValueError(f"{name} must have shape (B,) or (B, 1) (one logit per sample), got {tuple(a.shape)}")
        return a if a.is_floating_point() else a.to(torch.get_default_dtype())


@dataclass(frozen=True)
class Density(Array):
    """Non-negative values (density values or weights); ``positive_sum``: they must not all be 0."""

    positive_sum: bool = False

    def check(self, name, value):
        p = super().check(name, value)
        if (p < 0).any() or (self.positive_sum and p.sum() <= 0):
            raise ValueError(f"{name} must be non-negative" + (" with a positive sum" if self.positive_sum else ""))
        return p


@dataclass(frozen=True)
class Points(Tensor):
    """Data rows ``(n, d)``, at least 2, as a tensor of the default floating dtype."""

    ndim: int = 2

    def check(self, name, value):
        X = check_tensor(name, value, ndim=self.ndim, dtype=torch.get_default_dtype())
        if len(X) < 2:
            raise ValueError(f"{name} needs at least 2 rows, got {len(X)}")
        return X


class DigitRows(Points):
    """8×8 digits as rows ``(n, 64)`` with pixels in [0, 1]."""

    def check(self, name, value):
        X = super().check(name, value)
        if X.shape[1] != 64:
            raise ValueError(f"{name} must have shape (n, 64) (8×8 digits as rows), got {tuple(X.shape)}")
        if bool(((X < 0) | (X > 1)).any()):
            raise ValueError(f"{name} must have pixels in [0, 1]")
        return X


LOGITS, POINTS, DIGITS, WIDTHS = Logits(), Points(), DigitRows(), Widths()
ACTIVATION = Function()
BOOL = Instance(bool)
_TRAINING = dict(steps=COUNT, seed=SEED, lr=POSITIVE, batch_size=COUNT)      # shared by every trainer


def _same_dtype_shape(name: str, t: torch.Tensor, like: torch.Tensor, shape: tuple) -> torch.Tensor:
    """``t`` of ``shape`` (a check on other arguments), on the dtype and device of ``like``."""
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
    return t.to(like.dtype).to(like.device)


# ---------------------------------------------------------------- the losses (the maths)
@checked(real_logits=LOGITS, fake_logits=LOGITS)
def discriminator_loss(real_logits, fake_logits) -> torch.Tensor:
    """``−V(D, G)``: binary cross-entropy of ``D`` labelling data 1 and samples 0 (a scalar).

    ``real_logits (B,)`` or ``(B, 1)``: ``a(x)`` on data; ``fake_logits``: ``a(G(z))`` on samples.
    ``= mean softplus(−a_real) + mean softplus(a_fake) = −mean log D(x) − mean log(1 − D(G(z)))``.
    """
    r, f = real_logits.reshape(-1), fake_logits.reshape(-1)
    return F.softplus(-r).mean() + F.softplus(f).mean()


@checked(fake_logits=LOGITS, non_saturating=BOOL)
def generator_loss(fake_logits, non_saturating: bool = True) -> torch.Tensor:
    """The generator's loss on ``fake_logits = a(G(z))`` (a scalar).

    ``non_saturating=True``: ``−mean log D(G(z)) = mean softplus(−a)`` (the heuristic of
    Goodfellow et al., strong gradients when ``D`` rejects the samples). ``False``: the minimax
    loss ``mean log(1 − D(G(z))) = −mean softplus(a)``, whose gradient vanishes as ``D(G(z)) → 0``.
    """
    f = fake_logits.reshape(-1)
    return F.softplus(-f).mean() if non_saturating else -F.softplus(f).mean()


@checked(real_scores=LOGITS, fake_scores=LOGITS)
def critic_loss(real_scores, fake_scores) -> torch.Tensor:
    """WGAN critic loss ``mean f(G(z)) − mean f(x)`` (a scalar); its minimum over 1-Lipschitz ``f``
    is ``−W₁(p_data, p_g)``. The generator then minimises ``−mean f(G(z))``."""
    return fake_scores.reshape(-1).mean() - real_scores.reshape(-1).mean()


@checked(critic=Function(), real=Tensor(), fake=Tensor(), alpha=Tensor(ndim=1, optional=True), generator=GENERATOR)
def gradient_penalty(critic: Callable, real, fake, alpha=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``mean (‖∇_x̂ f(x̂)‖₂ − 1)²`` at ``x̂ = α·real + (1 − α)·fake`` (a scalar).

    ``real``, ``fake``: ``(B, ...)`` of the same shape; ``alpha``: ``(B,)`` in [0, 1], one mixing
    weight per pair (drawn uniformly if ``None``). Differentiable in the critic's parameters
    (``create_graph=True``), so it can be added to the critic's loss.
    """
    if real.shape != fake.shape or real.ndim < 2:
        raise ValueError(f"real and fake must have the same shape (B, ...), got {tuple(real.shape)} and {tuple(fake.shape)}")
    B = real.shape[0]
    if alpha is None:
        alpha = torch.rand(B, generator=generator, dtype=real.dtype).to(real.device)
    else:
        alpha = _same_dtype_shape("alpha", alpha, real, (B,))
        if bool(((alpha < 0) | (alpha > 1)).any()):
            raise ValueError("alpha must lie in [0, 1]")
    a = alpha.reshape(B, *([1] * (real.ndim - 1)))
    x_hat = (a * real.detach() + (1 - a) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.reshape(B, -1).norm(dim=1) - 1).pow(2).mean()


@checked(p_data=Density(), p_model=Density())
def optimal_discriminator(p_data, p_model) -> np.ndarray:
    """``D*(x) = p_data(x) / (p_data(x) + p_g(x))`` from density values on the same points.

    Where both densities are 0, ``D*`` is undefined; it is returned as 0.5.
    """
    p, q = p_data, p_model
    if p.shape != q.shape:
        raise ValueError(f"p_model must have the shape of p_data {p.shape}, got {q.shape}")
    s = p + q
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), 0.5)


@checked(p=Density(ndim=1, positive_sum=True), q=Density(ndim=1, positive_sum=True))
def js_divergence(p, q) -> float:
    """Jensen–Shannon divergence (nats) of two discrete distributions ``p (k,)``, ``q (k,)``.

    ``JS = ½ KL(p ‖ m) + ½ KL(q ‖ m)`` with ``m = (p + q)/2``; the inputs are normalised to sum 1
    (so densities on a uniform grid are accepted). ``0 ≤ JS ≤ log 2``.
    """
    if q.shape != p.shape:
        raise ValueError(f"q must have the shape of p {p.shape}, got {q.shape}")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log(a[mask] / b[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


@checked(x=Tensor(ndim=4), style_scale=Tensor(ndim=2), style_bias=Tensor(ndim=2), eps=POSITIVE)
def adain(x, style_scale, style_bias, eps: float = 1e-5) -> torch.Tensor:
    """Adaptive instance normalisation (Huang & Belongie, 2017; StyleGAN's AdaIN)::

        AdaIN(x, y_s, y_b) = y_s · (x − μ(x)) / σ(x) + y_b

    ``x (B, C, H, W)``; ``μ``, ``σ`` per sample and channel over the ``H·W`` positions
    (σ² biased, plus ``eps``); ``style_scale``, ``style_bias (B, C)``. Each output channel has
    mean ``y_b`` and standard deviation ``|y_s|`` (up to ``eps``).
    """
    B, C = x.shape[:2]
    s = _same_dtype_shape("style_scale", style_scale, x, (B, C))
    b = _same_dtype_shape("style_bias", style_bias, x, (B, C))
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return s[:, :, None, None] * (x - mu) / torch.sqrt(var + eps) + b[:, :, None, None]


# ---------------------------------------------------------------- judging 2-D samples
@checked(n_modes=COUNT, radius=POSITIVE)
def ring_centres(n_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """``(n_modes, 2)`` centres evenly spaced on a circle (those of ``data.make_eight_gaussians``)."""
    angle = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


@checked(samples=Array(ndim=2), centres=Array(ndim=2), std=POSITIVE, n_std=POSITIVE, min_fraction=PROBABILITY)
def mode_coverage(samples, centres, std: float, n_std: float = 3.0, min_fraction: float = 0.01) -> dict:
    """How well ``samples (n, d)`` cover the modes ``centres (k, d)`` of a Gaussian mixture.

    A sample is **high quality** if it lies within ``n_std·std`` of its nearest centre; a mode is
    **covered** if at least ``min_fraction·n`` high-quality samples lie near it (the measure of
    Srivastava et al., 2017). Returns ``{"modes_covered": int, "high_quality": share in [0, 1],
    "counts": (k,) high-quality samples per mode}``.
    """
    X, C = samples, centres
    if C.shape[1] != X.shape[1]:
        raise ValueError(f"centres must have {X.shape[1]} columns like samples, got shape {C.shape}")
    d = np.linalg.norm(X[:, None, :] - C[None, :, :], axis=2)        # (n, k)
    nearest, dist = d.argmin(1), d.min(1)
    good = dist <= n_std * std
    counts = np.bincount(nearest[good], minlength=len(C))
    covered = int(np.sum((counts >= max(min_fraction * len(X), 1)) & (counts > 0)))
    return {"modes_covered": covered, "high_quality": float(good.mean()), "counts": counts}


# ---------------------------------------------------------------- networks
@checked(sizes=WIDTHS, activation=ACTIVATION)
def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Linear–act–…–Linear`` with widths ``sizes`` (no activation after the last layer)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def _noise_batch(name: str, z, z_dim: int) -> torch.Tensor:
    """``z`` as a tensor ``(B, z_dim)``, checked by shape only (no pass over the values)."""
    z = torch.as_tensor(z)
    if z.ndim != 2 or z.shape[1] != z_dim:
        raise ValueError(f"{name} must have shape (B, {z_dim}), got {tuple(z.shape)}")
    return z


class Generator(nn.Module):
    """``x = net(z)`` with ``z ~ N(0, I_{z_dim})``: the implicit model of a GAN.

    ``net`` maps ``(B, z_dim)`` to ``(B, ...)``; ``output`` (optional) post-processes the result
    in :meth:`sample` only (e.g. tanh outputs in [−1, 1] → images in [0, 1]).
    """

    @checked(net=Instance(nn.Module), z_dim=COUNT, output=Function(optional=True))
    def __init__(self, net: nn.Module, z_dim: int, output: Callable | None = None):
        super().__init__()
        self.net = net
        self.z_dim = z_dim
        self.output = output

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @checked(n=COUNT, generator=GENERATOR)
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, z_dim)`` standard normal noise on the model's device (drawn on the CPU if ``generator``)."""
        return torch.randn(n, self.z_dim, generator=generator).to(self.device)

    def forward(self, z) -> torch.Tensor:
        """``net(z)`` for ``z (B, z_dim)`` (a cheap shape check: the training loops call it every step)."""
        return self.net(_noise_batch("z", z, self.z_dim).to(self.device, next(self.parameters()).dtype))

    @checked(n=COUNT, generator=GENERATOR)
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``(n, ...)``: ``net(z)`` with fresh noise, then ``output`` if given."""
        was = self.training
        self.eval()
        x = self(self.noise.unchecked(self, n, generator))
        self.train(was)
        return self.output(x) if self.output is not None else x


# ---------------------------------------------------------------- training on 2-D data
class EnsembleLinear(nn.Module):
    """``K`` independent linear layers applied at once: ``x (K, B, i) → x @ W_k + b_k  (K, B, o)``."""

    @checked(n_models=COUNT, d_in=COUNT, d_out=COUNT)
    def __init__(self, n_models: int, d_in: int, d_out: int):
        super().__init__()
        bound = 1 / math.sqrt(d_in)                                 # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(n_models, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_models, 1, d_out).uniform_(-bound, bound))

    def forward(self, x):
        return torch.baddbmm(self.bias, x, self.weight)


@checked(n_models=COUNT, sizes=WIDTHS, activation=ACTIVATION)
def ensemble_mlp(n_models: int, sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """``n_models`` independent MLPs of widths ``sizes`` evaluated together: ``(K, B, sizes[0]) → (K, B, sizes[-1])``.

    Model ``k`` only ever sees slice ``k``, so with a loss summed over ``k`` and an element-wise
    optimiser (Adam) the ``K`` models train exactly as ``K`` separate runs — in one pass.
    """
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(EnsembleLinear(n_models, a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


@dataclass
class GANRun:
    """What :func:`train_2d_gan` returns: ``n_runs`` independent GANs trained side by side.

    ``generator``: ``(K, B, z_dim) → (K, B, d)``; ``discriminator``: ``(K, B, d) → (K, B, 1)``;
    ``snapshots``: ``(step, samples (K, n_snapshot, d))``; ``history``: ``(step, D loss, G loss)``
    (summed over the runs).
    """

    generator: nn.Module
    discriminator: nn.Module
    z_dim: int
    snapshots: list = field(default_factory=list)
    history: list = field(default_factory=list)

    @property
    def n_runs(self) -> int:
        return self.generator[0].weight.shape[0]

    @checked(n=COUNT, generator=GENERATOR)
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> np.ndarray:
        """``(K, n, d)`` samples, ``n`` from each run."""
        z = torch.randn(self.n_runs, n, self.z_dim, generator=generator)
        return self.generator(z.to(self.generator[0].weight.device)).cpu().numpy()


@checked(X=POINTS, loss=OneOf(("gan", "wgan", "wgan-gp")), n_runs=COUNT, hidden=COUNT, z_dim=COUNT,
         n_critic=Int(1, optional=True), clip=POSITIVE, gp_weight=NONNEGATIVE, non_saturating=BOOL,
         snapshot_every=Int(0), n_snapshot=COUNT, **_TRAINING)
def train_2d_gan(
    X,
    loss: str = "gan",
    *,
    steps: int = 1500,
    seed: int = 0,
    n_runs: int = 1,
    hidden: int = 64,
    z_dim: int = 2,
    lr: float = 1e-3,
    batch_size: int = 128,
    n_critic: int | None = None,
    clip: float = 0.01,
    gp_weight: float = 0.1,
    non_saturating: bool = True,
    snapshot_every: int = 0,
    n_snapshot: int = 500,
    device=None,
) -> GANRun:
    """Train ``n_runs`` independent GANs on 2-D points ``X (n, 2)``, side by side.

    Each has a generator ``z → hidden → hidden → 2`` (ReLU) and a discriminator/critic
    ``x → hidden → hidden → 1`` (LeakyReLU 0.2). ``loss``: ``"gan"`` (:func:`discriminator_loss`
    and :func:`generator_loss`, non-saturating unless ``non_saturating=False``), ``"wgan"``
    (:func:`critic_loss`, critic weights clipped to ``[−clip, clip]`` after each critic step) or
    ``"wgan-gp"`` (:func:`critic_loss` + ``gp_weight`` · :func:`gradient_penalty`).
    ``n_critic`` critic steps per generator step (default 1 for ``"gan"``, 5 otherwise);
    ``steps`` counts generator steps. Adam, β = (0.5, 0.9). Deterministic given ``seed``.
    Every ``snapshot_every`` steps (0: never) samples from a fixed noise batch are recorded.
    """
    K, B = n_runs, batch_size
    n_critic = (1 if loss == "gan" else 5) if n_critic is None else n_critic
    device = torch.device("cpu") if device is None else torch.device(device)
    d = X.shape[1]
    g = torch.Generator().manual_seed(seed)
    with seeded(seed):
        Gnet = ensemble_mlp(K, [z_dim, hidden, hidden, d]).to(device)
        Dnet = ensemble_mlp(K, [d, hidden, hidden, 1], lambda: nn.LeakyReLU(0.2)).to(device)
    opt_g = torch.optim.Adam(Gnet.parameters(), lr=lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(Dnet.parameters(), lr=lr, betas=(0.5, 0.9))
    X = X.to(device)
    noise = lambda n, gen: torch.randn(K, n, z_dim, generator=gen).to(device)
    z_fixed = noise(n_snapshot, torch.Generator().manual_seed(seed + 10_000))
    run = GANRun(Gnet, Dnet, z_dim)
    flat_critic = lambda x: Dnet(x.reshape(K, B, d))             # rows of x̂ → their own run's critic

    def snap(step):
        with torch.no_grad():
            run.snapshots.append((step, Gnet(z_fixed).cpu().numpy()))

    if snapshot_every:
        snap(0)
    for step in range(1, steps + 1):
        for _ in range(n_critic):                                  # discriminator / critic steps
            real = X[torch.randint(len(X), (K * B,), generator=g).to(device)].reshape(K, B, d)
            fake = Gnet(noise(B, g)).detach()
            if loss == "gan":
                d_loss = K * discriminator_loss.unchecked(Dnet(real).reshape(-1), Dnet(fake).reshape(-1))
            else:
                d_loss = K * critic_loss.unchecked(Dnet(real).reshape(-1), Dnet(fake).reshape(-1))
                if loss == "wgan-gp":
                    gp = gradient_penalty.unchecked(flat_critic, real.reshape(K * B, d), fake.reshape(K * B, d), generator=g)
                    d_loss = d_loss + K * gp_weight * gp
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            if loss == "wgan":
                with torch.no_grad():
                    for p in Dnet.parameters():
                        p.clamp_(-clip, clip)
        out = Dnet(Gnet(noise(B, g))).reshape(-1)                  # generator step
        g_loss = K * (generator_loss.unchecked(out, non_saturating) if loss == "gan" else -out.mean())
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        if snapshot_every and step % snapshot_every == 0:
            snap(step)
            run.history.append((step, float(d_loss.detach()), float(g_loss.detach())))
    return run


@checked(x_data=POINTS, x_model=POINTS, hidden=COUNT, **_TRAINING)
def train_discriminator(x_data, x_model, *, steps: int = 1000, hidden: int = 32, lr: float = 3e-3,
                        batch_size: int = 256, seed: int = 0) -> nn.Module:
    """Train only ``D`` (logits) to tell ``x_data (n, d)`` from ``x_model (m, d)`` with
    :func:`discriminator_loss`, the generator held fixed. Returns ``D``; ``σ(D(x))`` estimates
    ``D*(x) = p_data / (p_data + p_g)``."""
    Xd, Xm = x_data, x_model
    if Xd.shape[1] != Xm.shape[1]:
        raise ValueError(f"x_model must have {Xd.shape[1]} columns like x_data, got {Xm.shape[1]}")
    g = torch.Generator().manual_seed(seed)
    with seeded(seed):
        D = mlp([Xd.shape[1], hidden, hidden, 1], nn.Tanh)

    def step_loss(step):
        r = Xd[torch.randint(len(Xd), (batch_size,), generator=g)]
        f = Xm[torch.randint(len(Xm), (batch_size,), generator=g)]
        return discriminator_loss.unchecked(D(r), D(f))

    train_steps(D, step_loss, torch.optim.Adam(D.parameters(), lr=lr), steps)
    return D


# ---------------------------------------------------------------- digits: MLP-GAN and DCGAN
class MLPDigitGenerator(Generator):
    """``z (B, z_dim) → 256 → 256 → 64`` (ReLU, tanh output in [−1, 1]); ``sample`` gives [0, 1]."""

    @checked(z_dim=COUNT, hidden=COUNT)
    def __init__(self, z_dim: int = 32, hidden: int = 256):
        super().__init__(nn.Sequential(mlp([z_dim, hidden, hidden, 64]), nn.Tanh()), z_dim, _to_unit)


class MLPDigitDiscriminator(nn.Sequential):
    """``x (B, 64) in [−1, 1] → 256 → 256 → 1`` logit, LeakyReLU(0.2)."""

    @checked(hidden=COUNT)
    def __init__(self, hidden: int = 256):
        super().__init__(*mlp([64, hidden, hidden, 1], lambda: nn.LeakyReLU(0.2)))


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """tanh range [−1, 1] → pixels [0, 1], flattened to ``(B, 64)``."""
    return ((x.reshape(len(x), -1) + 1) / 2).clamp(0, 1)


class DCGANGenerator(Generator):
    """DCGAN for 8×8 images (Radford et al., 2016): project and reshape, then transposed convolutions.

    ``z (B, z_dim)`` → Linear → ``(B, 2c, 2, 2)`` → BN, ReLU → ConvT(4, stride 2) → ``(B, c, 4, 4)``
    → BN, ReLU → ConvT(4, stride 2) → ``(B, 1, 8, 8)`` → tanh. No pooling, no fully connected
    hidden layers; ``sample`` returns ``(n, 64)`` in [0, 1].
    """

    @checked(z_dim=COUNT, channels=COUNT)
    def __init__(self, z_dim: int = 32, channels: int = 64):
        c = channels
        net = nn.Sequential(
            nn.Linear(z_dim, 2 * c * 4), nn.Unflatten(1, (2 * c, 2, 2)), nn.BatchNorm2d(2 * c), nn.ReLU(),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.BatchNorm2d(c), nn.ReLU(),      # 2→4
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1), nn.Tanh(),                           # 4→8
        )
        super().__init__(net, z_dim, _to_unit)


class DCGANDiscriminator(nn.Module):
    """``x (B, 64)`` → ``(B, 1, 8, 8)`` → Conv(4, stride 2) → 4×4 → Conv(4, stride 2) + BN → 2×2 → logit.

    Strided convolutions instead of pooling, LeakyReLU(0.2), no batch norm on the input layer.
    """

    @checked(channels=COUNT)
    def __init__(self, channels: int = 64):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Unflatten(1, (1, 8, 8)),
            nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),                             # 8→4
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2),  # 4→2
            nn.Flatten(), nn.Linear(2 * c * 4, 1),
        )

    def forward(self, x):
        return self.net(x.reshape(len(x), 64))


def _non_saturating_step(D, opt_d, opt_g, real, fake) -> None:
    """One discriminator step on ``real`` vs ``fake`` (detached), then one non-saturating generator step."""
    d_loss = discriminator_loss.unchecked(D(real), D(fake.detach()))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    g_loss = generator_loss.unchecked(D(fake))
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()


@checked(X_train=DIGITS, arch=OneOf(("mlp", "dcgan")), width=Int(1, optional=True), z_dim=COUNT,
         callback=Function(optional=True), every=COUNT, return_discriminator=BOOL, **_TRAINING)
def train_digit_gan(
    X_train,
    steps: int = 1000,
    seed: int = 0,
    *,
    arch: str = "dcgan",
    width: int | None = None,
    z_dim: int = 32,
    lr: float = 1e-3,
    batch_size: int = 64,
    callback: Callable[[int, Generator], None] | None = None,
    every: int = 500,
    return_discriminator: bool = False,
):
    """Train a GAN on 8×8 digits ``X_train (n, 64)`` in [0, 1]; returns the generator.

    ``arch``: ``"dcgan"`` (:class:`DCGANGenerator` / :class:`DCGANDiscriminator`, width 16; the
    default: far lower Fréchet distance per CPU second than the MLP in chapter 15) or ``"mlp"``
    (:class:`MLPDigitGenerator` / :class:`MLPDigitDiscriminator`, width 256). Non-saturating loss, one D step per G step, Adam(lr, β = (0.5,
    0.999)), data scaled to [−1, 1]. ``generator.sample(n, generator=None)`` → ``(n, 64)`` in
    [0, 1]. ``callback(step, G)`` runs every ``every`` steps. With ``return_discriminator=True``
    returns ``(G, D)``.
    """
    X = X_train
    g = torch.Generator().manual_seed(seed)
    w = (256 if arch == "mlp" else 16) if width is None else width
    with seeded(seed):
        G, D = (MLPDigitGenerator(z_dim, w), MLPDigitDiscriminator(w)) if arch == "mlp" else \
               (DCGANGenerator(z_dim, w), DCGANDiscriminator(w))
    device = X.device
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    data = 2 * X - 1
    G.train(), D.train()
    for step in range(1, steps + 1):
        real = data[torch.randint(len(data), (batch_size,), generator=g).to(device)]
        fake = G(G.noise.unchecked(G, batch_size, g))
        _non_saturating_step(D, opt_d, opt_g, real, fake)
        if callback is not None and step % every == 0:
            callback(step, G)
            G.train()
    G.eval(), D.eval()
    return (G, D) if return_discriminator else G


# ---------------------------------------------------------------- CycleGAN's mechanism on 2-D points
@checked(X_a=POINTS, X_b=POINTS, cycle_weight=NONNEGATIVE, hidden=COUNT, **_TRAINING)
def train_cycle_gan(X_a, X_b, *, cycle_weight: float = 1.0, steps: int = 1500, seed: int = 0,
                    hidden: int = 64, lr: float = 1e-3, batch_size: int = 128):
    """Learn maps ``G: A → B`` and ``F: B → A`` from **unpaired** samples ``X_a (n, d)``, ``X_b (m, d)``.

    Loss (Zhu et al., 2017): a GAN loss for each direction (discriminators ``D_B`` on ``G(a)``,
    ``D_A`` on ``F(b)``; non-saturating) plus ``cycle_weight`` ·
    ``(mean ‖F(G(a)) − a‖₁ + mean ‖G(F(b)) − b‖₁)``. ``cycle_weight=0`` trains two unrelated GANs.
    Returns ``(G, F)``, MLPs ``(B, d) → (B, d)`` with two hidden layers of ``hidden`` units.
    """
    A, Bx, n = X_a, X_b, batch_size
    if A.shape[1] != Bx.shape[1]:
        raise ValueError(f"X_b must have {A.shape[1]} columns like X_a, got {Bx.shape[1]}")
    g = torch.Generator().manual_seed(seed)
    d = A.shape[1]
    with seeded(seed):
        G, Fm = mlp([d, hidden, hidden, d]), mlp([d, hidden, hidden, d])
        Da, Db = (mlp([d, hidden, hidden, 1], lambda: nn.LeakyReLU(0.2)) for _ in range(2))
    opt_g = torch.optim.Adam([*G.parameters(), *Fm.parameters()], lr=lr, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam([*Da.parameters(), *Db.parameters()], lr=lr, betas=(0.5, 0.9))
    for _ in range(steps):
        a = A[torch.randint(len(A), (n,), generator=g)]
        b = Bx[torch.randint(len(Bx), (n,), generator=g)]
        fake_b, fake_a = G(a), Fm(b)
        d_loss = discriminator_loss.unchecked(Db(b), Db(fake_b.detach())) + discriminator_loss.unchecked(Da(a), Da(fake_a.detach()))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        adv = generator_loss.unchecked(Db(fake_b)) + generator_loss.unchecked(Da(fake_a))
        cyc = (Fm(fake_b) - a).abs().sum(1).mean() + (G(fake_a) - b).abs().sum(1).mean()
        g_loss = adv + cycle_weight * cyc
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    return G.eval(), Fm.eval()


# ---------------------------------------------------------------- StyleGAN's mechanism, small
class StyleGenerator(nn.Module):
    """A style-based generator for 8×8 images (after Karras et al., 2019), three style layers::

        mapping:   z (B, z_dim) → MLP (LeakyReLU) → w (B, w_dim)
        synthesis: const (c, 2, 2) → AdaIN(w₀)                                  layer 0, 2×2  coarse
                   → ConvT(4, stride 2), ReLU → (c, 4, 4) → AdaIN(w₁)            layer 1, 4×4  coarse
                   → ConvT(4, stride 2), ReLU → (c/2, 8, 8) → AdaIN(w₂)          layer 2, 8×8  fine
                   → 1×1 conv → tanh → (B, 64)

    Layer ``i`` gets its style ``(y_s, y_b) = A_i w_i`` from a learned affine map ``A_i``; the
    only input to the synthesis network is the learned constant, so everything that differs
    between samples enters through the styles. ``synthesis(ws)`` takes one ``w`` per layer,
    ``ws (B, n_layers, w_dim)``; :meth:`mix` feeds different ``w`` to the coarse and fine layers.
    """

    @checked(z_dim=COUNT, w_dim=COUNT, channels=Int(2))
    def __init__(self, z_dim: int = 32, w_dim: int = 32, channels: int = 32):
        super().__init__()
        self.z_dim, self.w_dim, c = z_dim, w_dim, channels
        self.mapping = nn.Sequential(nn.Linear(self.z_dim, self.w_dim), nn.LeakyReLU(0.2),
                                     nn.Linear(self.w_dim, self.w_dim), nn.LeakyReLU(0.2))
        self.const = nn.Parameter(torch.randn(1, c, 2, 2))
        widths = [c, c, c // 2]
        self.convs = nn.ModuleList([nn.ConvTranspose2d(c, c, 4, stride=2, padding=1),          # 2→4
                                    nn.ConvTranspose2d(c, c // 2, 4, stride=2, padding=1)])    # 4→8
        self.affine = nn.ModuleList([nn.Linear(self.w_dim, 2 * k) for k in widths])
        for a, k in zip(self.affine, widths):                    # start near y_s = 1, y_b = 0
            nn.init.normal_(a.weight, std=1.0)
            nn.init.zeros_(a.bias)
            a.bias.data[:k] = 1.0
        self.to_image = nn.Conv2d(widths[-1], 1, 1)
        self.n_layers = len(widths)
        self.resolutions = (2, 4, 8)

    @property
    def device(self) -> torch.device:
        return self.const.device

    @checked(n=COUNT, generator=GENERATOR)
    def noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``(n, z_dim)`` standard normal noise on the model's device (drawn on the CPU if ``generator``)."""
        return torch.randn(n, self.z_dim, generator=generator).to(self.device)

    def _z(self, name, z):
        return _noise_batch(name, z, self.z_dim).to(self.device, self.const.dtype)

    @checked(ws=Tensor(ndim=3))
    def synthesis(self, ws) -> torch.Tensor:
        """Images ``(B, 64)`` in [−1, 1] from per-layer styles ``ws (B, n_layers, w_dim)``."""
        if ws.shape[1:] != (self.n_layers, self.w_dim):
            raise ValueError(f"ws must have shape (B, {self.n_layers}, {self.w_dim}), got {tuple(ws.shape)}")
        ws = ws.to(self.device, self.const.dtype)
        x = self.const.expand(len(ws), -1, -1, -1)
        for i, affine in enumerate(self.affine):
            if i > 0:
                x = F.relu(self.convs[i - 1](x))
            scale, bias = affine(ws[:, i]).chunk(2, dim=1)
            x = adain.unchecked(x, scale, bias)
        return torch.tanh(self.to_image(x)).reshape(len(ws), 64)

    def forward(self, z) -> torch.Tensor:
        """``synthesis`` with the same ``w = mapping(z)`` in every layer: ``(B, 64)`` in [−1, 1]."""
        w = self.mapping(self._z("z", z))
        return self.synthesis.unchecked(self, w[:, None].expand(-1, self.n_layers, -1))

    @checked(n=COUNT, generator=GENERATOR)
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images ``(n, 64)`` in [0, 1]."""
        return _to_unit(self(self.noise.unchecked(self, n, generator)))

    @checked(z_coarse=Tensor(ndim=2), z_fine=Tensor(ndim=2), n_coarse=Int(0))
    @torch.no_grad()
    def mix(self, z_coarse, z_fine, n_coarse: int = 2) -> torch.Tensor:
        """Style mixing: layers ``0 … n_coarse−1`` take ``w`` of ``z_coarse (B, z_dim)``, the rest
        ``w`` of ``z_fine (B, z_dim)``. Returns images ``(B, 64)`` in [0, 1]."""
        zc, zf = self._z("z_coarse", z_coarse), self._z("z_fine", z_fine)
        if zc.shape != zf.shape:
            raise ValueError(f"z_fine must have the shape of z_coarse {tuple(zc.shape)}, got {tuple(zf.shape)}")
        if n_coarse > self.n_layers:
            raise ValueError(f"n_coarse must be <= {self.n_layers} (the number of style layers), got {n_coarse}")
        k = n_coarse
        wc, wf = self.mapping(zc), self.mapping(zf)
        ws = torch.stack([wc if i < k else wf for i in range(self.n_layers)], dim=1)
        return _to_unit(self.synthesis.unchecked(self, ws))


@checked(X_train=DIGITS, channels=Int(2), z_dim=COUNT, mix_prob=PROBABILITY, **_TRAINING)
def train_style_gan(X_train, steps: int = 600, seed: int = 0, *, channels: int = 32, z_dim: int = 32,
                    lr: float = 1e-3, mix_prob: float = 0.9, batch_size: int = 64) -> StyleGenerator:
    """Train a :class:`StyleGenerator` adversarially on 8×8 digits ``X_train (n, 64)`` in [0, 1].

    Discriminator :class:`DCGANDiscriminator` (width 16), non-saturating loss, Adam(lr,
    β = (0.5, 0.999)), data scaled to [−1, 1], as :func:`train_digit_gan`. **Mixing
    regularisation** (StyleGAN): with probability ``mix_prob`` a training image takes the styles of
    a second ``z`` from a random layer on, so that the layers learn to work with independent
    styles. Returns the generator in eval mode.
    """
    X, n = X_train, batch_size
    g = torch.Generator().manual_seed(seed)
    with seeded(seed):
        G = StyleGenerator(z_dim, z_dim, channels).to(X.device)
        D = DCGANDiscriminator(16).to(X.device)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    data, L = 2 * X - 1, G.n_layers
    for _ in range(steps):
        real = data[torch.randint(len(data), (n,), generator=g).to(X.device)]
        w1, w2 = G.mapping(G.noise.unchecked(G, n, g)), G.mapping(G.noise.unchecked(G, n, g))
        cut = torch.randint(1, L, (n, 1), generator=g)                     # first layer that takes w2
        second = (torch.arange(L)[None] >= cut) & (torch.rand(n, 1, generator=g) < mix_prob)
        ws = torch.where(second[:, :, None].to(X.device), w2[:, None].expand(-1, L, -1), w1[:, None].expand(-1, L, -1))
        fake = G.synthesis.unchecked(G, ws)
        _non_saturating_step(D, opt_d, opt_g, real, fake)
    D.eval()
    return G.eval()


# ---------------------------------------------------------------- exercise checkers
def _logit_cases():
    g = torch.Generator().manual_seed(0)
    return [torch.tensor([0.0]), torch.tensor([-120.0, 30.0]), 4 * torch.randn(50, generator=g, dtype=torch.float64)]


@exercise(
    "gan.generator_loss",
    reference=lambda a: F.softplus(-a).mean(),
    wrong=[lambda a: -F.softplus(a).mean(),                               # the saturating (minimax) loss
           lambda a: -torch.log(torch.sigmoid(a)).mean(),                 # right formula, unstable
           lambda a: F.softplus(a).mean()],
    hint="−log σ(a) = log(1 + e^(−a)) = softplus(−a); average over the batch; never take log of a sigmoid (it rounds to log 0).",
)
def _check_generator_loss(func):
    for a in _logit_cases():
        got = func(a.clone())
        expect_close(got, F.softplus(-a.double()).mean(), f"non-saturating loss for logits {tuple(a.shape)}", atol=1e-5)


def _ref_gp(critic, real, fake, alpha):
    x = (alpha[:, None] * real + (1 - alpha[:, None]) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return (g.norm(dim=1) - 1).pow(2).mean()


def _wrong_gp_squared_norm(critic, real, fake, alpha):
    x = (alpha[:, None] * real + (1 - alpha[:, None]) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return (g.pow(2).sum(1) - 1).pow(2).mean()


def _wrong_gp_at_real(critic, real, fake, alpha):
    x = real.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return (g.norm(dim=1) - 1).pow(2).mean()


@exercise(
    "gan.gradient_penalty",
    reference=_ref_gp,
    wrong=[_wrong_gp_squared_norm, _wrong_gp_at_real],
    hint="x̂ = α·real + (1−α)·fake (α has one value per row); take torch.autograd.grad of critic(x̂).sum() w.r.t. x̂ "
         "with create_graph=True; penalty = mean over rows of (‖grad‖₂ − 1)².",
)
def _check_gradient_penalty(func):
    g = torch.Generator().manual_seed(1)
    W = torch.randn(3, 1, generator=g, dtype=torch.float64)
    for critic in [lambda x: x @ W, lambda x: (x ** 2).sum(1, keepdim=True), lambda x: torch.sin(x @ W)]:
        real = torch.randn(6, 3, generator=g, dtype=torch.float64)
        fake = torch.randn(6, 3, generator=g, dtype=torch.float64)
        alpha = torch.rand(6, generator=g, dtype=torch.float64)
        got = func(critic, real, fake, alpha)
        expect_close(got.detach() if isinstance(got, torch.Tensor) else got, _ref_gp(critic, real, fake, alpha).detach(),
                     "gradient penalty", atol=1e-8)


def _wrong_adain_std(x, s, b):
    return s[:, :, None, None] * (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True) + b[:, :, None, None]


@exercise(
    "gan.adain",
    reference=lambda x, s, b: adain(x, s, b),
    wrong=[lambda x, s, b: s[:, :, None, None] * (x - x.mean()) / x.std(unbiased=False) + b[:, :, None, None],   # statistics over everything
           lambda x, s, b: s[:, :, None, None] * x + b[:, :, None, None],                                       # no normalisation
           _wrong_adain_std],
    hint="μ and σ are per sample AND per channel: x.mean(dim=(2, 3), keepdim=True) and the biased variance "
         "x.var(dim=(2, 3), keepdim=True, unbiased=False); σ = sqrt(var + 1e-5); then y_s[:, :, None, None] · x̂ + y_b[:, :, None, None].",
)
def _check_adain(func):
    g = torch.Generator().manual_seed(2)
    for shape in [(1, 1, 2, 2), (2, 3, 4, 4), (3, 2, 5, 3)]:
        x = 3 * torch.randn(shape, generator=g, dtype=torch.float64) + 1
        s = torch.rand(shape[:2], generator=g, dtype=torch.float64) + 0.5
        b = torch.randn(shape[:2], generator=g, dtype=torch.float64)
        expect_close(func(x.clone(), s, b), adain(x, s, b), f"AdaIN for x of shape {shape}", atol=1e-6)
