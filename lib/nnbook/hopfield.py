"""Discrete Hopfield networks (DHNN, 离散 Hopfield 网络) and associative memory.

States are vectors of ±1. A batch of ``B`` states of ``N`` neurons is a tensor
``(B, N)``; a set of ``M`` stored patterns is ``(M, N)`` (one pattern per row).

The equations, as in the chapter:

- local field (加权和)       h = W x − θ
- update (符号函数)           x_i ← sgn(h_i), with sgn(0) = +1 as in the notes
- energy (能量函数)           E(x) = −½ xᵀ W x + θᵀ x
- Hebbian rule (Hebb 规则)    W = (1/N) (Σ_μ ξ^μ ξ^μᵀ − M I)
- modern Hopfield update      ξ_new = Xᵀ softmax(β X ξ)   (X: patterns as rows)
- hetero-association (异联想)  W = (1/N_x) Σ_μ y^μ x^μᵀ,  y = sgn(W x)  (and back: x = sgn(Wᵀ y), a BAM)

Every function creates its tensors on the device of its inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from nnbook.exercises import exercise, expect_close
from nnbook.validate import (COUNT, NONNEGATIVE, POSITIVE, PROBABILITY, SEED, Function, Int, OneOf, Tensor,
                             check_int, check_tensor, checked)

__all__ = [
    "check_patterns",
    "check_weights",
    "sgn",
    "hebbian_weights",
    "pseudo_inverse_weights",
    "perceptron_weights",
    "repeated_learning_weights",
    "hetero_weights",
    "bam_recall",
    "prune_weights",
    "layered_weights",
    "layered_recall",
    "local_field",
    "energy",
    "async_step",
    "async_sweep",
    "sync_step",
    "RunResult",
    "run",
    "is_fixed_point",
    "all_states",
    "attractor_map",
    "classify_attractors",
    "overlap",
    "flip_noise",
    "capacity_curve",
    "modern_update",
    "modern_recall",
]


# ----------------------------------------------------------------------------- checks
def check_patterns(name: str, patterns, *, ndim=2) -> torch.Tensor:
    """Return ``patterns`` as a float tensor whose entries are all −1 or +1, or raise."""
    t = check_tensor(name, patterns, ndim=ndim)
    if t.dtype == torch.bool or not (t.is_floating_point() or t.dtype in (torch.int64, torch.int32, torch.int8)):
        raise TypeError(f"{name} must hold numbers -1 and +1, got dtype {t.dtype}")
    t = t.to(torch.get_default_dtype()) if not t.is_floating_point() else t
    if not bool(((t == 1) | (t == -1)).all()):
        bad = t[(t != 1) & (t != -1)].flatten()[:3].tolist()
        raise ValueError(f"{name} must contain only -1 and +1 (bipolar states), found e.g. {bad}; map 0/1 data with 2*x - 1")
    return t


def check_weights(W, *, symmetric: bool = True, name: str = "W") -> torch.Tensor:
    """Return ``W`` as a float ``(N, N)`` tensor; if ``symmetric``, require Wᵀ = W."""
    W = check_tensor(name, W, ndim=2, dtype=torch.get_default_dtype() if not isinstance(W, torch.Tensor) or not W.is_floating_point() else None)
    if W.shape[0] != W.shape[1]:
        raise ValueError(f"{name} must be a square (N, N) matrix, got shape {tuple(W.shape)}")
    if symmetric and not torch.allclose(W, W.T, atol=1e-6, rtol=1e-6):
        raise ValueError(f"{name} must be symmetric (W_ij = W_ji) for this update rule; largest |W - W.T| = {float((W - W.T).abs().max()):.3g}")
    return W


class Bipolar(Tensor):
    """The rule for ±1 states or patterns (see :func:`check_patterns`)."""

    def check(self, name, value):
        return check_patterns(name, value, ndim=self.ndim)


@dataclass(frozen=True)
class Weights(Tensor):
    """The rule for a square weight matrix ``(N, N)``; ``symmetric``: Wᵀ = W required."""

    ndim: int = 2
    symmetric: bool = False

    def check(self, name, value):
        return check_weights(value, symmetric=self.symmetric, name=name)


PATTERNS, STATE, THETA = Bipolar(ndim=2), Bipolar(ndim=(1, 2)), Tensor(ndim=1, optional=True)


def _state(W: torch.Tensor, x, name: str = "x") -> tuple[torch.Tensor, bool]:
    """A state ``(N,)`` or batch ``(B, N)`` that matches ``W``, as a 2-D batch and whether it was 1-D."""
    x = x.to(device=W.device, dtype=W.dtype)
    if x.shape[-1] != W.shape[0]:
        raise ValueError(f"{name} has {x.shape[-1]} neurons but W is {tuple(W.shape)}; expected last dimension {W.shape[0]}")
    return (x.unsqueeze(0), True) if x.ndim == 1 else (x, False)


def _theta(W: torch.Tensor, theta) -> torch.Tensor:
    if theta is None:
        return torch.zeros(W.shape[0], dtype=W.dtype, device=W.device)
    theta = theta.to(device=W.device, dtype=W.dtype)
    if theta.shape[0] != W.shape[0]:
        raise ValueError(f"theta must have shape ({W.shape[0]},), got {tuple(theta.shape)}")
    return theta


@checked(h=Tensor())
def sgn(h: torch.Tensor) -> torch.Tensor:
    """The notes' sign function: +1 where h ≥ 0, −1 where h < 0 (so sgn(0) = +1)."""
    return torch.where(h >= 0, torch.ones_like(h), -torch.ones_like(h))


