"""Lyapunov stability, the continuous Hopfield network (CHNN) and Hopfield–Tank TSP.

Chapter 4 of the book. Three groups of tools:

- **Lyapunov helpers** for small autonomous systems ``dx/dt = f(x)``:
  :func:`rk4` integrates a batch of trajectories, :func:`lyapunov_derivative`
  computes ``dV/dt = ∇V(x) · f(x)`` by autograd.
- **The CHNN** (:class:`CHNN`)::

      du/dt = -u/τ + W v + I,      v = g(u) = 1 / (1 + exp(-u/u0))

  with the energy (Hopfield 1984)::

      E(v) = -½ vᵀ W v - Iᵀ v + (1/τ) Σ_i ∫_{1/2}^{v_i} g⁻¹(s) ds,
      ∫_{1/2}^{v} g⁻¹(s) ds = u0 [v log v + (1-v) log(1-v) + log 2].

  For symmetric ``W``, ``dE/dt = -Σ_i g'(u_i) (du_i/dt)² ≤ 0``.
- **The analogue circuit** (Hopfield 1984): amplifier i with input capacitance
  C and resistance R, connection conductances T_ij, bias current I_i::

      C du_i/dt = -u_i/R + Σ_j T_ij v_j + I_i      (SI units: F, Ω, S, A, V, s)

  which is the CHNN with τ = RC, W = T/C, I = I_ext/C (:func:`circuit_to_chnn`);
  :func:`simulate_circuit` integrates it with SciPy, :func:`draw_circuit` draws it.
- **TSP**: tour length of a permutation matrix, validity, the Hopfield–Tank
  weights and biases (:func:`hopfield_tank_weights`), a batched solver
  (:func:`solve_tsp_chnn`), and exact optima by brute force and by the
  Held–Karp dynamic programme (:func:`held_karp`).

State convention for TSP: ``V`` has shape ``(n, n)``; ``V[x, i] = 1`` means city
``x`` is visited at position ``i``. Flattened, neuron ``(x, i)`` is index ``x*n + i``.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from nnbook.exercises import CheckFailed, exercise, expect_close, expect_equal
from nnbook.validate import (COUNT, NONNEGATIVE, POSITIVE, Array, Float, Function, Instance, Tensor, check_array,
                             check_float, checked)

__all__ = [
    "rk4",
    "lyapunov_derivative",
    "CHNN",
    "logistic_integral",
    "chnn_energy",
    "circuit_resistance",
    "circuit_to_chnn",
    "simulate_circuit",
    "draw_circuit",
    "distance_matrix",
    "tour_length",
    "permutation_tour_length",
    "is_valid_tour",
    "decode_tour",
    "tour_to_matrix",
    "brute_force_tsp",
    "held_karp",
    "HopfieldTankParams",
    "hopfield_tank_weights",
    "hopfield_tank_energy",
    "solve_tsp_chnn",
    "TSPResult",
]


# ----------------------------------------------------------------------------- Lyapunov
@checked(f=Function(), x0=Tensor(ndim=(1, 2)), t_max=POSITIVE, dt=POSITIVE)
def rk4(f: Callable[[torch.Tensor], torch.Tensor], x0, t_max: float, dt: float) -> torch.Tensor:
    """Integrate ``dx/dt = f(x)`` with the classical Runge–Kutta scheme.

    ``x0``: ``(B, d)`` (a batch of starting points) or ``(d,)``.
    Returns the trajectory, shape ``(T+1, B, d)`` (or ``(T+1, d)``), ``T = round(t_max/dt)``.
    """
    x = x0
    if not x.is_floating_point():
        raise TypeError("x0 must be a floating-point tensor")
    steps = max(1, int(round(t_max / dt)))
    out = [x]
    for _ in range(steps):
        k1 = f(x)
        k2 = f(x + 0.5 * dt * k1)
        k3 = f(x + 0.5 * dt * k2)
        k4 = f(x + dt * k3)
        x = x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(x)
    return torch.stack(out)


@checked(V=Function(), f=Function(), x=Tensor(ndim=2))
def lyapunov_derivative(V: Callable[[torch.Tensor], torch.Tensor], f: Callable[[torch.Tensor], torch.Tensor], x) -> torch.Tensor:
    """The derivative of ``V`` along the flow, ``dV/dt = ∇V(x) · f(x)``, by autograd.

    ``V`` maps ``(B, d) -> (B,)``, ``f`` maps ``(B, d) -> (B, d)``; ``x``: ``(B, d)``.
    Returns ``(B,)``.
    """
    if not x.is_floating_point():
        raise TypeError("x must be a floating-point tensor")
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(V(x).sum(), x)
    return (grad * f(x.detach())).sum(dim=1).detach()


# ----------------------------------------------------------------------------- CHNN
@checked(v=Tensor(), u0=POSITIVE)
def logistic_integral(v: torch.Tensor, u0: float) -> torch.Tensor:
    """``∫_{1/2}^{v} g⁻¹(s) ds`` for the logistic ``g(u) = 1/(1+exp(-u/u0))``, elementwise.

    Equals ``u0 [v log v + (1-v) log(1-v) + log 2]`` (0 at ``v = 1/2``, ``u0 log 2`` at 0 and 1).
    """
    v = v.clamp(0.0, 1.0)
    return u0 * (torch.special.xlogy(v, v) + torch.special.xlogy(1 - v, 1 - v) + math.log(2.0))


@checked(v=Tensor(), W=Tensor(ndim=2), I=Tensor(ndim=1), tau=POSITIVE, u0=POSITIVE)
def chnn_energy(v, W, I, tau: float = 1.0, u0: float = 1.0) -> torch.Tensor:
    """Hopfield's energy of a CHNN state ``v`` (``(..., n)``, entries in [0, 1]).

    ``E = -½ vᵀWv - Iᵀv + (1/τ) Σ_i ∫_{1/2}^{v_i} g⁻¹(s) ds``. Returns shape ``(...)``.
    """
    n = _square("W", W)
    if v.ndim < 1 or v.shape[-1] != n:
        raise ValueError(f"v must have {n} entries in its last dimension (W is {n}x{n}), got shape {tuple(v.shape)}")
    if bool((v < 0).any()) or bool((v > 1).any()):
        raise ValueError("v must lie in [0, 1] (the outputs of the logistic activation)")
    _match("I", I, n)
    W, I = W.to(v), I.to(v)
    quad = -0.5 * ((v @ W) * v).sum(-1) - v @ I
    return quad + logistic_integral.unchecked(v, u0).sum(-1) / tau


class CHNN:
    """A continuous Hopfield network ``du/dt = -u/τ + W v + I``, ``v = σ(u/u0)``.

    ``W``: ``(n, n)`` (symmetric for the energy theorem), ``I``: ``(n,)``.
    Simulated with forward Euler on a batch of states ``u`` of shape ``(B, n)``.
    """

    @checked(W=Tensor(ndim=2), I=Tensor(ndim=1), tau=POSITIVE, u0=POSITIVE)
    def __init__(self, W, I, tau: float = 1.0, u0: float = 1.0):
        n = _square("W", W)
        _match("I", I, n)
        self.W = W if W.is_floating_point() else W.to(torch.get_default_dtype())
        self.I = I.to(self.W)
        self.tau, self.u0, self.n = tau, u0, n

    def g(self, u: torch.Tensor) -> torch.Tensor:
        """The activation ``v = 1 / (1 + exp(-u/u0))``."""
        return torch.sigmoid(u / self.u0)

    def g_inv(self, v: torch.Tensor) -> torch.Tensor:
        """The inverse activation ``u = u0 log(v / (1 - v))``."""
        return self.u0 * torch.logit(v)

    def du_dt(self, u: torch.Tensor) -> torch.Tensor:
        """The right-hand side ``-u/τ + W v + I`` for ``u`` of shape ``(B, n)``."""
        return -u / self.tau + self.g(u) @ self.W.T.to(u) + self.I.to(u)

    def energy(self, v: torch.Tensor) -> torch.Tensor:
        """Hopfield's energy of ``v`` (``(n,)`` or ``(B, n)``); see :func:`chnn_energy`."""
        return chnn_energy(v, self.W, self.I, self.tau, self.u0)  # checks v: a public entry point

    @checked(u0=Tensor(ndim=(1, 2)), steps=COUNT, dt=POSITIVE, record_every=COUNT)
    def simulate(self, u0, steps: int, dt: float, record_every: int = 1):
        """Run ``steps`` Euler steps from ``u0`` (``(B, n)`` or ``(n,)``).

        Returns ``(us, energies)``: ``us`` of shape ``(K, B, n)`` (or ``(K, n)``) holding
        every ``record_every``-th state including the first and last, and the energies
        ``(K, B)`` (or ``(K,)``) of ``v = g(u)`` at those states.
        """
        u = u0
        if u.shape[-1] != self.n:
            raise ValueError(f"u0 must have {self.n} entries in its last dimension, got shape {tuple(u.shape)}")
        single = u.ndim == 1
        u = u.reshape(-1, self.n)
        u = u.to(dtype=self.W.dtype) if not u.is_floating_point() else u
        us = [u]
        for k in range(1, steps + 1):
            u = u + dt * self.du_dt(u)  # Euler step of du/dt = -u/τ + Wv + I
            if k % record_every == 0 or k == steps:
                us.append(u)
        us = torch.stack(us)
        energies = chnn_energy.unchecked(self.g(us), self.W, self.I, self.tau, self.u0)
        if single:
            return us[:, 0], energies[:, 0]
        return us, energies


