"""Autoencoders (自编码器), chapter 13.

The encode/decode equations of the notes, for one hidden layer::

    h = σ_e(W_1 x + b_1)          encoder: x (B, D) → code h (B, H)
    y = σ_d(W_2 h + b_2)          decoder: h (B, H) → reconstruction y (B, D)

trained without labels to make ``y ≈ x``: minimise the squared error ``‖y − x‖²``
(summed over pixels, averaged over examples). ``H < D``: undercomplete (压缩结构),
``H = D``: equal width (等维结构), ``H > D``: overcomplete (the notes' 稀疏结构).
Deeper encoders stack layers (``sizes=(64, 128, 16)``), and the decoder mirrors them.

Variants: *denoising* (feed ``corrupt(x)``, reconstruct the clean ``x``) and *sparse*
(add ``β Σ_j KL(ρ ‖ ρ̂_j)``, with ``ρ̂_j`` the mean activation of code unit ``j``).

**Stable API** (a later chapter compares with it)::

    ae = Autoencoder(sizes=(64, 32), activation="sigmoid", output_activation="sigmoid", tied=False)
    h = ae.encode(x)                  # x (B, 64) → (B, 32)
    y = ae.decode(h)                  # (B, 32) → (B, 64);   ae(x) = ae.decode(ae.encode(x))
    history = train_autoencoder(ae, X_train, steps=2000, lr=3e-3, seed=0,
                                noise="masking", noise_level=0.3,          # denoising
                                sparsity_weight=0.0, sparsity_target=0.05) # sparse
    reconstruction_error(ae, X_test)  # mean squared error per image (summed over pixels)
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.train import train_steps
from nnbook.validate import (COUNT, NONNEGATIVE, POSITIVE, SEED, Float, Function, Instance, OneOf, Tensor, Widths,
                             checked)

__all__ = [
    "ACTIVATIONS",
    "NOISE_KINDS",
    "Autoencoder",
    "kl_sparsity_penalty",
    "corrupt",
    "train_autoencoder",
    "reconstruction_error",
]

ACTIVATIONS = ("sigmoid", "relu", "tanh", "identity")
NOISE_KINDS = ("gaussian", "masking", "salt_pepper")
_ACT = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh, "identity": lambda t: t}


# ---------------------------------------------------------------- argument rules
class Real(Tensor):
    """A real floating tensor (kept on its device, autograd intact); integer input becomes floating."""

    def check(self, name, value):
        if isinstance(value, torch.Tensor):
            if value.is_complex() or value.dtype == torch.bool:
                raise TypeError(f"{name} must be a real-valued tensor, got dtype {value.dtype}")
        else:
            try:
                kind = "U" if isinstance(value, (str, bytes)) else np.asarray(value).dtype.kind
            except (TypeError, ValueError):
                kind = "O"
            if kind not in "biuf":
                raise TypeError(f"{name} must be a tensor or array of real numbers, got {type(value).__name__}")
        t = super().check(name, value)
        return t if t.is_floating_point() else t.to(torch.get_default_dtype())


BATCH, ACTIVATION, OPEN_UNIT = Real(ndim=2), OneOf(ACTIVATIONS), Float(0.0, 1.0, lo_open=True, hi_open=True)


# ---------------------------------------------------------------- the maths
@checked(rho_hat=Real(ndim=1), rho=OPEN_UNIT)
def kl_sparsity_penalty(rho_hat, rho: float) -> torch.Tensor:
    """The sparsity penalty ``Σ_j KL(ρ ‖ ρ̂_j)`` between Bernoulli distributions (a scalar).

    ``rho_hat``: ``(H,)`` mean activations of the ``H`` code units over a batch, each in [0, 1]
    (clamped to [1e-6, 1 − 1e-6] so that a saturated unit gives a large finite penalty);
    ``rho``: the target mean activation, in (0, 1)::

        KL(ρ ‖ ρ̂) = ρ log(ρ / ρ̂) + (1 − ρ) log((1 − ρ) / (1 − ρ̂))   ≥ 0, = 0 iff ρ̂ = ρ
    """
    if bool(((rho_hat < 0) | (rho_hat > 1)).any()):
        raise ValueError("rho_hat must hold mean activations in [0, 1] (use a sigmoid code layer)")
    return _kl_sparsity(rho_hat, rho)


def _kl_sparsity(rho_hat: torch.Tensor, rho: float) -> torch.Tensor:
    r = rho_hat.clamp(1e-6, 1 - 1e-6)
    return (rho * torch.log(rho / r) + (1 - rho) * torch.log((1 - rho) / (1 - r))).sum()


@checked(x=Real(), kind=OneOf(NOISE_KINDS), level=NONNEGATIVE, generator=Instance(torch.Generator, optional=True))
def corrupt(x, kind: str = "masking", level: float = 0.3, generator: torch.Generator | None = None) -> torch.Tensor:
    """A corrupted copy ``x̃`` of ``x`` (any shape), for denoising autoencoders.

    - ``"gaussian"``: ``x̃ = x + level · ε``, ``ε ~ N(0, 1)`` (``level`` = noise std, ≥ 0);
    - ``"masking"``: each entry is set to 0 with probability ``level`` ∈ [0, 1], kept otherwise;
    - ``"salt_pepper"``: each entry, with probability ``level`` ∈ [0, 1], is replaced by 0 or 1
      (each with probability ½).

    ``x`` itself is not changed. ``generator`` (a CPU ``torch.Generator``) makes the noise reproducible.
    """
    if kind != "gaussian" and level > 1:
        raise ValueError(f"level is a probability for kind={kind!r} and must be in [0, 1], got {level}")
    return _corrupt(x, kind, level, generator)


def _corrupt(x: torch.Tensor, kind: str, level: float, generator=None) -> torch.Tensor:
    def draw(fn):  # noise drawn on the CPU from `generator`, then moved: reproducible on any device
        return fn(x.shape, generator=generator, dtype=x.dtype).to(x.device)

    if kind == "gaussian":
        return x + level * draw(torch.randn)
    u = draw(torch.rand)
    if kind == "masking":
        return torch.where(u < level, torch.zeros_like(x), x)
    salt = (draw(torch.rand) < 0.5).to(x.dtype)          # 1 ("salt") or 0 ("pepper")
    return torch.where(u < level, salt, x)


# ---------------------------------------------------------------- the model
class Autoencoder(nn.Module):
    """A fully connected autoencoder with a mirrored decoder.

    Parameters
    ----------
    sizes : ``(D, H_1, ..., H_L)``: input width, then the encoder's layer widths; the last
        is the code. The decoder runs back through ``H_{L−1}, ..., H_1`` to ``D``.
    activation : ``σ_e`` of every encoder layer and of the decoder's hidden layers,
        one of ``"sigmoid"``, ``"relu"``, ``"tanh"``, ``"identity"`` (a linear autoencoder).
    output_activation : ``σ_d`` of the last decoder layer (``"sigmoid"`` for pixels in [0, 1],
        ``"identity"`` for a linear output).
    tied : if ``True`` the decoder uses the transposed encoder weights, ``W_dec = W_encᵀ``
        (its biases stay separate), halving the number of weights.

    Shapes: ``x (B, D)`` → ``encode`` → ``h (B, H_L)`` → ``decode`` → ``y (B, D)``.
    """

    @checked(sizes=Widths(), activation=ACTIVATION, output_activation=ACTIVATION, tied=Instance(bool))
    def __init__(self, sizes: Sequence[int] = (64, 32), activation: str = "sigmoid",
                 output_activation: str = "sigmoid", tied: bool = False):
        super().__init__()
        self.sizes, self.activation, self.output_activation, self.tied = tuple(sizes), activation, output_activation, tied
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairs)
        if tied:  # decoder layer k uses encoder layer (L−1−k)'s weight, transposed
            self.decoder = None
            self.decoder_biases = nn.ParameterList(nn.Parameter(torch.zeros(a)) for a, _ in reversed(pairs))
        else:
            self.decoder = nn.ModuleList(nn.Linear(b, a) for a, b in reversed(pairs))

    @property
    def input_dim(self) -> int:
        return self.sizes[0]

    @property
    def code_dim(self) -> int:
        return self.sizes[-1]

    def _fit(self, name: str, t: torch.Tensor, width: int) -> torch.Tensor:
        """``t`` checked to be ``(batch, width)`` (cheap: no pass over the values), on the model's dtype and device."""
        if t.ndim != 2 or t.shape[1] != width:
            raise ValueError(f"{name} must have shape (batch, {width}), got {tuple(t.shape)}")
        p = next(self.parameters())
        return t.to(p.dtype).to(p.device)

    def decoder_weights(self) -> list[torch.Tensor]:
        """The decoder's weight matrices in the order they are applied, ``(out, in)`` each."""
        if self.tied:
            return [layer.weight.t() for layer in reversed(self.encoder)]
        return [layer.weight for layer in self.decoder]

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        act = _ACT[self.activation]
        for layer in self.encoder:
            x = act(layer(x))                           # h = σ_e(W x + b)
        return x

    def _decode(self, h: torch.Tensor) -> torch.Tensor:
        weights = self.decoder_weights()
        biases = list(self.decoder_biases) if self.tied else [layer.bias for layer in self.decoder]
        for k, (W, b) in enumerate(zip(weights, biases)):
            last = k == len(weights) - 1
            h = _ACT[self.output_activation if last else self.activation](F.linear(h, W, b))   # y = σ_d(W h + b)
        return h

    @checked(x=BATCH)
    def encode(self, x) -> torch.Tensor:
        """The code ``h = σ_e(W_L … σ_e(W_1 x + b_1) … + b_L)``, shape ``(B, code_dim)``."""
        return self._encode(self._fit("x", x, self.input_dim))

    @checked(h=BATCH)
    def decode(self, h) -> torch.Tensor:
        """The reconstruction ``y`` of codes ``h (B, code_dim)``, shape ``(B, input_dim)``."""
        return self._decode(self._fit("h", h, self.code_dim))

    def forward(self, x) -> torch.Tensor:
        """``decode(encode(x))``: the reconstruction of ``x (B, input_dim)`` (array-likes are converted)."""
        if not isinstance(x, torch.Tensor) or x.is_complex() or x.dtype == torch.bool:
            x = BATCH("x", x)                           # converts array-likes, rejects complex and bool tensors
        return self._decode(self._encode(self._fit("x", x, self.input_dim)))


