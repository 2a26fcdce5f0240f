"""Variational autoencoders (变分自编码器), chapter 14.

The model, with a Bernoulli decoder for binary images and a standard normal prior::

    p(z) = N(0, I)                          prior over the latent z ∈ R^d
    p_θ(x | z) = Π_j Bernoulli(x_j; σ(decode(z)_j))
    q_φ(z | x) = N(μ_φ(x), diag exp(logvar_φ(x)))   the encoder (amortised posterior)

    ELBO(x) = E_q[log p_θ(x | z)] − KL(q_φ(z | x) ‖ p(z))   ≤ log p_θ(x)

The expectation is estimated with the reparameterisation
``z = μ + exp(logvar / 2) ⊙ ε``, ``ε ~ N(0, I)``, so gradients flow through ``z``.

**Stable API** (reused by the latent-diffusion chapter)::

    vae = VAE(input_dim=64, latent_dim=2, hidden=(128,))
    mu, logvar = vae.encode(x)          # x (B, 64) → two (B, latent_dim) tensors
    logits = vae.decode(z)              # z (B, latent_dim) → (B, 64) Bernoulli logits
    vae.elbo(x)                         # (B,) per-example ELBO in nats
    vae.sample(n)                       # (n, 64) decoder means σ(decode(z)), z ~ N(0, I)
    history = train_vae(vae, X_train, steps=3000, lr=2e-3, seed=0)
    train_vae(ae, X_train, deterministic=True)   # the same network as a plain autoencoder
    importance_log_likelihood(vae, x, k=200)     # (B,) the importance-weighted bound on log p(x)
    importance_weighted_bound(log_w)             # (B,) log (1/k) Σ_i exp(log_w_i) from log-weights (k, B)
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.train import train_steps
from nnbook.validate import (COUNT, GENERATOR, NONNEGATIVE, POSITIVE, SEED, check_int, check_tensor, checked, Float,
                             Function, Instance, Tensor)

__all__ = [
    "gaussian_kl",
    "reparameterize",
    "bernoulli_log_likelihood",
    "bernoulli_elbo",
    "VAE",
    "train_vae",
    "independent_pixel_nll",
    "importance_log_likelihood",
    "importance_weighted_bound",
    "reparam_gradient",
    "score_function_gradient",
    "mean_bernoulli_entropy",
]


# ---------------------------------------------------------------- argument rules
class Batch(Tensor):
    """The rule for a batch of rows ``(B, n)`` (flattened images, latent codes) in the default float dtype.

    The model checks the width ``n`` against its own size (:meth:`VAE._fit`).
    """

    def check(self, name, value):
        x = check_tensor(name, value, dtype=torch.get_default_dtype())
        if x.ndim != 2:
            raise ValueError(f"{name} must have shape (batch, n): one row per example (flatten images), got {tuple(x.shape)}")
        return x


ROWS, BATCH = Tensor(ndim=2), Batch(ndim=2)
FLAG = Instance(bool)


# ---------------------------------------------------------------- plain functions (the maths)
def _pair(mu, logvar):
    """``mu, logvar`` after their rules: the same shape; ``logvar`` moved to ``mu``'s dtype and device."""
    if mu.shape != logvar.shape:
        raise ValueError(f"logvar must have the same shape as mu {tuple(mu.shape)}, got {tuple(logvar.shape)}")
    if not mu.is_floating_point():
        mu = mu.to(torch.get_default_dtype())
    return mu, logvar.to(mu.dtype).to(mu.device)