# ----------------------------------------------------------------------------- learning rules
@checked(patterns=PATTERNS)
def hebbian_weights(patterns, *, normalize: bool = True) -> torch.Tensor:
    """Hebbian outer-product rule: W = (1/N) (Σ_μ ξ^μ ξ^μᵀ − M I), shape ``(N, N)``.

    ``patterns`` is ``(M, N)`` of ±1. Subtracting M·I zeroes the diagonal (no
    self-connection). ``normalize=False`` leaves out the 1/N.
    """
    X = patterns
    M, N = X.shape
    W = X.T @ X - M * torch.eye(N, dtype=X.dtype, device=X.device)
    return W / N if normalize else W


@checked(patterns=PATTERNS)
def pseudo_inverse_weights(patterns, *, zero_diagonal: bool = True) -> torch.Tensor:
    """Projection (pseudo-inverse) rule: W = Xᵀ (X Xᵀ)⁺ X, shape ``(N, N)``.

    W projects onto the span of the patterns, so W ξ^μ = ξ^μ for every stored
    pattern, however correlated the patterns are (while they are linearly
    independent). ``zero_diagonal=True`` then removes self-connections, which
    enlarges the basins of attraction.
    """
    X = patterns
    W = X.T @ torch.linalg.pinv(X @ X.T) @ X
    if zero_diagonal:
        W = W - torch.diag(torch.diagonal(W))
    return (W + W.T) / 2


@checked(patterns=PATTERNS, margin=NONNEGATIVE, lr=POSITIVE, epochs=Int(0), init=Weights(symmetric=True))
def perceptron_weights(patterns, *, margin: float = 1.0, lr: float = 0.1, epochs: int = 100, init=None) -> torch.Tensor:
    """Error-correcting (perceptron-style) learning of a symmetric, zero-diagonal W.

    Start from the Hebbian W (or ``init``). Each epoch, for every pattern ξ
    and every neuron i whose aligned field ξ_i h_i is below ``margin``
    (h = W ξ), add a Hebbian correction for that neuron only::

        e_i = ξ_i · [ξ_i h_i < margin],   ΔW = (lr / N) (e ξᵀ + ξ eᵀ) / 2

    with the diagonal kept at zero. Stops early once every neuron of every
    pattern has ξ_i h_i ≥ margin. Returns ``W`` ``(N, N)``.
    """
    X = patterns
    M, N = X.shape
    W = hebbian_weights.unchecked(X) if init is None else init.to(device=X.device, dtype=X.dtype).clone()
    if W.shape[0] != N:
        raise ValueError(f"init must have shape ({N}, {N}), got {tuple(W.shape)}")
    off = 1 - torch.eye(N, dtype=X.dtype, device=X.device)
    for _ in range(epochs):
        H = X @ W  # (M, N): fields of every pattern (W symmetric)
        E = X * (X * H < margin)  # (M, N): e^μ, non-zero where neuron i of pattern μ is not stable enough
        if not bool(E.any()):
            break
        dW = (E.T @ X + X.T @ E) / 2
        W = W + lr / N * dW * off
    return W