# ---------------------------------------------------------------- training and evaluation
def _per_image_sq_error(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (y - x).pow(2).sum(dim=1)


@checked(model=Instance(Autoencoder), X=BATCH, steps=COUNT, lr=POSITIVE, batch_size=COUNT,
         noise=OneOf(NOISE_KINDS, optional=True), noise_level=NONNEGATIVE, sparsity_weight=NONNEGATIVE, sparsity_target=OPEN_UNIT, weight_decay=NONNEGATIVE,
         seed=SEED, callback=Function(optional=True), every=COUNT)
def train_autoencoder(
    model: Autoencoder,
    X,
    *,
    steps: int = 2000,
    lr: float = 3e-3,
    batch_size: int = 128,
    noise: str | None = None,
    noise_level: float = 0.0,
    sparsity_weight: float = 0.0,
    sparsity_target: float = 0.05,
    weight_decay: float = 0.0,
    seed: int = 0,
    callback: Callable[[int, Autoencoder], None] | None = None,
    every: int = 100,
) -> list[float]:
    """Train ``model`` with Adam on minibatches of ``X (n, input_dim)``.

    Loss per minibatch: ``mean_i ‖model(x̃_i) − x_i‖² + sparsity_weight · Σ_j KL(ρ ‖ ρ̂_j)``, where
    ``x̃ = corrupt(x, noise, noise_level)`` (or ``x`` when ``noise is None``: a plain autoencoder)
    and ``ρ̂_j`` is the minibatch mean of code unit ``j`` (needs ``activation="sigmoid"``).
    ``weight_decay`` is Adam's L2 penalty. ``batch_size ≥ n`` gives full-batch training.

    Returns the mean training loss every ``every`` steps; ``callback(step, model)`` is called at the
    same moments, with the model in eval mode (e.g. to record animation frames). Deterministic
    for a given ``seed``.
    """
    X = model._fit("X", X, model.input_dim)
    if noise is not None and noise != "gaussian" and noise_level > 1:
        raise ValueError(f"noise_level is a probability for noise={noise!r} and must be in [0, 1], got {noise_level}")
    if sparsity_weight > 0 and model.activation != "sigmoid":
        raise ValueError(f"sparsity_weight > 0 needs activations in (0, 1): the model's activation must be "
                         f"'sigmoid', got {model.activation!r}")

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(X)

    def step_loss(step):
        x = X if batch_size >= n else X[torch.randint(n, (batch_size,), generator=g).to(X.device)]
        x_in = x if noise is None else _corrupt(x, noise, noise_level, g)
        h = model._encode(x_in)
        loss = _per_image_sq_error(model._decode(h), x).mean()
        if sparsity_weight > 0:
            loss = loss + sparsity_weight * _kl_sparsity(h.mean(dim=0), sparsity_target)
        return loss

    return train_steps(model, step_loss, opt, steps, every=every, callback=callback)


@checked(model=Instance(Autoencoder), X=BATCH, X_target=Real(ndim=2, optional=True))
@torch.no_grad()
def reconstruction_error(model: Autoencoder, X, X_target=None) -> float:
    """Mean over images of the squared error ``‖model(X) − X_target‖²`` (summed over pixels).

    ``X_target`` defaults to ``X``; pass the clean images with a corrupted ``X`` to measure denoising.
    """
    X = model._fit("X", X, model.input_dim)
    T = X if X_target is None else model._fit("X_target", X_target, model.input_dim)
    if T.shape != X.shape:
        raise ValueError(f"X_target must have the same shape as X {tuple(X.shape)}, got {tuple(T.shape)}")
    return float(_per_image_sq_error(model._decode(model._encode(X)), T).mean())


# ---------------------------------------------------------------- exercise checkers
def _kl_cases():
    g = torch.Generator().manual_seed(0)
    return [(torch.rand(h, generator=g, dtype=torch.float64) * 0.98 + 0.01, rho)
            for h, rho in [(1, 0.05), (5, 0.1), (16, 0.3), (8, 0.9)]]


def _kl_reference(rho_hat, rho):
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


@exercise(
    "autoencoder.kl_sparsity_penalty",
    reference=_kl_reference,
    wrong=[lambda rho_hat, rho: (rho * torch.log(rho / rho_hat)).sum(),                       # forgets the "off" term
           lambda rho_hat, rho: (rho_hat * torch.log(rho_hat / rho)
                                 + (1 - rho_hat) * torch.log((1 - rho_hat) / (1 - rho))).sum(),  # KL(ρ̂ ‖ ρ)
           lambda rho_hat, rho: (rho * torch.log(rho / rho_hat)
                                 + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).mean()],   # mean, not sum
    hint="Σ_j [ρ log(ρ/ρ̂_j) + (1−ρ) log((1−ρ)/(1−ρ̂_j))]: the KL from the target Bernoulli(ρ) to "
         "Bernoulli(ρ̂_j), summed over the code units.",
)
def _check_kl_sparsity(func):
    for rho_hat, rho in _kl_cases():
        got = func(rho_hat.clone(), rho)
        expect_close(got, _kl_reference(rho_hat, rho), f"penalty for {len(rho_hat)} units, ρ = {rho}", atol=1e-8)
    at_target = func(torch.full((4,), 0.2, dtype=torch.float64), 0.2)
    expect_close(at_target, 0.0, "penalty when every ρ̂_j = ρ", atol=1e-10)


def _masking_reference(x, level, u):
    return torch.where(u < level, torch.zeros_like(x), x)


@exercise(
    "autoencoder.masking_noise",
    reference=_masking_reference,
    wrong=[lambda x, level, u: torch.where(u < level, x, torch.zeros_like(x)),     # keeps with prob `level`
           lambda x, level, u: x * (1 - level),                                    # shrinks instead of masking
           lambda x, level, u: torch.where(u < level, torch.ones_like(x), x)],     # sets to 1
    hint="an entry is destroyed (set to 0) where its uniform number u is below `level`, and kept as it is otherwise.",
)
def _check_masking(func):
    g = torch.Generator().manual_seed(1)
    for shape, level in [((3, 4), 0.0), ((5, 64), 0.3), ((2, 10), 0.75), ((4, 6), 1.0)]:
        x = torch.rand(shape, generator=g, dtype=torch.float64) + 0.1
        u = torch.rand(shape, generator=g, dtype=torch.float64)
        x0 = x.clone()
        got = func(x, level, u)
        if not torch.equal(x, x0):
            raise CheckFailed("your function changed x in place; return a corrupted copy")
        expect_close(got, _masking_reference(x0, level, u), f"masked x of shape {shape} at level {level}", atol=0)