# ----------------------------------------------------------------------------- the analogue circuit
@checked(T=Tensor(ndim=2), rho=POSITIVE)
def circuit_resistance(T, rho: float) -> torch.Tensor:
    """The input resistance of each amplifier, 1/R_i = 1/ρ + Σ_j |T_ij| (ohms), shape ``(n,)``.

    ``T`` ``(n, n)``: connection conductances in siemens (a negative T_ij is a
    resistor to the inverted output of amplifier j); ``rho``: the leak resistor
    from each input to ground. The connection resistors load the input too,
    so R_i is the parallel combination of all of them (Hopfield 1984).
    """
    n = _square("T", T)
    return 1.0 / (1.0 / rho + T.abs().sum(1)) if n else T.new_zeros(0)


@checked(T=Tensor(ndim=2), R=POSITIVE, C=POSITIVE, I_ext=Tensor(ndim=1))
def circuit_to_chnn(T, R: float, C: float, I_ext) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Divide the circuit equation by C: returns the CHNN's ``(W, I, tau)``.

    ``C du/dt = -u/R + T v + I_ext``  ⇔  ``du/dt = -u/τ + W v + I`` with
    τ = RC (seconds), W = T/C and I = I_ext/C (both per second).
    """
    n = _square("T", T)
    _match("I_ext", I_ext, n)
    T = T if T.is_floating_point() else T.to(torch.get_default_dtype())
    return T / C, I_ext.to(T) / C, R * C


@checked(T=Tensor(ndim=2), R=POSITIVE, C=POSITIVE, I_ext=Tensor(ndim=1), u_start=Tensor(ndim=1),
         t_eval=Array(ndim=1), u0=POSITIVE)
def simulate_circuit(T, R: float, C: float, I_ext, u_start, t_eval, u0: float = 0.05) -> torch.Tensor:
    """Integrate the circuit ``C du/dt = -u/R + T g(u) + I_ext`` in SI units.

    ``g(u) = 1/(1 + exp(-u/u0))`` volts (the amplifier, output 0 to 1 V);
    ``u_start`` ``(n,)`` volts; ``t_eval`` increasing times in seconds, the
    first being the start. Uses SciPy's adaptive Runge–Kutta (``RK45``, tight
    tolerances), independent of the Euler solver of :class:`CHNN`.
    Returns the input voltages ``(len(t_eval), n)`` (float64).
    """
    from scipy.integrate import solve_ivp

    n = _square("T", T)
    _match("I_ext", I_ext, n)
    _match("u_start", u_start, n)
    if len(t_eval) < 1 or np.any(np.diff(t_eval) <= 0):
        raise ValueError("t_eval must be a non-empty, strictly increasing array of times (seconds)")
    Tn, In = T.double().cpu().numpy(), I_ext.double().cpu().numpy()

    def currents(t, u):  # the current into each capacitor, divided by C
        v = 1.0 / (1.0 + np.exp(-u / u0))
        return (-u / R + Tn @ v + In) / C

    sol = solve_ivp(currents, (t_eval[0], t_eval[-1]), u_start.double().cpu().numpy(), method="RK45",
                    t_eval=t_eval, rtol=1e-9, atol=1e-12)
    return torch.as_tensor(sol.y.T)


@checked(T=Tensor(ndim=2))
def draw_circuit(T, ax=None):
    """Draw Hopfield's (1984) circuit for the conductances ``T`` ``(n, n)``; returns the axes.

    Row i is the input line of amplifier i (triangle, right), with its
    capacitor C, leak ρ and bias current I_i on the left; column j carries the
    output v_j back. A box at (i, j) is the resistor of T_ij: blue for an
    excitatory connection (to v_j), red for an inhibitory one (to −v_j).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle

    n = _square("T", T)
    ax = ax if ax is not None else plt.subplots(figsize=(1.4 * n + 3, 1.1 * n + 1.5))[1]
    for i in range(n):  # input lines, amplifiers, and the output wires back to the columns
        y = -i
        ax.plot([0, n + 1], [y, y], "k-", lw=1)
        ax.add_patch(Polygon([[n + 1, y - 0.3], [n + 1, y + 0.3], [n + 1.5, y]], closed=True, fc="w", ec="k"))
        top, x_out = 0.8 + 0.25 * (n - 1 - i), n + 1.7 + 0.2 * (n - 1 - i)
        ax.plot([n + 1.5, x_out, x_out, i + 1, i + 1], [y, y, top, top, -n + 0.5], "k-", lw=0.8)
        ax.text(n + 1.55, y + 0.12, f"$v_{i + 1}$", fontsize=9)
        ax.plot([0.3, 0.3], [y, y - 0.35], "k-", [0.7, 0.7], [y, y - 0.15], "k-", lw=0.8)  # to C and ρ
        ax.plot([0.15, 0.45], [y - 0.35, y - 0.35], "k-", [0.15, 0.45], [y - 0.45, y - 0.45], "k-", lw=1.5)
        ax.add_patch(Rectangle((0.62, y - 0.45), 0.16, 0.3, fc="w", ec="k"))  # leak ρ to ground
        ax.text(-0.05, y, f"$I_{i + 1}$ →  $u_{i + 1}$", ha="right", va="center")
        for j in range(n):
            if float(T[i, j]) != 0:
                colour = "tab:blue" if float(T[i, j]) > 0 else "tab:red"
                ax.add_patch(Rectangle((j + 0.9, y - 0.12), 0.2, 0.24, fc=colour, ec="k", label="_resistor"))
    ax.text(0.3, -n + 0.25, "C", ha="center")
    ax.text(0.7, -n + 0.25, "ρ", ha="center")
    ax.set(xlim=(-1.6, n + 2.4 + 0.2 * n), ylim=(-n, 0.9 + 0.25 * n), aspect="equal", xticks=[], yticks=[])
    ax.set_frame_on(False)
    return ax


