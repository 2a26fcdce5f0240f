"""Normalizing flows (标准化流), chapter 16: RealNVP affine coupling layers.

A flow is an invertible, differentiable map ``z = f(x)`` onto a simple base density
``p_Z = N(0, I)``. The change-of-variables formula gives the exact density::

    log p_X(x) = log p_Z(f(x)) + log |det ∂f/∂x (x)|

and for a composition ``f = f_K ∘ … ∘ f_1`` the log-determinants add.

An affine coupling layer (Dinh et al., 2017) with a fixed 0/1 mask ``b`` keeps the
masked coordinates and transforms the others with a scale and shift computed from them::

    y = b ⊙ x + (1 − b) ⊙ (x ⊙ exp(s(b ⊙ x)) + t(b ⊙ x))
    log |det ∂y/∂x| = Σ_j (1 − b_j) s_j(b ⊙ x)          (the Jacobian is triangular)
    x = b ⊙ y + (1 − b) ⊙ (y − t(b ⊙ y)) ⊙ exp(−s(b ⊙ y))   (exact inverse)

**Stable API** (used by chapter 18)::

    flow = RealNVP(dim=2, n_couplings=8, hidden=64)
    z, log_det = flow(x)        # x (n, dim) → z (n, dim), log|det ∂z/∂x| (n,)
    x = flow.inverse(z)         # (n, dim)
    flow.log_prob(x)            # (n,) exact log-density, nats
    flow.sample(n)              # (n, dim): z ~ N(0, I), x = f⁻¹(z)
    flow = train_flow(X_train, steps=2000, seed=0)

**Densities of discrete data** (chapter 18): a continuous density ``p`` scores binary rows after
*uniform dequantisation*, ``x → x + u`` with ``u ~ U[0, 1)^D``. :func:`dequantize` draws ``x + u``;
:func:`dequantized_nll` ``(log_prob, X, n_samples) -> float`` is the Monte Carlo estimate of::

    E_u[−log p(x + u)]  ≥  −log P(x),     P(x) = ∫_{[0,1)^D} p(x + u) du

an upper bound (in nats) on the negative log-likelihood of the *discrete* data under the
discrete model ``P`` that ``p`` defines (Jensen's inequality).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.train import train_steps
from nnbook.utils import seeded
from nnbook.validate import (COUNT, GENERATOR, POSITIVE, SEED, check_tensor, checked, FloatTensor, Function,
                             Instance, Int, Tensor)

__all__ = [
    "AffineCoupling",
    "RealNVP",
    "train_flow",
    "autograd_log_det",
    "standard_normal_log_prob",
    "dequantize",
    "dequantized_nll",
]


# ---------------------------------------------------------------- argument rules
class BinaryRows(Tensor):
    """The rule for binarised rows ``(n, D)`` of 0s and 1s, returned in the default float dtype."""

    def check(self, name, value):
        X = check_tensor(name, value, ndim=self.ndim, dtype=torch.get_default_dtype())
        if not bool(((X == 0) | (X == 1)).all()):
            raise ValueError(f"{name} must contain only 0 and 1 (binarised data, e.g. load_digits(binarize=True))")
        return X


ROWS, BINARY = FloatTensor(ndim=2), BinaryRows(ndim=2)
LOG_2PI = math.log(2 * math.pi)


@checked(z=ROWS)
def standard_normal_log_prob(z) -> torch.Tensor:
    """``log N(z; 0, I) = −½ (‖z‖² + d log 2π)`` for ``z (n, d)``; returns ``(n,)``."""
    return -0.5 * (z.pow(2).sum(dim=1) + z.shape[1] * LOG_2PI)


class AffineCoupling(nn.Module):
    """One RealNVP affine coupling layer with a fixed 0/1 ``mask (dim,)`` (1 = passed through unchanged).

    The conditioner is an MLP ``dim → hidden → hidden → 2·dim`` that sees only ``mask ⊙ x``;
    its outputs are the log-scale ``s = scale · tanh(·)`` (bounded, for stable training) and the shift ``t``.
    """

    @checked(dim=Int(2), mask=Tensor(ndim=1), hidden=COUNT)
    def __init__(self, dim: int, mask, hidden: int = 64):
        super().__init__()
        self.dim = dim
        if mask.shape != (dim,):
            raise ValueError(f"mask must have shape ({dim},), got {tuple(mask.shape)}")
        mask = mask.to(torch.get_default_dtype())
        if not bool(((mask == 0) | (mask == 1)).all()) or mask.sum() == 0 or mask.sum() == self.dim:
            raise ValueError("mask must contain only 0 and 1, with at least one of each")
        self.register_buffer("mask", mask)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)      # start as the identity map
        nn.init.zeros_(self.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(dim))

    def _s_t(self, x_kept):
        s, t = self.net(x_kept).chunk(2, dim=1)
        free = 1 - self.mask
        return free * self.scale * torch.tanh(s), free * t

    def forward(self, x):
        """``x (n, dim)`` → ``(y (n, dim), log|det ∂y/∂x| (n,))``."""
        s, t = self._s_t(self.mask * x)
        y = self.mask * x + (1 - self.mask) * (x * torch.exp(s) + t)
        return y, s.sum(dim=1)

    def inverse(self, y):
        """``y (n, dim)`` → ``x (n, dim)``: the exact inverse of :meth:`forward`."""
        s, t = self._s_t(self.mask * y)       # the kept half is unchanged, so s, t are recomputable
        return self.mask * y + (1 - self.mask) * (y - t) * torch.exp(-s)


class RealNVP(nn.Module):
    """A stack of affine couplings with alternating masks, after an element-wise affine normalisation.

    Parameters
    ----------
    dim : data dimension (≥ 2).
    n_couplings : number of coupling layers (masks alternate: even / odd coordinates).
    hidden : width of each conditioner's two hidden layers.

    ``forward(x)`` maps data to latent: ``z = f(x)`` with ``log|det ∂z/∂x|``; the first step is
    ``(x − loc) · exp(−log_scale)`` (set from the data by :func:`train_flow`).
    """

    @checked(dim=Int(2), n_couplings=COUNT, hidden=COUNT)
    def __init__(self, dim: int = 2, n_couplings: int = 8, hidden: int = 64):
        super().__init__()
        self.dim, self.n_couplings, self.hidden = dim, n_couplings, hidden
        even = (torch.arange(dim) % 2 == 0).float()
        self.couplings = nn.ModuleList(
            AffineCoupling(dim, even if k % 2 == 0 else 1 - even, hidden) for k in range(n_couplings))
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _match(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}), got {tuple(x.shape)}")
        return x

    @checked(x=ROWS)
    def forward(self, x):
        """``x (n, dim)`` → ``(z (n, dim), log_det (n,))`` with ``log_det = log|det ∂z/∂x|``."""
        return self._forward(self._match("x", x))

    def _forward(self, x):                       # the unchecked pass (the training loop calls it)
        x = x.to(self.loc)                        # the parameters' device and dtype
        z = (x - self.loc) * torch.exp(-self.log_scale)
        log_det = (-self.log_scale.sum()).expand(len(x)).clone()
        for layer in self.couplings:
            z, ld = layer(z)
            log_det = log_det + ld
        return z, log_det

    @checked(z=ROWS)
    def inverse(self, z) -> torch.Tensor:
        """``z (n, dim)`` → ``x (n, dim)`` with ``forward(inverse(z))[0] == z`` (up to rounding)."""
        x = self._match("z", z).to(self.loc)
        for layer in reversed(self.couplings):
            x = layer.inverse(x)
        return x * torch.exp(self.log_scale) + self.loc

    @checked(x=ROWS)
    def log_prob(self, x) -> torch.Tensor:
        """Exact ``log p(x) = log N(f(x); 0, I) + log|det ∂f/∂x|`` in nats, ``(n,)``."""
        return self._log_prob(self._match("x", x))

    def _log_prob(self, x):                      # unchecked
        z, log_det = self._forward(x)
        return standard_normal_log_prob.unchecked(z) + log_det

    @torch.no_grad()
    @checked(n=COUNT, generator=GENERATOR)
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples ``(n, dim)``: ``z ~ N(0, I)``, then one inverse pass ``x = f⁻¹(z)``."""
        p = next(self.parameters())
        z = torch.randn(n, self.dim, generator=generator, dtype=p.dtype).to(p.device)
        return RealNVP.inverse.unchecked(self, z)