@checked(mu=ROWS, logvar=ROWS)
def gaussian_kl(mu, logvar) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) in closed form, one value per row.

    ``mu``, ``logvar``: ``(B, d)`` with ``logvar = log σ²``. Returns ``(B,)``::

        KL = ½ Σ_k (μ_k² + σ_k² − log σ_k² − 1)
    """
    mu, logvar = _pair(mu, logvar)
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=1)


@checked(mu=ROWS, logvar=ROWS, eps=Tensor(ndim=2, optional=True), generator=GENERATOR)
def reparameterize(mu, logvar, eps=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = μ + σ ⊙ ε`` with ``σ = exp(logvar / 2)`` and ``ε ~ N(0, I)`` (drawn if not given).

    ``mu``, ``logvar``, ``eps``: ``(B, d)``; returns ``z`` of shape ``(B, d)``, differentiable in μ and logvar.
    """
    mu, logvar = _pair(mu, logvar)
    if eps is None:
        eps = torch.randn(mu.shape, generator=generator, device="cpu" if generator is not None else mu.device, dtype=mu.dtype).to(mu.device)
    else:
        if eps.shape != mu.shape:
            raise ValueError(f"eps must have the same shape as mu {tuple(mu.shape)}, got {tuple(eps.shape)}")
        eps = eps.to(device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


@checked(x=ROWS, logits=ROWS)
def bernoulli_log_likelihood(x, logits) -> torch.Tensor:
    """``log p(x | z) = Σ_j [x_j log p_j + (1 − x_j) log(1 − p_j)]`` with ``p = σ(logits)``.

    ``x``, ``logits``: ``(B, D)`` (``x`` in [0, 1]); returns ``(B,)`` in nats. Computed
    from the logits (``binary_cross_entropy_with_logits``), which is stable for large |logits|.
    """
    if x.shape != logits.shape:
        raise ValueError(f"x must have the same shape as logits {tuple(logits.shape)}, got {tuple(x.shape)}")
    x = x.to(device=logits.device, dtype=logits.dtype)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


@checked(x=ROWS, logits=ROWS, mu=ROWS, logvar=ROWS)
def bernoulli_elbo(x, logits, mu, logvar) -> torch.Tensor:
    """One-sample ELBO per example: ``log p(x | z) − KL(q(z | x) ‖ N(0, I))``, shape ``(B,)``.

    ``logits`` are the decoder's output for a ``z`` drawn from ``q(z | x) = N(mu, exp(logvar))``.
    """
    return bernoulli_log_likelihood.unchecked(x, logits) - gaussian_kl.unchecked(mu, logvar).to(logits.device)


# ---------------------------------------------------------------- the model
def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A variational autoencoder with MLP encoder/decoder and a Bernoulli likelihood.

    Parameters
    ----------
    input_dim : number of pixels D (64 for the 8×8 digits).
    latent_dim : size d of the latent z (≥ 1).
    hidden : widths of the hidden layers of the encoder (the decoder mirrors them);
        an int means one hidden layer.

    Shapes: ``x (B, D)`` → ``encode`` → ``mu, logvar (B, d)``; ``z (B, d)`` → ``decode`` → logits ``(B, D)``.
    """

    @checked(input_dim=COUNT, latent_dim=COUNT)
    def __init__(self, input_dim: int = 64, latent_dim: int = 2, hidden: int | Sequence[int] = (128,)):
        super().__init__()
        self.input_dim, self.latent_dim = input_dim, latent_dim
        if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
            hidden = (int(hidden),)
        if not isinstance(hidden, (tuple, list)):
            raise TypeError(f"hidden must be an int or a sequence of ints, got {type(hidden).__name__}")
        self.hidden = tuple(check_int(f"hidden[{i}]", h, min_value=1) for i, h in enumerate(hidden))
        D, d, H = self.input_dim, self.latent_dim, self.hidden
        self.encoder = _mlp([D, *H, 2 * d])          # x → [μ, logvar]
        self.decoder = _mlp([d, *H[::-1], D])        # z → logits of p(x | z)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _fit(self, name: str, x: torch.Tensor, width: int) -> torch.Tensor:
        """``x (B, width)`` after its rule, moved to the parameters' device and dtype."""
        if x.shape[1] != width:
            raise ValueError(f"{name} must have shape (batch, {width}), got {tuple(x.shape)}")
        return x.to(device=self.device, dtype=next(self.parameters()).dtype)

    # The public methods check their arguments; the training loop calls the unchecked _encode, _forward, ...
    @checked(x=BATCH)
    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z | x)``: returns ``mu, logvar``, each ``(B, latent_dim)``."""
        return self._encode(self._fit("x", x, self.input_dim))

    def _encode(self, x):
        return self.encoder(x).chunk(2, dim=1)      # mu, logvar

    @checked(z=BATCH)
    def decode(self, z) -> torch.Tensor:
        """``p(x | z)``: Bernoulli logits ``(B, input_dim)`` for latents ``z (B, latent_dim)``."""
        return self.decoder(self._fit("z", z, self.latent_dim))

    @checked(x=BATCH, generator=GENERATOR)
    def forward(self, x, generator: torch.Generator | None = None):
        """``(logits, mu, logvar)`` for one reparameterised sample ``z ~ q(z | x)`` (ε from ``generator``)."""
        return self._forward(self._fit("x", x, self.input_dim), generator)

    def _forward(self, x, generator=None):
        mu, logvar = self._encode(x)
        z = reparameterize.unchecked(mu, logvar, generator=generator)
        return self.decoder(z), mu, logvar

    @checked(x=BATCH, generator=GENERATOR)
    def elbo_terms(self, x, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(reconstruction, kl)``, each ``(B,)``: ``E_q log p(x|z)`` (one sample) and ``KL(q ‖ p)``."""
        return self._elbo_terms(self._fit("x", x, self.input_dim), generator)

    def _elbo_terms(self, x, generator=None):
        logits, mu, logvar = self._forward(x, generator)
        return bernoulli_log_likelihood.unchecked(x, logits), gaussian_kl.unchecked(mu, logvar)

    @checked(x=BATCH, beta=NONNEGATIVE, generator=GENERATOR)
    def elbo(self, x, beta: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-example ``reconstruction − β·KL`` in nats, shape ``(B,)`` (β = 1: the ELBO).

        One sample ``z ~ q(z | x)`` per row, its ε drawn from ``generator`` (default: torch's global stream).
        """
        rec, kl = self._elbo_terms(self._fit("x", x, self.input_dim), generator)
        return rec - beta * kl

    @torch.no_grad()
    @checked(n=COUNT, binary=FLAG, generator=GENERATOR)
    def sample(self, n: int, binary: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from the model: ``z ~ N(0, I)``, then the decoder mean ``σ(decode(z))``.

        ``binary=True`` draws pixels ``x ~ Bernoulli(σ(decode(z)))`` instead of returning the mean.
        Returns ``(n, input_dim)``.
        """
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        p = torch.sigmoid(self.decoder(self._fit("z", z, self.latent_dim)))
        if binary:
            u = torch.rand(p.shape, generator=generator).to(self.device)
            return (u < p).to(p.dtype)
        return p


@checked(model=Instance(VAE), X=BATCH, steps=COUNT, lr=POSITIVE, batch_size=COUNT, beta=NONNEGATIVE, seed=SEED,
         callback=Function(optional=True), every=COUNT, deterministic=FLAG)
def train_vae(
    model: VAE,
    X,
    *,
    steps: int = 3000,
    lr: float = 2e-3,
    batch_size: int = 128,
    beta: float = 1.0,
    seed: int = 0,
    callback: Callable[[int, VAE], None] | None = None,
    every: int = 100,
    deterministic: bool = False,
) -> list[float]:
    """Train ``model`` by Adam on minibatches of ``X (n, input_dim)``, minimising ``−(rec − β·KL)``.

    Returns the training loss (mean −ELBO_β per example, nats) every ``every`` steps.
    ``callback(step, model)`` is called at the same moments (e.g. to record animation frames).
    The minibatches and the noise ε come from generators seeded with ``seed``: the same seed gives
    the same model, and the caller's global random state is neither used nor changed.

    ``deterministic=True`` trains the same network as a **plain autoencoder** (the control of
    chapter 14): the code is the encoder mean ``z = μ(x)`` (no noise, ``logvar`` unused) and the
    loss is the reconstruction term alone, ``−log p(x | μ(x))`` (no KL, so ``beta`` must stay 1).
    """
    X = model._fit("X", X, model.input_dim)
    if deterministic and beta != 1.0:
        raise ValueError(f"beta weights the KL term, which a deterministic autoencoder does not have; got beta={beta}")
    g = torch.Generator().manual_seed(seed)       # the minibatches
    g_eps = torch.Generator().manual_seed(seed)   # the ε of the reparameterisation (not the caller's global stream)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = len(X)

    def step_loss(step):
        idx = torch.randint(n, (min(batch_size, n),), generator=g).to(X.device)
        if deterministic:                                        # plain autoencoder: z = μ(x), no KL
            x = X[idx]
            return -bernoulli_log_likelihood.unchecked(x, model.decoder(model._encode(x)[0])).mean()
        rec, kl = model._elbo_terms(X[idx], g_eps)
        return -(rec - beta * kl).mean()

    return train_steps(model, step_loss, opt, steps, every=every, callback=callback)


# ---------------------------------------------------------------- evaluation
@checked(X_train=Tensor(ndim=2, dtype=torch.float64), X_test=Tensor(ndim=2, dtype=torch.float64), alpha=POSITIVE)
def independent_pixel_nll(X_train, X_test, alpha: float = 1.0) -> float:
    """Mean test NLL (nats/image) of the best *independent-pixel* Bernoulli model.

    Each pixel gets its own probability, fitted on ``X_train`` with add-``alpha`` smoothing.
    """
    Xtr, Xte = X_train, X_test
    if Xtr.shape[1] != Xte.shape[1]:
        raise ValueError(f"X_test must have {Xtr.shape[1]} columns like X_train, got {Xte.shape[1]}")
    p = (Xtr.sum(0) + alpha) / (len(Xtr) + 2 * alpha)
    ll = Xte @ torch.log(p) + (1 - Xte) @ torch.log1p(-p)
    return float(-ll.mean())


@torch.no_grad()
@checked(model=Instance(VAE), x=BATCH, k=COUNT, generator=GENERATOR)
def importance_log_likelihood(model: VAE, x, k: int = 100, generator: torch.Generator | None = None) -> torch.Tensor:
    """Importance-sampled estimate of ``log p(x)`` with ``k`` samples from ``q(z|x)``, shape ``(B,)``.

    ``log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x)``: a lower bound on ``log p(x)`` that is at least
    the ELBO in expectation and tightens as ``k`` grows (Burda et al., 2016).
    """
    x = model._fit("x", x, model.input_dim)
    mu, logvar = model._encode(x)
    B, d = mu.shape
    eps = torch.randn(k, B, d, generator=generator).to(mu.device)
    std = torch.exp(0.5 * logvar)
    z = mu + std * eps                                           # (k, B, d)
    log_q = (-0.5 * eps.pow(2) - 0.5 * logvar - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_prior = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
    logits = model.decoder(z.reshape(k * B, d)).reshape(k, B, -1)
    log_lik = -F.binary_cross_entropy_with_logits(logits, x.expand(k, B, -1), reduction="none").sum(-1)
    return torch.logsumexp(log_lik + log_prior - log_q, dim=0) - math.log(k)


@checked(log_w=ROWS)
def importance_weighted_bound(log_w) -> torch.Tensor:
    """``log (1/k) Σ_i exp(log_w[i, b])`` for log-weights ``log_w (k, B)``; returns ``(B,)``.

    With ``log_w = log p(x, z_i) − log q(z_i | x)``, ``z_i ~ q``, this is the importance-weighted
    lower bound on ``log p(x)`` (Burda et al., 2016); ``k = 1`` gives a one-sample ELBO.
    Computed with ``logsumexp`` so that large negative log-weights do not underflow.
    """
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


@checked(p=Tensor(dtype=torch.float64))
def mean_bernoulli_entropy(p) -> float:
    """Mean per-pixel entropy ``−p log p − (1−p) log(1−p)`` in nats (0 = binary, log 2 = all grey)."""
    p = p.clamp(1e-12, 1 - 1e-12)
    if bool(((p < 0) | (p > 1)).any()):
        raise ValueError("p must lie in [0, 1]")
    return float((-(p * p.log() + (1 - p) * (1 - p).log())).mean())


# ---------------------------------------------------------------- two gradient estimators (toy problem)
_toy = checked(f=Function(), mu=Float(), log_sigma=Float(), n=COUNT, generator=GENERATOR)


@_toy
def reparam_gradient(f: Callable, mu: float, log_sigma: float, n: int, generator: torch.Generator | None = None):
    """Reparameterised estimate of ``∇_(μ, log σ) E_{z~N(μ,σ²)}[f(z)]`` from ``n`` samples.

    ``z = μ + σ ε``: differentiate ``mean f(z)`` through ``z`` by autograd. Returns a tensor ``(2,)``.
    """
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(log_sigma, dtype=torch.float64, requires_grad=True)
    f(m + s.exp() * eps).mean().backward()
    return torch.stack([m.grad, s.grad]).detach()


@_toy
def score_function_gradient(f: Callable, mu: float, log_sigma: float, n: int, generator: torch.Generator | None = None):
    """Score-function (REINFORCE) estimate of the same gradient: ``mean f(z) ∇ log q(z)``.

    Needs only values of ``f`` (no derivative): ``∇_μ log q = (z−μ)/σ²``,
    ``∇_{log σ} log q = (z−μ)²/σ² − 1``. Returns a tensor ``(2,)``.
    """
    eps = torch.randn(n, generator=generator, dtype=torch.float64)
    sigma = math.exp(log_sigma)
    z = mu + sigma * eps
    with torch.no_grad():
        fz = f(z)
    return torch.stack([(fz * eps / sigma).mean(), (fz * (eps.pow(2) - 1)).mean()])


# ---------------------------------------------------------------- exercise checkers
def _cases(seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(b, d, generator=g, dtype=torch.float64))
            for b, d in [(1, 1), (3, 2), (5, 8)]]


def _wrong_kl_no_half(mu, logvar):
    return (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=1)


def _wrong_kl_std(mu, logvar):
    return 0.5 * (mu.pow(2) + logvar.pow(2) - torch.log(logvar.pow(2)) - 1.0).sum(dim=1)


@exercise(
    "vae.gaussian_kl",
    reference=lambda mu, logvar: gaussian_kl(mu, logvar),
    wrong=[_wrong_kl_no_half, _wrong_kl_std],
    hint="KL = ½ Σ_k (μ_k² + σ_k² − log σ_k² − 1) with σ_k² = exp(logvar_k); sum over the latent dimensions, one value per row.",
)
def _check_gaussian_kl(func):
    for mu, logvar in _cases():
        got = func(mu.clone(), logvar.clone())
        want = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1)
        expect_close(got, want, f"KL for mu of shape {tuple(mu.shape)}", atol=1e-8)
    zero = func(torch.zeros(2, 3, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64))
    expect_close(zero, [0.0, 0.0], "KL(N(0, I) ‖ N(0, I))", atol=1e-10)


@exercise(
    "vae.reparameterize",
    reference=lambda mu, logvar, eps: mu + torch.exp(0.5 * logvar) * eps,
    wrong=[lambda mu, logvar, eps: mu + torch.exp(logvar) * eps,
           lambda mu, logvar, eps: mu + logvar * eps,
           lambda mu, logvar, eps: (mu + torch.exp(0.5 * logvar) * eps).detach()],
    hint="σ = exp(logvar / 2), and z = μ + σ ⊙ ε must stay differentiable in μ and logvar (no .detach(), no torch.no_grad).",
)
def _check_reparameterize(func):
    for mu, logvar in _cases(1):
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        m, lv = mu.clone().requires_grad_(True), logvar.clone().requires_grad_(True)
        z = func(m, lv, eps)
        expect_close(z.detach() if isinstance(z, torch.Tensor) else z, mu + torch.exp(0.5 * logvar) * eps,
                     f"z for shape {tuple(mu.shape)}", atol=1e-8)
        if not (isinstance(z, torch.Tensor) and z.requires_grad):
            raise CheckFailed("z does not depend on mu and logvar through autograd — the whole point of the trick is that gradients flow")
        z.sum().backward()
        expect_close(m.grad, torch.ones_like(mu), "dz/dmu", atol=1e-8)
        expect_close(lv.grad, 0.5 * torch.exp(0.5 * logvar) * eps, "dz/dlogvar", atol=1e-8)


@exercise(
    "vae.bernoulli_elbo",
    reference=lambda x, logits, mu, logvar: bernoulli_elbo(x, logits, mu, logvar),
    wrong=[lambda x, logits, mu, logvar: bernoulli_log_likelihood(x, logits) + gaussian_kl(mu, logvar),
           lambda x, logits, mu, logvar: bernoulli_log_likelihood(x, logits) / x.shape[1] - gaussian_kl(mu, logvar),
           lambda x, logits, mu, logvar: -F.mse_loss(torch.sigmoid(logits), x, reduction="none").sum(1) - gaussian_kl(mu, logvar)],
    hint="ELBO = Σ_pixels [x log p + (1−x) log(1−p)] − KL, with p = sigmoid(logits); sum (not average) over pixels, and subtract the KL.",
)
def _check_bernoulli_elbo(func):
    g = torch.Generator().manual_seed(3)
    for b, D, d in [(1, 4, 1), (4, 64, 2), (3, 10, 5)]:
        x = (torch.rand(b, D, generator=g) < 0.4).double()
        logits = 3 * torch.randn(b, D, generator=g, dtype=torch.float64)
        mu, logvar = torch.randn(b, d, generator=g, dtype=torch.float64), torch.randn(b, d, generator=g, dtype=torch.float64)
        p = torch.sigmoid(logits)
        want = (x * p.log() + (1 - x) * (1 - p).log()).sum(1) - 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1)
        expect_close(func(x, logits, mu, logvar), want, f"ELBO for x of shape {(b, D)}", atol=1e-6)


def _ref_iw_bound(log_w):
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def _wrong_iw_bound_elbo(log_w):
    return log_w.mean(0)


def _wrong_iw_bound_no_k(log_w):
    return torch.logsumexp(log_w, 0)


def _wrong_iw_bound_naive(log_w):
    return torch.log(torch.exp(log_w).mean(0))


@exercise("vae.iw_bound", reference=_ref_iw_bound,
          wrong=[_wrong_iw_bound_elbo, _wrong_iw_bound_no_k, _wrong_iw_bound_naive],
          hint="log of the mean of exp(log_w) over the k rows, computed as logsumexp(log_w, 0) − log k "
               "so that weights like exp(−900) do not underflow to 0")
def _check_iw_bound(func):
    g = torch.Generator().manual_seed(3)
    log_w = torch.randn(7, 4, generator=g, dtype=torch.float64)
    want = torch.log(torch.exp(log_w).mean(0))
    expect_close(func(log_w), want, "log mean exp of small log-weights (k = 7, B = 4)")
    big = log_w - 900.0                                         # log p(x) of a real image: hundreds of nats
    expect_close(func(big), want - 900.0, "log-weights around −900 (exp underflows in float64)", atol=1e-6)