# ----------------------------------------------------------------------------- TSP basics
@checked(cities=Tensor(ndim=2))
def distance_matrix(cities) -> torch.Tensor:
    """Euclidean distances between cities ``(n, 2)`` → ``(n, n)``."""
    c = cities
    if c.shape[1] != 2 or c.shape[0] < 2:
        raise ValueError(f"cities must have shape (n, 2) with n >= 2, got {tuple(c.shape)}")
    c = c.to(torch.get_default_dtype()) if not c.is_floating_point() else c
    return torch.cdist(c, c)


class Distances(Array):
    """The rule for a symmetric distance matrix ``(n, n)``, n ≥ 2, as a float NumPy array."""

    def check(self, name, value):
        D = check_array(name, value, ndim=2)
        n = D.shape[0]
        if D.shape != (n, n) or n < 2:
            raise ValueError(f"{name} must be a square distance matrix (n, n) with n >= 2, got shape {D.shape}")
        if not np.allclose(D, D.T):
            raise ValueError(f"{name} must be symmetric")
        return D


DISTANCES = Distances(ndim=2)


def _square(name: str, M: torch.Tensor) -> int:
    """The side n of a square matrix ``(n, n)``, or raise naming it."""
    n = M.shape[0]
    if tuple(M.shape) != (n, n):
        raise ValueError(f"{name} must have shape ({n}, {n}) (a square matrix), got {tuple(M.shape)}")
    return n