@checked(X_train=ROWS, steps=COUNT, n_couplings=COUNT, hidden=COUNT, lr=POSITIVE, batch_size=COUNT,
         dequantize=Instance(bool), seed=SEED, callback=Function(optional=True), every=COUNT)
def train_flow(
    X_train,
    *,
    steps: int = 2000,
    n_couplings: int = 8,
    hidden: int = 64,
    lr: float = 2e-3,
    batch_size: int = 256,
    dequantize: bool = False,
    seed: int = 0,
    callback: Callable[[int, RealNVP], None] | None = None,
    every: int = 100,
) -> RealNVP:
    """Fit a :class:`RealNVP` to ``X_train (n, dim)`` by maximum likelihood (Adam, ``steps`` minibatches).

    The normalisation ``loc``/``log_scale`` starts at the data's mean and standard deviation.
    ``dequantize=True`` (for discrete data such as binary pixels) adds fresh uniform noise
    ``u ~ U[0, 1)^dim`` to every minibatch; the mean ``−log p(x + u)`` of the trained flow is then
    an upper bound on the discrete NLL of ``x`` in nats.
    ``callback(step, model)`` runs every ``every`` steps (and at step 0); ``model.history`` holds the
    mean training NLL (nats) over each block of ``every`` steps. Returns the trained model.
    """
    X = X_train
    if X.shape[1] < 2:
        raise ValueError(f"X_train must have at least 2 columns (a flow needs dim ≥ 2), got {tuple(X.shape)}")
    if len(X) < 2:
        raise ValueError(f"X_train must have at least 2 rows, got {len(X)}")
    g = torch.Generator().manual_seed(seed)       # minibatches and dequantisation noise

    def batch(idx):
        xb = X[idx]
        if dequantize:
            xb = xb + torch.rand(xb.shape, generator=g, dtype=xb.dtype).to(xb.device)
        return xb

    with seeded(seed):                            # the initial weights; the caller's random state is left alone
        model = RealNVP(X.shape[1], n_couplings, hidden).to(X.device)
    with torch.no_grad():                        # data-dependent initialisation of the normalisation
        X0 = batch(torch.arange(len(X), device=X.device))
        model.loc.copy_(X0.mean(0))
        model.log_scale.copy_(X0.std(0).clamp_min(1e-3).log())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.history = []
    if callback is not None:
        model.eval()
        callback(0, model)

    def step_loss(step):
        idx = torch.randint(len(X), (min(batch_size, len(X)),), generator=g).to(X.device)
        return -model._log_prob(batch(idx)).mean()

    model.history = train_steps(model, step_loss, opt, steps, every=every, callback=callback)
    return model