@checked(patterns=PATTERNS, lr=POSITIVE, epochs=Int(0))
def repeated_learning_weights(patterns, *, lr: float = 0.1, epochs: int = 200) -> torch.Tensor:
    """Repeated learning (反复学习法): re-learn, whole, every pattern that is not yet stable.

    Start from the Hebbian W. Each epoch, every pattern ξ that is not a fixed
    point (some neuron has ξ_i h_i ≤ 0, h = W ξ) is learned once more with
    the Hebbian rule, ``W += (lr / N) ξ ξᵀ`` (diagonal kept at zero); the
    result is a weighted Hebbian sum W = (1/N) Σ_μ c_μ ξ^μ ξ^μᵀ. Stops when
    every pattern is a fixed point. Returns the W of the epoch with the most
    fixed points (the first such epoch), shape ``(N, N)``.

    Compare :func:`perceptron_weights`, which corrects only the neurons that
    are wrong (ΔW ∝ e ξᵀ) instead of the whole pattern (ΔW ∝ ξ ξᵀ).
    """
    X = patterns
    M, N = X.shape
    off = 1 - torch.eye(N, dtype=X.dtype, device=X.device)
    W = hebbian_weights.unchecked(X)
    best, best_stable = W, -1
    for _ in range(epochs + 1):
        unstable = (X * (X @ W) <= 0).any(-1)  # (M,): patterns that are not fixed points
        if M - int(unstable.sum()) > best_stable:
            best, best_stable = W, M - int(unstable.sum())
        if not bool(unstable.any()):
            break
        Xu = X[unstable]
        W = W + lr / N * (Xu.T @ Xu) * off
    return best


@checked(inputs=PATTERNS, outputs=PATTERNS)
def hetero_weights(inputs, outputs) -> torch.Tensor:
    """Hetero-associative (异联想) Hebbian weights W = (1/N_x) Σ_μ y^μ x^μᵀ, shape ``(N_y, N_x)``.

    ``inputs`` X is ``(M, N_x)`` and ``outputs`` Y is ``(M, N_y)``, row μ of each
    a stored pair x^μ → y^μ (both ±1). Recall: y = sgn(W x); see :func:`bam_recall`.
    """
    X, Y = inputs, outputs.to(device=inputs.device, dtype=inputs.dtype)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"inputs and outputs must hold the same number of pairs M, got {X.shape[0]} and {Y.shape[0]}")
    return Y.T @ X / X.shape[1]