def _match(name: str, v: torch.Tensor, n: int) -> None:
    if tuple(v.shape) != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match W, got {tuple(v.shape)}")


@checked(order=Array(ndim=1, dtype=None), D=DISTANCES)
def tour_length(order, D) -> float:
    """Length of the closed tour visiting cities in ``order`` (a permutation of 0..n-1)."""
    if sorted(order.tolist()) != list(range(D.shape[0])):
        raise ValueError(f"order must be a permutation of 0..{D.shape[0] - 1}, got {order.tolist()}")
    order = order.astype(np.int64)
    return float(D[order, np.roll(order, -1)].sum())


@checked(V=Tensor(ndim=(2, 3)), D=Tensor(ndim=2))
def permutation_tour_length(V, D):
    """The tour-length term ``½ Σ_{x,y,i} d_xy V_xi (V_{y,i+1} + V_{y,i-1})`` (indices mod n).

    ``V``: ``(n, n)`` or a batch ``(B, n, n)``; for a permutation matrix this is the tour length.
    Returns a tensor (scalar or ``(B,)``).
    """
    n = V.shape[-1]
    if V.shape[-2] != n:
        raise ValueError(f"V must be square (n, n) or (B, n, n), got shape {tuple(V.shape)}")
    V = V.to(torch.get_default_dtype()) if not V.is_floating_point() else V
    if tuple(D.shape) != (n, n):
        raise ValueError(f"D must have shape ({n}, {n}) to match V, got {tuple(D.shape)}")
    D = D.to(V)
    nxt = torch.roll(V, shifts=-1, dims=-1)  # nxt[y, i] = V[y, i+1]
    prv = torch.roll(V, shifts=1, dims=-1)  # prv[y, i] = V[y, i-1]
    return 0.5 * (V * (D @ (nxt + prv))).sum(dim=(-2, -1))