@checked(f=Function(), x=ROWS)
def autograd_log_det(f: Callable, x) -> torch.Tensor:
    """``log|det J_f(x_i)|`` for every row of ``x (n, d)``, from the full Jacobian by autograd; ``(n,)``.

    ``f`` maps a ``(1, d)`` tensor to a ``(1, d)`` tensor (or to a tuple whose first entry is one,
    like :meth:`RealNVP.forward`). Costs ``n`` Jacobians of size ``d × d`` — the reference the
    cheap coupling formula is checked against.
    """

    def single(v):
        out = f(v[None])
        out = out[0] if isinstance(out, tuple) else out
        return out[0]

    out = []
    for row in x:
        J = torch.autograd.functional.jacobian(single, row)
        if J.ndim != 2 or J.shape[0] != J.shape[1]:
            raise ValueError(f"f must map R^d to R^d (square Jacobian), got a Jacobian of shape {tuple(J.shape)}")
        out.append(torch.linalg.slogdet(J).logabsdet)
    return torch.stack(out)


# ---------------------------------------------------------------- densities of discrete data
@checked(X=BINARY, generator=GENERATOR)
def dequantize(X, generator: torch.Generator | None = None) -> torch.Tensor:
    """``X + U`` with ``U ~ U[0, 1)`` independently per entry: binary rows ``(n, D)`` → points in ``[0, 2)^D``.

    Each binary vector ``x`` becomes a point of its own unit cube ``x + [0, 1)^D``; the cubes of
    different ``x`` do not overlap.
    """
    u = torch.rand(X.shape, generator=generator, dtype=X.dtype).to(X.device)
    return X + u


@checked(log_prob=Function(), X=BINARY, n_samples=COUNT, generator=GENERATOR)
def dequantized_nll(log_prob: Callable, X, n_samples: int = 10, generator: torch.Generator | None = None) -> float:
    """Mean over the rows of binary ``X (n, D)`` and ``n_samples`` noise draws of ``−log_prob(x + u)``.

    ``log_prob`` maps ``(n, D)`` points to ``(n,)`` log-densities (nats). The result (nats per
    row) is an upper bound on the mean discrete NLL ``−log P(x)`` with ``P(x) = ∫ p(x + u) du``.
    """
    total = 0.0
    with torch.no_grad():
        for _ in range(n_samples):
            lp = log_prob(dequantize.unchecked(X, generator))
            total += float(lp.mean())
    return -total / n_samples


# ---------------------------------------------------------------- exercise checkers
def _ref_coupling(x, s, t, mask):
    y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return y, ((1 - mask) * s).sum(dim=1)


def _wrong_coupling_all_s(x, s, t, mask):      # adds the scales of the pass-through half too
    y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return y, s.sum(dim=1)