@checked(W=Tensor(ndim=2), x=STATE, max_steps=Int(0))
def bam_recall(W, x, *, max_steps: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    """Recall in a bidirectional associative memory (BAM, two layers x and y) with weights ``W`` ``(N_y, N_x)``.

    First y = sgn(W x); then, ``max_steps`` times or until nothing changes,
    x = sgn(Wᵀ y) and y = sgn(W x). ``max_steps=0`` is one-shot
    hetero-association. ``x`` is ``(N_x,)`` or ``(B, N_x)``; returns ``(x, y)``.
    """
    W = W if W.is_floating_point() else W.to(torch.get_default_dtype())
    xb = x.to(device=W.device, dtype=W.dtype)
    if xb.shape[-1] != W.shape[1]:
        raise ValueError(f"x has {xb.shape[-1]} entries but W is {tuple(W.shape)}; expected {W.shape[1]}")
    single = xb.ndim == 1
    xb = xb.reshape(-1, W.shape[1])
    y = sgn.unchecked(xb @ W.T)
    for _ in range(max_steps):
        x_new = sgn.unchecked(y @ W)
        y_new = sgn.unchecked(x_new @ W.T)
        done = torch.equal(x_new, xb) and torch.equal(y_new, y)
        xb, y = x_new, y_new
        if done:
            break
    return (xb[0], y[0]) if single else (xb, y)


@checked(W=Weights(symmetric=True), fraction=PROBABILITY)
def prune_weights(W, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a random ``fraction`` of the connections of ``W`` to zero (W_ij and W_ji together, so W stays symmetric)."""
    N = W.shape[0]
    cut = torch.triu(torch.rand(N, N, generator=generator) < fraction, 1).to(W.device)
    cut = cut | cut.T
    return torch.where(cut, torch.zeros_like(W), W)


@checked(patterns=PATTERNS, modules=COUNT)
def layered_weights(patterns, modules: int) -> torch.Tensor:
    """A layered DHNN (分层 DHNN): ``modules`` Hebbian sub-networks, each storing its share of the patterns.

    The ``M`` patterns (rows) are split in order into ``modules`` groups of
    (nearly) equal size; returns the weights ``(modules, N, N)``.
    """
    M = patterns.shape[0]
    if modules > M:
        raise ValueError(f"modules must be at most the number of patterns M = {M}, got {modules}")
    return torch.stack([hebbian_weights.unchecked(G) for G in torch.tensor_split(patterns, modules)])


@checked(Ws=Tensor(ndim=3), x=STATE, max_steps=COUNT)
def layered_recall(Ws, x, *, max_steps: int = 20) -> torch.Tensor:
    """Recall in a layered DHNN: every module settles from ``x``; the top layer keeps the best.

    Lower layer: each module ``Ws[k]`` (``(K, N, N)``) runs sequential
    asynchronous sweeps from ``x`` (``(N,)`` or ``(B, N)``). Top layer
    (winner-take-all): the final state with the largest overlap with ``x``.
    """
    if Ws.shape[1] != Ws.shape[2]:
        raise ValueError(f"Ws must have shape (K, N, N), got {tuple(Ws.shape)}")
    xb, single = _state(Ws[0], x)
    outs = torch.stack([run.unchecked(W, xb, max_steps=max_steps).state for W in Ws])  # (K, B, N)
    best = (outs * xb).sum(-1).argmax(0)  # (B,): the module whose state agrees most with the input
    out = outs[best, torch.arange(len(xb), device=xb.device)]
    return out[0] if single else out


# ----------------------------------------------------------------------------- dynamics
@checked(W=Weights(), x=STATE, theta=THETA)
def local_field(W, x, theta=None) -> torch.Tensor:
    """h = W x − θ for a state ``(N,)`` or batch ``(B, N)`` (same shape out)."""
    xb, single = _state(W, x)
    h = xb @ W.T - _theta(W, theta)
    return h[0] if single else h


@checked(W=Weights(), x=STATE, theta=THETA)
def energy(W, x, theta=None) -> torch.Tensor:
    """E(x) = −½ xᵀ W x + θᵀ x; a scalar for ``(N,)``, shape ``(B,)`` for ``(B, N)``."""
    xb, single = _state(W, x)
    E = -0.5 * ((xb @ W.T) * xb).sum(-1) + xb @ _theta(W, theta)
    return E[0] if single else E


@checked(W=Weights(), x=STATE, theta=THETA, i=Int(0))
def async_step(W, x, i: int, theta=None) -> torch.Tensor:
    """Update neuron ``i`` only: x_i ← sgn(Σ_j W_ij x_j − θ_i). Returns a new state."""
    xb, single = _state(W, x)
    if i >= W.shape[0]:
        raise ValueError(f"i must be <= {W.shape[0] - 1} (a neuron of W), got {i}")
    th = _theta(W, theta)
    out = xb.clone()
    out[:, i] = sgn.unchecked(xb @ W[i] - th[i])
    return out[0] if single else out


@checked(W=Weights(), x=STATE, theta=THETA)
def async_sweep(W, x, order=None, theta=None) -> torch.Tensor:
    """One asynchronous sweep: update every neuron once, one at a time, in ``order``.

    ``order`` is a sequence of neuron indices (default 0, 1, …, N−1). Each
    update already sees the new values of the neurons updated before it.
    """
    xb, single = _state(W, x)
    N = W.shape[0]
    order = range(N) if order is None else [check_int("order[k]", int(i), min_value=0, max_value=N - 1) for i in order]
    th = _theta(W, theta)
    out = xb.clone()
    for i in order:
        out[:, i] = torch.where(out @ W[i] >= th[i], 1.0, -1.0)  # sgn(h_i), sgn(0) = +1
    return out[0] if single else out


@checked(W=Weights(), x=STATE, theta=THETA)
def sync_step(W, x, theta=None) -> torch.Tensor:
    """Synchronous (parallel) update: every neuron at once, x ← sgn(W x − θ)."""
    xb, single = _state(W, x)
    out = sgn.unchecked(xb @ W.T - _theta(W, theta))
    return out[0] if single else out


@checked(W=Weights(), x=STATE, theta=THETA)
def is_fixed_point(W, x, theta=None) -> torch.Tensor:
    """Whether sgn(W x − θ) = x (a stable state, 稳定态); bool scalar or ``(B,)``."""
    xb, single = _state(W, x)
    ok = (sgn.unchecked(xb @ W.T - _theta(W, theta)) == xb).all(-1)
    return ok[0] if single else ok


@dataclass
class RunResult:
    """What :func:`run` returns.

    ``state`` (B, N) final states; ``converged`` (B,) reached a fixed point;
    ``period`` (B,) 1 for a fixed point, 2 for a 2-cycle (sync only), 0 if
    neither was reached; ``steps`` sweeps (async) or steps (sync) taken;
    ``energies`` (steps + 1, B) energy after each sweep/step; ``history`` the
    states after each sweep/step (only with ``record=True``).
    """

    state: torch.Tensor
    converged: torch.Tensor
    period: torch.Tensor
    steps: int
    energies: torch.Tensor
    history: list = field(default_factory=list)


@checked(W=Weights(), x=STATE, theta=THETA, mode=OneOf(("async", "sync")), max_steps=COUNT,
         order=OneOf(("sequential", "random")))
def run(W, x, *, mode: str = "async", max_steps: int = 100, order: str = "sequential", theta=None,
        generator: torch.Generator | None = None, record: bool = False) -> RunResult:
    """Iterate the network from ``x`` (``(N,)`` or ``(B, N)``) until every state stops changing.

    ``mode="async"``: sweeps of one-at-a-time updates, neurons in index order
    (``order="sequential"``) or a fresh random permutation each sweep
    (``order="random"``, using ``generator``). ``mode="sync"``: all neurons at
    once; a state that returns to where it was two steps ago is reported as a
    2-cycle (``period`` 2) and stops there.
    """
    xb, _ = _state(W, x)
    th = _theta(W, theta)
    N = W.shape[0]
    cur, prev = xb.clone(), None
    period = torch.zeros(len(cur), dtype=torch.long, device=W.device)
    energies = [energy.unchecked(W, cur, th)]
    history = [cur.clone()] if record else []
    steps = 0
    for steps in range(1, max_steps + 1):
        active = period == 0  # only states still moving are updated (settled ones stay put)
        new = cur.clone()
        if mode == "async":
            perm = torch.randperm(N, generator=generator).tolist() if order == "random" else range(N)
            new[active] = async_sweep.unchecked(W, cur[active], perm, th) if bool(active.any()) else new[active]
        else:
            new[active] = sync_step.unchecked(W, cur[active], th)
        fixed = (new == cur).all(-1)
        two_cycle = (new == prev).all(-1) & ~fixed if prev is not None else torch.zeros_like(fixed)
        settled = period > 0
        period = torch.where(~settled & fixed, torch.ones_like(period), period)
        if mode == "sync":
            period = torch.where(~settled & two_cycle, torch.full_like(period, 2), period)
        move = ~settled & (period != 2)  # a detected 2-cycle stops where it is
        prev, cur = cur, torch.where(move.unsqueeze(-1), new, cur)
        energies.append(energy.unchecked(W, cur, th))
        if record:
            history.append(cur.clone())
        if bool((period > 0).all()):
            break
    return RunResult(cur, period == 1, period, steps, torch.stack(energies), history)


# ----------------------------------------------------------------------------- attractors
@checked(N=Int(1, 20))
def all_states(N: int, device=None) -> torch.Tensor:
    """All 2^N states of N ±1 neurons, shape ``(2^N, N)``; row k is k in binary (bit 1 → +1)."""
    k = torch.arange(2**N, device=device).unsqueeze(1)
    bits = (k >> torch.arange(N - 1, -1, -1, device=device)) & 1
    return (2 * bits - 1).to(torch.get_default_dtype())


@checked(W=Weights(symmetric=True), theta=THETA, mode=OneOf(("async", "sync")), max_steps=COUNT)
def attractor_map(W, *, mode: str = "async", theta=None, max_steps: int = 200):
    """Run the network from every one of the 2^N states (sequential async sweeps or sync).

    Returns ``(attractors, basin_sizes, final_index)``: the distinct final
    fixed points ``(A, N)``, how many start states end in each ``(A,)``, and
    for every start state the index of its attractor (−1 if it did not reach
    a fixed point, e.g. a sync 2-cycle). ``W`` must be symmetric: that is
    what guarantees (asynchronous) convergence.
    """
    N = W.shape[0]
    X = all_states(N, device=W.device).to(W.dtype)
    res = run.unchecked(W, X, mode=mode, max_steps=max_steps, theta=theta)
    finals = res.state[res.converged]
    attractors, inverse, sizes = torch.unique(finals, dim=0, return_inverse=True, return_counts=True)
    final_index = torch.full((len(X),), -1, dtype=torch.long, device=W.device)
    final_index[res.converged] = inverse
    return attractors, sizes, final_index


@checked(attractors=PATTERNS, patterns=PATTERNS)
def classify_attractors(attractors, patterns) -> list[str]:
    """Label each fixed point ``(A, N)``: "pattern", "negated", "mixture" or "other".

    "mixture" means sgn(±ξ^a ± ξ^b ± ξ^c) for some three stored patterns
    (the classic odd mixture states, 混合态); anything else is "other".
    """
    A = attractors
    X = patterns.to(device=A.device, dtype=A.dtype)
    if A.shape[1] != X.shape[1]:
        raise ValueError(f"attractors have {A.shape[1]} neurons but patterns have {X.shape[1]}")
    mixtures = []
    M = len(X)
    signs = torch.tensor([[a, b, c] for a in (1, -1) for b in (1, -1) for c in (1, -1)], dtype=A.dtype, device=A.device)
    for i in range(M):
        for j in range(i + 1, M):
            for k in range(j + 1, M):
                mixtures.append(sgn.unchecked(signs @ X[[i, j, k]]))
    mix = torch.cat(mixtures) if mixtures else A[:0]
    labels = []
    for a in A:
        if bool((X == a).all(-1).any()):
            labels.append("pattern")
        elif bool((X == -a).all(-1).any()):
            labels.append("negated")
        elif len(mix) and bool((mix == a).all(-1).any()):
            labels.append("mixture")
        else:
            labels.append("other")
    return labels


# ----------------------------------------------------------------------------- recall
@checked(x=STATE, patterns=STATE)
def overlap(x, patterns) -> torch.Tensor:
    """m = x·ξ / N, the overlap (1 = identical, −1 = negated) of state(s) ``x`` with ``patterns``.

    For ``x`` ``(B, N)`` and ``patterns`` ``(B, N)`` returns the row-wise overlaps ``(B,)``.
    """
    p = patterns.to(device=x.device, dtype=x.dtype)
    if x.shape != p.shape:
        raise ValueError(f"x and patterns must have the same shape, got {tuple(x.shape)} and {tuple(p.shape)}")
    return (x * p).sum(-1) / x.shape[-1]


@checked(x=STATE, p=PROBABILITY)
def flip_noise(x, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each ±1 entry of ``x`` independently with probability ``p``."""
    flip = torch.rand(x.shape, generator=generator).to(x.device) < p
    return torch.where(flip, -x, x)


@checked(N=Int(2), loads=Tensor(ndim=1, dtype=torch.float64), trials=COUNT,
         rule=OneOf(("hebbian", "pseudo_inverse", "perceptron", "repeated")), noise=PROBABILITY, max_sweeps=COUNT, seed=SEED,
         patterns_fn=Function(optional=True))
def capacity_curve(N: int, loads, *, trials: int = 5, rule: str = "hebbian", noise: float = 0.0,
                   max_sweeps: int = 30, seed: int = 0, device=None, patterns_fn=None):
    """Recall of random patterns against the load α = M/N.

    For each load, ``trials`` times: draw M = round(α N) random ±1 patterns
    (or ``patterns_fn(M, N, generator)``), learn W with ``rule``
    ("hebbian", "pseudo_inverse", "perceptron", "repeated"), start from every pattern
    with a fraction ``noise`` of bits flipped, run random-order asynchronous
    sweeps to a fixed point, and measure the final overlap with the pattern.

    Returns a dict of tensors ``(len(loads),)``: ``load``, ``mean_overlap``
    and ``recalled`` (fraction of patterns ending with < 1% wrong bits).
    """
    if bool((loads <= 0).any()):
        raise ValueError("loads must all be > 0")
    g = torch.Generator().manual_seed(seed)
    learn = {"hebbian": hebbian_weights, "pseudo_inverse": pseudo_inverse_weights, "perceptron": perceptron_weights,
             "repeated": repeated_learning_weights}[rule]
    mean_m, recalled = [], []
    for load in loads.tolist():
        M = max(1, round(load * N))
        ms = []
        for _ in range(trials):
            if patterns_fn is None:
                X = (2 * (torch.rand(M, N, generator=g) < 0.5) - 1).to(torch.get_default_dtype())
            else:
                X = check_patterns("patterns_fn(M, N, generator)", patterns_fn(M, N, g))
            X = X.to(device)
            W = learn(X)
            x0 = flip_noise.unchecked(X, noise, g) if noise > 0 else X
            res = run.unchecked(W, x0, mode="async", order="random", max_steps=max_sweeps, generator=g)
            ms.append(overlap.unchecked(res.state, X))
        m = torch.cat(ms)
        mean_m.append(float(m.mean()))
        recalled.append(float((m > 0.98).float().mean()))
    return {"load": loads.float(), "mean_overlap": torch.tensor(mean_m), "recalled": torch.tensor(recalled)}


# ----------------------------------------------------------------------------- modern Hopfield
@checked(patterns=Tensor(ndim=2), xi=Tensor(ndim=(1, 2)), beta=NONNEGATIVE)
def modern_update(patterns, xi, beta: float = 1.0) -> torch.Tensor:
    """One step of the modern (continuous) Hopfield network: ξ_new = Xᵀ softmax(β X ξ).

    ``patterns`` X is ``(M, N)`` (any real values, one pattern per row),
    ``xi`` a query ``(N,)`` or batch ``(B, N)``. This is softmax attention with
    queries ξ, keys = values = the stored patterns and scale β.
    """
    X = patterns if patterns.is_floating_point() else patterns.to(torch.get_default_dtype())
    q = xi.to(device=X.device, dtype=X.dtype)
    if q.shape[-1] != X.shape[1]:
        raise ValueError(f"xi has {q.shape[-1]} entries but patterns have N = {X.shape[1]}")
    return torch.softmax(beta * q @ X.T, dim=-1) @ X


@checked(patterns=Tensor(ndim=2), xi=Tensor(ndim=(1, 2)), beta=NONNEGATIVE, steps=COUNT)
def modern_recall(patterns, xi, beta: float = 1.0, steps: int = 1) -> torch.Tensor:
    """Apply :func:`modern_update` ``steps`` times and return sgn of the result (a ±1 state)."""
    for _ in range(steps):
        xi = modern_update.unchecked(patterns, xi, beta)
    return sgn.unchecked(xi)


# ----------------------------------------------------------------------------- exercise checkers
def _ref_hebbian(patterns):
    X = torch.as_tensor(patterns, dtype=torch.get_default_dtype())
    M, N = X.shape
    return (X.T @ X - M * torch.eye(N)) / N


def _wrong_hebbian_diag(patterns):  # forgets to remove the self-connections
    X = torch.as_tensor(patterns, dtype=torch.get_default_dtype())
    return X.T @ X / X.shape[1]


def _wrong_hebbian_inner(patterns):  # inner instead of outer product
    X = torch.as_tensor(patterns, dtype=torch.get_default_dtype())
    return X @ X.T / X.shape[1]


@exercise("hopfield.hebbian_weights", reference=_ref_hebbian, wrong=[_wrong_hebbian_diag, _wrong_hebbian_inner],
          hint="W = (1/N) Σ_μ ξ^μ ξ^μᵀ with the diagonal set to zero; patterns are the rows of an (M, N) tensor.")
def _check_hebbian(func):
    notes = torch.tensor([[1.0, -1, 1], [-1, 1, -1]])
    want = torch.tensor([[0.0, -2, 2], [-2, 0, -2], [2, -2, 0]]) / 3
    expect_close(func(notes.clone()), want, "the notes' 3-neuron example")
    g = torch.Generator().manual_seed(1)
    X = (2 * (torch.rand(4, 7, generator=g) < 0.5) - 1).float()
    expect_close(func(X.clone()), _ref_hebbian(X), "4 random patterns of 7 neurons")


def _ref_energy(W, x):
    W, x = torch.as_tensor(W), torch.as_tensor(x, dtype=torch.as_tensor(W).dtype)
    return -0.5 * x @ W @ x


def _wrong_energy_half(W, x):  # forgets the ½
    W, x = torch.as_tensor(W), torch.as_tensor(x, dtype=torch.as_tensor(W).dtype)
    return -x @ W @ x


def _wrong_energy_sign(W, x):  # wrong sign: patterns would be maxima
    W, x = torch.as_tensor(W), torch.as_tensor(x, dtype=torch.as_tensor(W).dtype)
    return 0.5 * x @ W @ x


@exercise("hopfield.energy", reference=_ref_energy, wrong=[_wrong_energy_half, _wrong_energy_sign],
          hint="E(x) = −½ xᵀ W x (no thresholds here); stored patterns should have low (negative) energy.")
def _check_energy(func):
    W = torch.tensor([[0.0, -2, 2], [-2, 0, -2], [2, -2, 0]]) / 3
    expect_close(func(W.clone(), torch.tensor([1.0, -1, 1])), torch.tensor(-2.0), "E([1,-1,1]) in the notes' network")
    expect_close(func(W.clone(), torch.tensor([-1.0, -1, 1])), torch.tensor(2 / 3), "E([-1,-1,1]) in the notes' network")
    g = torch.Generator().manual_seed(2)
    A = torch.randn(6, 6, generator=g)
    W2 = (A + A.T) / 2
    W2.fill_diagonal_(0)
    x = (2 * (torch.rand(6, generator=g) < 0.5) - 1).float()
    expect_close(func(W2.clone(), x.clone()), _ref_energy(W2, x), "a random symmetric W")


def _ref_sweep(W, x):
    x = torch.as_tensor(x, dtype=torch.as_tensor(W).dtype).clone()
    for i in range(len(x)):
        x[i] = 1.0 if float(W[i] @ x) >= 0 else -1.0
    return x


def _wrong_sweep_sync(W, x):  # updates all neurons at once from the old state
    x = torch.as_tensor(x, dtype=torch.as_tensor(W).dtype)
    return torch.where(W @ x >= 0, 1.0, -1.0)


def _wrong_sweep_tie(W, x):  # sgn(0) = -1 instead of the notes' +1
    x = torch.as_tensor(x, dtype=torch.as_tensor(W).dtype).clone()
    for i in range(len(x)):
        x[i] = 1.0 if float(W[i] @ x) > 0 else -1.0
    return x


@exercise("hopfield.async_sweep", reference=_ref_sweep, wrong=[_wrong_sweep_sync, _wrong_sweep_tie],
          hint="Update neuron 0, then 1, …, N−1 in place, so each update uses the newest values; sgn(0) = +1.")
def _check_sweep(func):
    W = torch.tensor([[0.0, -2, 2], [-2, 0, -2], [2, -2, 0]]) / 3
    got = func(W.clone(), torch.tensor([-1.0, -1, 1]))
    expect_close(got, torch.tensor([1.0, -1, 1]), "the notes' noisy input [-1,-1,1]")
    ring = torch.tensor([[0.0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])
    for x in ([1.0, -1, -1, 1], [-1.0, 1, -1, -1]):
        x = torch.tensor(x)
        expect_close(func(ring.clone(), x.clone()), _ref_sweep(ring, x), f"a 4-neuron ring from {x.tolist()}")
    tie = torch.tensor([[0.0, 1, -1], [1, 0, 1], [-1, 1, 0]])
    x = torch.tensor([-1.0, 1, 1])
    expect_close(func(tie.clone(), x.clone()), _ref_sweep(tie, x), "a state where a local field is exactly 0")