@checked(V=Tensor(ndim=(2, 3)), threshold=Float())
def is_valid_tour(V, threshold: float = 0.5) -> torch.Tensor:
    """Whether ``V > threshold`` is a permutation matrix (one city per position, one position per city).

    ``V``: ``(n, n)`` or ``(B, n, n)``. Returns a bool tensor (scalar or ``(B,)``).
    """
    if V.shape[-1] != V.shape[-2]:
        raise ValueError(f"V must be square (n, n) or (B, n, n), got shape {tuple(V.shape)}")
    on = V > threshold
    return (on.sum(-1) == 1).all(-1) & (on.sum(-2) == 1).all(-1)


@checked(V=Tensor(ndim=2))
def decode_tour(V) -> list[int]:
    """The city order of a valid tour matrix ``V`` (``(n, n)``): ``order[i] = x`` with ``V[x, i]`` on."""
    if not bool(is_valid_tour(V)):
        raise ValueError("V is not a valid tour (V > 0.5 is not a permutation matrix)")
    return V.argmax(dim=0).tolist()


@checked(order=Array(ndim=1, dtype=None))
def tour_to_matrix(order) -> torch.Tensor:
    """The permutation matrix of a tour: ``V[order[i], i] = 1``."""
    n = len(order)
    if sorted(order.tolist()) != list(range(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {order.tolist()}")
    order = order.astype(np.int64)
    V = torch.zeros(n, n)
    V[torch.as_tensor(order), torch.arange(n)] = 1.0
    return V


@checked(D=DISTANCES)
def brute_force_tsp(D) -> tuple[float, list[int]]:
    """Exact TSP by trying all ``(n-1)!`` tours that start at city 0 (n ≤ 10)."""
    n = D.shape[0]
    if n > 10:
        raise ValueError(f"D is {n}x{n}: brute force is limited to n <= 10 cities")
    best, best_order = math.inf, None
    for rest in itertools.permutations(range(1, n)):
        order = (0,) + rest
        length = float(D[list(order), list(rest) + [0]].sum())
        if length < best - 1e-12:
            best, best_order = length, list(order)
    return best, best_order


@checked(D=DISTANCES)
def held_karp(D) -> tuple[float, list[int]]:
    """Exact TSP by the Held–Karp dynamic programme, ``O(n² 2ⁿ)`` time.

    ``C[S, j]`` = shortest path that starts at city 0, visits the set ``S`` of the
    other cities and ends at ``j ∈ S``:  ``C[S, j] = min_{k ∈ S∖{j}} C[S∖{j}, k] + d_kj``.
    Returns ``(length, order)`` with ``order[0] = 0``.
    """
    n = D.shape[0]
    if n > 20:
        raise ValueError(f"D is {n}x{n}: Held–Karp needs 2^(n-1) memory; use n <= 20")
    m = n - 1  # cities 1..n-1 are bits 0..m-1
    full = 1 << m
    cost = np.full((full, m), np.inf)
    parent = np.full((full, m), -1, dtype=np.int64)
    for j in range(m):
        cost[1 << j, j] = D[0, j + 1]
    d = D[1:, 1:]
    for S in range(1, full):
        members = [j for j in range(m) if S >> j & 1]
        if len(members) < 2:
            continue
        for j in members:
            prev = S ^ (1 << j)
            cand = cost[prev, :] + d[:, j]  # inf for k not in prev
            k = int(np.argmin(cand))
            cost[S, j], parent[S, j] = cand[k], k
    last = cost[full - 1] + D[1:, 0]
    j = int(np.argmin(last))
    length = float(last[j])
    order, S = [], full - 1
    while j >= 0:
        order.append(j + 1)
        S, j = S ^ (1 << j), int(parent[S, j])
    return length, [0] + order[::-1]


# ----------------------------------------------------------------------------- Hopfield–Tank
@dataclass(frozen=True)
class HopfieldTankParams:
    """Penalty weights of the Hopfield–Tank energy (defaults: the 1985 paper, for 10 cities).

    ``A``: one position per city (rows), ``B``: one city per position (columns),
    ``C``: total activity ``Σ V = n_tilde``, ``D``: tour length.
    """

    A: float = 500.0
    B: float = 500.0
    C: float = 200.0
    D: float = 500.0
    n_tilde: float = 15.0
    u0: float = 0.02
    tau: float = 1.0

    def __post_init__(self):
        for name in ("A", "B", "C", "D"):
            check_float(name, getattr(self, name), min_value=0.0)
        check_float("n_tilde", self.n_tilde, min_value=0.0)
        check_float("u0", self.u0, min_value=0.0, min_inclusive=False)
        check_float("tau", self.tau, min_value=0.0, min_inclusive=False)


PARAMS = Instance(HopfieldTankParams)


@checked(V=Tensor(ndim=(2, 3)), D=Tensor(ndim=2), p=PARAMS)
def hopfield_tank_energy(V, D, p: HopfieldTankParams) -> torch.Tensor:
    """The Hopfield–Tank energy of ``V`` (``(n, n)`` or ``(B, n, n)``), term by term::

        E = A/2 Σ_x Σ_i Σ_{j≠i} V_xi V_xj + B/2 Σ_i Σ_x Σ_{y≠x} V_xi V_yi
          + C/2 (Σ_xi V_xi - ñ)² + D/2 Σ_{x,y,i} d_xy V_xi (V_{y,i+1} + V_{y,i-1})

    (without the integral term of the activation). Returns a scalar or ``(B,)``.
    """
    V = V.to(torch.get_default_dtype()) if not V.is_floating_point() else V
    rows = V.sum(-1)  # (…, n): activity of each city
    cols = V.sum(-2)  # (…, n): activity of each position
    sq = (V * V).sum((-2, -1))
    row_term = (rows**2).sum(-1) - sq  # Σ_x Σ_{i≠j} V_xi V_xj
    col_term = (cols**2).sum(-1) - sq
    total = V.sum((-2, -1))
    return p.A / 2 * row_term + p.B / 2 * col_term + p.C / 2 * (total - p.n_tilde) ** 2 + p.D * permutation_tour_length.unchecked(V, D)


@checked(D=Tensor(ndim=2), p=PARAMS)
def hopfield_tank_weights(D, p: HopfieldTankParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights ``(n², n²)`` and biases ``(n²,)`` with ``E_HT(V) = -½ vᵀWv - Iᵀv + C ñ²/2``::

        W_{xi,yj} = -A δ_xy (1-δ_ij) - B δ_ij (1-δ_xy) - C - D d_xy (δ_{j,i+1} + δ_{j,i-1})
        I_xi      = C ñ

    ``v`` is ``V.flatten()`` (neuron ``(x, i)`` at index ``x*n + i``).
    """
    n = _square("D", D)
    Dm = D.to(torch.get_default_dtype()) if not D.is_floating_point() else D
    eye = torch.eye(n, dtype=Dm.dtype, device=Dm.device)
    ring = torch.roll(eye, 1, dims=1) + torch.roll(eye, -1, dims=1)  # ring[i, j] = δ_{j,i+1} + δ_{j,i-1}
    kron = torch.kron
    W = (
        -p.A * kron(eye, 1 - eye)  # same city, different positions
        - p.B * kron(1 - eye, eye)  # same position, different cities
        - p.C * torch.ones(n * n, n * n, dtype=Dm.dtype, device=Dm.device)
        - p.D * kron(Dm, ring)  # neighbours in the tour
    )
    I = torch.full((n * n,), p.C * p.n_tilde, dtype=Dm.dtype, device=Dm.device)
    return W, I


@dataclass
class TSPResult:
    """Outcome of :func:`solve_tsp_chnn` for a batch of restarts."""

    V: torch.Tensor  # (R, n, n) final outputs
    valid: torch.Tensor  # (R,) bool
    lengths: torch.Tensor  # (R,) tour length (nan where not valid)
    energies: torch.Tensor  # (K, R) energy along the run (every record_every steps)

    @property
    def valid_rate(self) -> float:
        return float(self.valid.float().mean())

    @property
    def best(self) -> float:
        return float(self.lengths[self.valid].min()) if bool(self.valid.any()) else math.nan

    @property
    def mean(self) -> float:
        return float(self.lengths[self.valid].mean()) if bool(self.valid.any()) else math.nan


@checked(D=Tensor(ndim=2), p=PARAMS, restarts=COUNT, steps=COUNT, dt=POSITIVE, noise=NONNEGATIVE, record_every=COUNT)
def solve_tsp_chnn(D, p: HopfieldTankParams, restarts: int = 50, steps: int = 2000, dt: float = 1e-5, noise: float = 0.1,
                   record_every: int = 50, generator: torch.Generator | None = None) -> TSPResult:
    """Run the Hopfield–Tank CHNN from ``restarts`` random starts at once (one batch).

    Start: ``u = u00 + noise·u0·ε`` with ``u00`` chosen so that ``Σ V ≈ n`` (``ε ~ U(-1, 1)``),
    as in Hopfield & Tank (1985). Returns a :class:`TSPResult`.
    """
    Dm, n = D, _square("D", D)
    W, I = hopfield_tank_weights.unchecked(Dm, p)
    net = CHNN(W, I, tau=p.tau, u0=p.u0)
    u00 = p.u0 * math.log(1.0 / (n - 1))  # σ(u00/u0) = 1/n
    eps = torch.rand(restarts, n * n, generator=generator, dtype=W.dtype, device="cpu").to(W.device) * 2 - 1
    us, energies = net.simulate.unchecked(net, u00 + noise * p.u0 * eps, steps, dt, record_every)
    V = net.g(us[-1]).reshape(restarts, n, n)
    valid = is_valid_tour.unchecked(V)
    lengths = permutation_tour_length.unchecked((V > 0.5).to(V.dtype), Dm)
    lengths = torch.where(valid, lengths, torch.full_like(lengths, math.nan))
    return TSPResult(V=V, valid=valid, lengths=lengths, energies=energies)


# ----------------------------------------------------------------------------- exercises
def _tsp_cases():
    g = np.random.default_rng(4)
    cases = []
    for n in (3, 5, 6):
        cities = g.random((n, 2))
        D = np.linalg.norm(cities[:, None] - cities[None], axis=-1)
        order = g.permutation(n)
        cases.append((D, order))
    return cases


def _ref_tour_length(V, D):
    V = torch.as_tensor(V, dtype=torch.float64)
    D = torch.as_tensor(D, dtype=torch.float64)
    return float(0.5 * (V * (D @ (torch.roll(V, -1, 1) + torch.roll(V, 1, 1)))).sum())


def _wrong_tour_length_open(V, D):  # forgets the edge back to the start
    V = torch.as_tensor(V, dtype=torch.float64)
    order = V.argmax(0)
    return float(sum(D[int(order[i]), int(order[i + 1])] for i in range(len(order) - 1)))


def _wrong_tour_length_double(V, D):  # counts every edge twice
    return 2 * _ref_tour_length(V, D)


@exercise("chnn.tour_length", reference=_ref_tour_length, wrong=[_wrong_tour_length_open, _wrong_tour_length_double],
          hint="sum d[x, y] over consecutive positions i, i+1 — including the step from the last position back to the first.")
def _check_tour_length(f):
    for D, order in _tsp_cases():
        V = tour_to_matrix(order).double()
        want = float(D[order, np.roll(order, -1)].sum())
        expect_close(float(f(V, torch.as_tensor(D))), want, f"tour length of order {order.tolist()}", atol=1e-8)


def _ref_is_valid(V):
    on = torch.as_tensor(V) > 0.5
    return bool((on.sum(0) == 1).all() and (on.sum(1) == 1).all())


def _wrong_is_valid_rows(V):  # checks only the rows
    on = torch.as_tensor(V) > 0.5
    return bool((on.sum(1) == 1).all())


def _wrong_is_valid_total(V):  # checks only that n neurons are on
    on = torch.as_tensor(V) > 0.5
    return bool(on.sum() == on.shape[0])


@exercise("chnn.is_valid_tour", reference=_ref_is_valid, wrong=[_wrong_is_valid_rows, _wrong_is_valid_total],
          hint="threshold at 0.5, then every row AND every column must hold exactly one neuron that is on.")
def _check_is_valid(f):
    g = torch.Generator().manual_seed(1)
    good = tour_to_matrix([2, 0, 3, 1]) * 0.9 + 0.05
    expect_equal(bool(f(good)), True, "a permutation matrix with outputs 0.95 / 0.05")
    two_in_col = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 1, 0]])
    expect_equal(bool(f(two_in_col)), False, "cities 1 and 2 both at position 1 (and city 2 nowhere else)")
    two_in_row = torch.tensor([[1.0, 0, 0], [0, 1, 1], [0, 0, 0]])
    expect_equal(bool(f(two_in_row)), False, "city 1 at positions 1 and 2, city 2 nowhere")
    cross = torch.tensor([[1.0, 1, 0], [0, 0, 0], [0, 0, 1]])
    expect_equal(bool(f(cross)), False, "city 0 at positions 0 and 1, city 1 nowhere")
    for _ in range(20):
        V = torch.rand(4, 4, generator=g)
        expect_equal(bool(f(V)), _ref_is_valid(V), f"random state\n{V.numpy().round(2)}")


def _ref_energy(v, W, I, tau, u0):
    return chnn_energy(torch.as_tensor(v, dtype=torch.float64), torch.as_tensor(W, dtype=torch.float64),
                       torch.as_tensor(I, dtype=torch.float64), tau, u0)


def _wrong_energy_no_integral(v, W, I, tau, u0):
    v = torch.as_tensor(v, dtype=torch.float64)
    W = torch.as_tensor(W, dtype=torch.float64)
    return -0.5 * v @ W @ v - v @ torch.as_tensor(I, dtype=torch.float64)


def _wrong_energy_no_half(v, W, I, tau, u0):
    return _ref_energy(v, W, I, tau, u0) - 0.5 * float(torch.as_tensor(v) @ torch.as_tensor(W) @ torch.as_tensor(v))


@exercise("chnn.energy", reference=_ref_energy, wrong=[_wrong_energy_no_integral, _wrong_energy_no_half],
          hint="E = -½ vᵀWv - Iᵀv + (1/τ) Σ u0 [v log v + (1-v) log(1-v) + log 2]; don't forget the ½ or the integral term.")
def _check_energy(f):
    g = torch.Generator().manual_seed(2)
    for n, tau, u0 in [(2, 1.0, 1.0), (3, 0.5, 0.3), (5, 2.0, 0.1)]:
        A = torch.randn(n, n, generator=g, dtype=torch.float64)
        W = A + A.T
        I = torch.randn(n, generator=g, dtype=torch.float64)
        v = torch.rand(n, generator=g, dtype=torch.float64) * 0.98 + 0.01
        want = float(chnn_energy(v, W, I, tau, u0))
        try:
            got = float(f(v.clone(), W.clone(), I.clone(), tau, u0))
        except (TypeError, ValueError) as exc:
            raise CheckFailed(f"energy(n={n}): could not turn the answer into a number ({exc})") from None
        expect_close(got, want, f"energy for n={n}, tau={tau}, u0={u0}", atol=1e-8)
