"""Comparing generative models on one dataset (生成模型比较), chapter 17.

The helpers the comparison chapter needs on top of each family's own module:

- :func:`timed` ``(fn, *args, **kwargs) -> (result, seconds)`` — CPU time of one call
  (``time.process_time``; on a GPU the device is synchronised and wall time is used).
- :func:`dequantize` ``(X, generator) -> X + U``, ``U ~ U[0, 1)^D``: binary rows made continuous.
- :func:`dequantized_nll` ``(log_prob, X, n_samples) -> float`` — the Monte Carlo estimate of::

      E_u[−log p(x + u)]  ≥  −log P(x),     P(x) = ∫_{[0,1)^D} p(x + u) du

  an upper bound (in nats) on the negative log-likelihood of the *discrete* data under the
  discrete model ``P`` that a continuous density ``p`` defines (Jensen's inequality).
- :func:`edge_energy` ``(X) -> float`` — mean squared difference of neighbouring pixels of 8×8
  images: a simple sharpness measure (blur lowers it).
- :func:`importance_weighted_bound` ``(log_w) -> (B,)`` — ``log (1/k) Σ_i exp(log_w_i)``, the
  importance-weighted bound on ``log p(x)`` from ``k`` log-weights per example.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import torch

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.validate import check_callable, check_float, check_int, check_tensor

__all__ = [
    "timed",
    "dequantize",
    "dequantized_nll",
    "edge_energy",
    "importance_weighted_bound",
]


# ---------------------------------------------------------------- timing
def timed(fn: Callable, *args, **kwargs):
    """Call ``fn(*args, **kwargs)``; return ``(result, seconds)``.

    On the CPU the seconds are **CPU time** of this process (``time.process_time``), which other
    programs on a shared machine barely disturb. If CUDA is in use the device is synchronised
    before and after and wall time (``time.perf_counter``) is returned instead.
    """
    check_callable("fn", fn)
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    clock = time.perf_counter if cuda else time.process_time
    if cuda:
        torch.cuda.synchronize()
    start = clock()
    result = fn(*args, **kwargs)
    if cuda:
        torch.cuda.synchronize()
    return result, clock() - start


# ---------------------------------------------------------------- dequantisation
def _binary_rows(name: str, X) -> torch.Tensor:
    X = check_tensor(name, X, ndim=2, dtype=torch.get_default_dtype())
    if len(X) == 0:
        raise ValueError(f"{name} must have at least one row")
    if not bool(((X == 0) | (X == 1)).all()):
        raise ValueError(f"{name} must contain only 0 and 1 (binarised data, e.g. load_digits(binarize=True))")
    return X.to(torch.get_default_dtype()) if not X.is_floating_point() else X


def dequantize(X, generator: torch.Generator | None = None) -> torch.Tensor:
    """``X + U`` with ``U ~ U[0, 1)`` independently per entry: binary rows ``(n, D)`` → points in ``[0, 2)^D``.

    Each binary vector ``x`` becomes a point of its own unit cube ``x + [0, 1)^D``; the cubes of
    different ``x`` do not overlap.
    """
    X = _binary_rows("X", X)
    u = torch.rand(X.shape, generator=generator, dtype=X.dtype).to(X.device)
    return X + u


def dequantized_nll(log_prob: Callable, X, n_samples: int = 10, generator: torch.Generator | None = None) -> float:
    """Mean over the rows of binary ``X (n, D)`` and ``n_samples`` noise draws of ``−log_prob(x + u)``.

    ``log_prob`` maps ``(n, D)`` points to ``(n,)`` log-densities (nats). The result (nats per
    row) is an upper bound on the mean discrete NLL ``−log P(x)`` with ``P(x) = ∫ p(x + u) du``.
    """
    check_callable("log_prob", log_prob)
    X = _binary_rows("X", X)
    n_samples = check_int("n_samples", n_samples, min_value=1)
    total = 0.0
    with torch.no_grad():
        for _ in range(n_samples):
            lp = log_prob(dequantize(X, generator))
            total += float(lp.mean())
    return -total / n_samples


# ---------------------------------------------------------------- sharpness
def edge_energy(X) -> float:
    """Mean squared difference between horizontally and vertically adjacent pixels of 8×8 images.

    ``X (n, 64)``: rows of 8×8 images. Averages ``(x[i, j+1] − x[i, j])²`` over the 8·7 horizontal
    pairs and ``(x[i+1, j] − x[i, j])²`` over the 7·8 vertical pairs, then over the images. A blurred
    image has smaller differences between neighbours, so a lower value.
    """
    X = check_tensor("X", X, ndim=2, dtype=torch.float64)
    if X.shape[1] != 64 or len(X) == 0:
        raise ValueError(f"X must have shape (n, 64) with n ≥ 1 (8×8 images as rows), got {tuple(X.shape)}")
    img = X.double().reshape(-1, 8, 8)
    dh = (img[:, :, 1:] - img[:, :, :-1]).pow(2)
    dv = (img[:, 1:, :] - img[:, :-1, :]).pow(2)
    return float(torch.cat([dh.flatten(1), dv.flatten(1)], 1).mean())


# ---------------------------------------------------------------- importance-weighted bound
def importance_weighted_bound(log_w) -> torch.Tensor:
    """``log (1/k) Σ_i exp(log_w[i, b])`` for log-weights ``log_w (k, B)``; returns ``(B,)``.

    With ``log_w = log p(x, z_i) − log q(z_i | x)``, ``z_i ~ q``, this is the importance-weighted
    lower bound on ``log p(x)`` (Burda et al., 2016); ``k = 1`` gives a one-sample ELBO.
    Computed with ``logsumexp`` so that large negative log-weights do not underflow.
    """
    log_w = check_tensor("log_w", log_w, ndim=2)
    if log_w.shape[0] == 0 or log_w.shape[1] == 0:
        raise ValueError(f"log_w must have shape (k, B) with k, B ≥ 1, got {tuple(log_w.shape)}")
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


# ---------------------------------------------------------------- exercise checkers
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


@exercise("comparison.dequantized_nll", reference=_ref_dequantized_nll,
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


def _ref_edge_energy(X):
    img = X.reshape(-1, 8, 8)
    dh = (img[:, :, 1:] - img[:, :, :-1]) ** 2
    dv = (img[:, 1:, :] - img[:, :-1, :]) ** 2
    return float(torch.cat([dh.flatten(1), dv.flatten(1)], 1).mean())


def _wrong_edge_energy_horizontal(X):
    img = X.reshape(-1, 8, 8)
    return float(((img[:, :, 1:] - img[:, :, :-1]) ** 2).mean())


def _wrong_edge_energy_flat(X):
    return float(((X[:, 1:] - X[:, :-1]) ** 2).mean())


@exercise("comparison.edge_energy", reference=_ref_edge_energy,
          wrong=[_wrong_edge_energy_horizontal, _wrong_edge_energy_flat],
          hint="reshape each row to 8×8; use both horizontal (columns j, j+1) and vertical (rows i, i+1) "
               "neighbours, 56 pairs each; do not pair the last pixel of a row with the first of the next")
def _check_edge_energy(func):
    stripes = torch.zeros(1, 8, 8, dtype=torch.float64)
    stripes[:, :, ::2] = 1.0                                   # vertical stripes: only horizontal edges
    expect_close(float(func(stripes.reshape(1, 64))), 0.5, "vertical stripes (56 of 112 neighbour pairs differ)")
    g = torch.Generator().manual_seed(2)
    X = torch.rand(5, 64, generator=g, dtype=torch.float64)
    expect_close(float(func(X)), edge_energy(X), "random 8×8 images")
    if abs(float(func(torch.full((3, 64), 0.3, dtype=torch.float64)))) > 1e-12:
        raise CheckFailed("a constant image has no edges: edge energy 0")


def _ref_iw_bound(log_w):
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def _wrong_iw_bound_elbo(log_w):
    return log_w.mean(0)


def _wrong_iw_bound_no_k(log_w):
    return torch.logsumexp(log_w, 0)


def _wrong_iw_bound_naive(log_w):
    return torch.log(torch.exp(log_w).mean(0))


@exercise("comparison.iw_bound", reference=_ref_iw_bound,
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