def _wrong_coupling_exp(x, s, t, mask):        # log-det of exp(s) is s, not exp(s)
    y = mask * x + (1 - mask) * (x * torch.exp(s) + t)
    return y, ((1 - mask) * torch.exp(s)).sum(dim=1)


def _wrong_coupling_shift_first(x, s, t, mask):  # (x + t)·exp(s): invertible, but not the layer asked for
    y = mask * x + (1 - mask) * ((x + t) * torch.exp(s))
    return y, ((1 - mask) * s).sum(dim=1)


@exercise(
    "flows.affine_coupling",
    reference=_ref_coupling,
    wrong=[_wrong_coupling_all_s, _wrong_coupling_exp, _wrong_coupling_shift_first],
    hint="y keeps the masked coordinates (mask = 1) and maps the others to x·exp(s) + t; the Jacobian is "
         "triangular with diagonal 1 (kept) or exp(s_j) (transformed), so log|det| = Σ over the transformed j of s_j.",
)
def _check_affine_coupling(func):
    g = torch.Generator().manual_seed(0)
    for n, d in [(1, 2), (4, 3), (5, 6)]:
        x = torch.randn(n, d, generator=g, dtype=torch.float64)
        s = torch.randn(n, d, generator=g, dtype=torch.float64)
        t = torch.randn(n, d, generator=g, dtype=torch.float64)
        mask = (torch.arange(d) % 2 == 0).double()
        got = func(x.clone(), s.clone(), t.clone(), mask.clone())
        if not (isinstance(got, (tuple, list)) and len(got) == 2):
            raise AssertionError("return a pair (y, log_det)")
        want_y, want_ld = _ref_coupling(x, s, t, mask)
        expect_close(got[0], want_y, f"y for x of shape {(n, d)}", atol=1e-8)
        expect_close(got[1], want_ld, f"log_det for x of shape {(n, d)}", atol=1e-8)
    # the log-det must be the log|det| of the Jacobian when s, t are fixed (independent reference)
    x = torch.randn(3, generator=g, dtype=torch.float64)
    s, t = torch.randn(1, 3, generator=g, dtype=torch.float64), torch.randn(1, 3, generator=g, dtype=torch.float64)
    mask = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: func(v[None], s, t, mask)[0][0], x)
    expect_close(func(x[None], s, t, mask)[1], torch.linalg.slogdet(J).logabsdet[None], "log_det against autograd's Jacobian", atol=1e-8)


def _ref_dequantized_nll(log_prob, X, n_samples, generator):
    total = 0.0
    for _ in range(n_samples):
        total += float(log_prob(X + torch.rand(X.shape, generator=generator, dtype=X.dtype)).mean())
    return -total / n_samples


def _wrong_dequantized_nll_no_noise(log_prob, X, n_samples, generator):
    return -float(log_prob(X).mean())


def _wrong_dequantized_nll_centred(log_prob, X, n_samples, generator):
    total = 0.0
    for _ in range(n_samples):
        total += float(log_prob(X + torch.rand(X.shape, generator=generator, dtype=X.dtype) - 0.5).mean())
    return -total / n_samples


def _wrong_dequantized_nll_sign(log_prob, X, n_samples, generator):
    return -_ref_dequantized_nll(log_prob, X, n_samples, generator)


def _gaussian_log_prob(mean: float, std: float):
    def log_prob(y):
        return (-0.5 * ((y - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(1)
    return log_prob


@exercise("flows.dequantized_nll", reference=_ref_dequantized_nll,
          wrong=[_wrong_dequantized_nll_no_noise, _wrong_dequantized_nll_centred, _wrong_dequantized_nll_sign],
          hint="evaluate log_prob at x + u with u ~ U[0, 1) (torch.rand with the generator), "
               "average −log p over rows and noise draws")
def _check_dequantized_nll(func):
    g = torch.Generator().manual_seed(0)
    X = (torch.rand(200, 3, generator=g) < 0.4).double()
    mean, std = 0.7, 0.6
    # closed form per dimension: E[(x + u − m)²] = (x + ½ − m)² + 1/12 for u ~ U[0, 1)
    sq = ((X + 0.5 - mean) ** 2 + 1 / 12).sum(1)
    want = float((0.5 * sq / std**2 + X.shape[1] * (math.log(std) + 0.5 * math.log(2 * math.pi))).mean())
    got = func(_gaussian_log_prob(mean, std), X, 50, torch.Generator().manual_seed(1))
    try:
        got = float(got)
    except (TypeError, ValueError):
        raise CheckFailed(f"return one number (the mean bound in nats), got {type(got).__name__}") from None
    expect_close(got, want, "the bound for a Gaussian density against its closed form E_u[−log p(x+u)]", atol=0.03, rtol=0)
