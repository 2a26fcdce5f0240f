"""Tests of nnbook.chnn: Lyapunov helpers, the CHNN energy theorem, Hopfield–Tank TSP, Held–Karp."""
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad, solve_ivp

from nnbook import chnn as C



def _cities(n, seed):
    return np.random.default_rng(seed).random((n, 2))


# ----------------------------------------------------------------------------- Lyapunov helpers
def test_rk4_matches_exact_solution_of_a_centre():
    f = lambda x: torch.stack([x[..., 1], -x[..., 0]], dim=-1)  # noqa: E731
    traj = C.rk4(f, torch.tensor([[1.0, 0.0]], dtype=torch.float64), t_max=2 * math.pi, dt=0.01)
    t = 628 * 0.01  # rk4 takes round(t_max/dt) steps
    assert traj.shape == (629, 1, 2)
    np.testing.assert_allclose(traj[-1, 0].numpy(), [math.cos(t), -math.sin(t)], atol=1e-8)


def test_lyapunov_derivative_matches_hand_formula():
    f = lambda x: torch.stack([-x[:, 0] + x[:, 1], -x[:, 0] - x[:, 1]], dim=1)  # noqa: E731
    V = lambda x: (x**2).sum(1)  # noqa: E731
    x = torch.randn(7, 2, dtype=torch.float64)
    np.testing.assert_allclose(C.lyapunov_derivative(V, f, x).numpy(), (-2 * (x**2).sum(1)).numpy(), rtol=1e-12)


def test_lyapunov_bad_input():
    with pytest.raises(TypeError, match="V"):
        C.lyapunov_derivative(3, lambda x: x, torch.zeros(1, 2))
    with pytest.raises(ValueError, match="x"):
        C.lyapunov_derivative(lambda x: x.sum(1), lambda x: x, torch.zeros(2))
    with pytest.raises(ValueError, match="dt"):
        C.rk4(lambda x: x, torch.zeros(1, 2), 1.0, -0.1)


# ----------------------------------------------------------------------------- CHNN
def test_logistic_integral_matches_quadrature():
    u0 = 0.3
    for v in [0.01, 0.2, 0.5, 0.9, 0.999]:
        want, _ = quad(lambda s: u0 * math.log(s / (1 - s)), 0.5, v)
        got = float(C.logistic_integral(torch.tensor(v, dtype=torch.float64), u0))
        assert got == pytest.approx(want, abs=1e-9)


def test_energy_gradient_is_minus_du_dt():
    """∂E/∂v_i = -(du_i/dt): the identity behind the energy theorem (autograd as reference)."""
    g = torch.Generator().manual_seed(0)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    net = C.CHNN(A + A.T, torch.randn(4, generator=g, dtype=torch.float64), tau=0.7, u0=0.4)
    u = torch.randn(3, 4, generator=g, dtype=torch.float64)
    v = net.g(u).requires_grad_(True)
    (grad,) = torch.autograd.grad(net.energy(v).sum(), v)
    np.testing.assert_allclose(grad.numpy(), -net.du_dt(u).numpy(), rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), tau=st.floats(0.2, 3.0), u0=st.floats(0.1, 2.0))
def test_energy_never_increases_for_symmetric_W(n, seed, tau, u0):
    """Hopfield's theorem: with W symmetric, E(v(t)) is non-increasing along the flow."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=torch.float64) * 2
    W = A + A.T
    net = C.CHNN(W, torch.randn(n, generator=g, dtype=torch.float64), tau=tau, u0=u0)
    lam = float(torch.linalg.eigvalsh(W).abs().max())
    dt = 0.2 / (lam / (4 * u0) + 1 / tau)  # small enough for Euler to follow the flow
    _, E = net.simulate(torch.randn(8, n, generator=g, dtype=torch.float64) * 3, steps=300, dt=dt)
    assert bool((E[1:] <= E[:-1] + 1e-9 * (1 + E[:-1].abs())).all())


def test_energy_can_increase_for_nonsymmetric_W():
    """The symmetry is needed: an antisymmetric W makes the state (and E) oscillate."""
    net = C.CHNN(torch.tensor([[0.0, 5.0], [-5.0, 0.0]], dtype=torch.float64), torch.tensor([-2.5, 2.5], dtype=torch.float64), tau=10.0, u0=0.2)
    _, E = net.simulate(torch.tensor([0.3, -0.2], dtype=torch.float64), steps=4000, dt=0.005)
    assert bool((E[1:] > E[:-1] + 1e-6).any())


def test_euler_simulation_matches_scipy():
    g = torch.Generator().manual_seed(3)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    net = C.CHNN(A + A.T, torch.randn(3, generator=g, dtype=torch.float64), tau=1.0, u0=0.5)
    u0 = torch.randn(3, generator=g, dtype=torch.float64)
    us, _ = net.simulate(u0, steps=2000, dt=0.001)
    ref = solve_ivp(lambda t, u: net.du_dt(torch.tensor(u)[None])[0].numpy(), (0, 2.0), u0.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(us[-1].numpy(), ref.y[:, -1], atol=2e-3)


def test_chnn_bad_input():
    with pytest.raises(ValueError, match="W"):
        C.CHNN(torch.zeros(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="I"):
        C.CHNN(torch.zeros(2, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="tau"):
        C.CHNN(torch.zeros(2, 2), torch.zeros(2), tau=0.0)
    with pytest.raises(ValueError, match="v"):
        C.chnn_energy(torch.tensor([0.5, 1.5]), torch.zeros(2, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="u0"):
        C.CHNN(torch.zeros(2, 2), torch.zeros(2)).simulate(torch.zeros(3), 10, 0.1)
    with pytest.raises(ValueError, match="steps"):
        C.CHNN(torch.zeros(2, 2), torch.zeros(2)).simulate(torch.zeros(2), 0, 0.1)


# ----------------------------------------------------------------------------- TSP
def test_held_karp_equals_brute_force():
    for n, seed in [(4, 0), (5, 1), (6, 2), (7, 3), (8, 4)]:
        D = C.distance_matrix(torch.tensor(_cities(n, seed))).numpy()
        hk, order = C.held_karp(D)
        bf, _ = C.brute_force_tsp(D)
        assert hk == pytest.approx(bf, rel=1e-12)
        assert C.tour_length(order, D) == pytest.approx(hk, rel=1e-12)


def test_held_karp_on_a_circle_is_the_polygon():
    n = 9
    angles = np.random.default_rng(0).permutation(n) * 2 * math.pi / n
    D = C.distance_matrix(torch.tensor(np.stack([np.cos(angles), np.sin(angles)], 1))).numpy()
    length, _ = C.held_karp(D)
    assert length == pytest.approx(2 * n * math.sin(math.pi / n), rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 7), seed=st.integers(0, 10_000))
def test_permutation_tour_length_equals_tour_length(n, seed):
    D = C.distance_matrix(torch.tensor(_cities(n, seed))).double()
    order = np.random.default_rng(seed).permutation(n)
    V = C.tour_to_matrix(order).double()
    assert float(C.permutation_tour_length(V, D)) == pytest.approx(C.tour_length(order, D.numpy()), rel=1e-12)
    assert bool(C.is_valid_tour(V)) and C.decode_tour(V) == order.tolist()


def test_is_valid_tour_by_enumeration():
    """All 2^9 binary 3x3 states: valid exactly for the 6 permutation matrices."""
    valid = [bits for bits in itertools.product([0.0, 1.0], repeat=9) if bool(C.is_valid_tour(torch.tensor(bits).reshape(3, 3)))]
    perms = {tuple(C.tour_to_matrix(p).flatten().tolist()) for p in itertools.permutations(range(3))}
    assert set(valid) == perms


@settings(max_examples=20, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_hopfield_tank_weights_reproduce_the_energy(n, seed):
    """-½ vᵀWv - Iᵀv + Cñ²/2 equals the term-by-term Hopfield–Tank energy, for any V."""
    g = torch.Generator().manual_seed(seed)
    D = C.distance_matrix(torch.tensor(_cities(n, seed))).double()
    p = C.HopfieldTankParams(A=1.3, B=0.7, C=0.9, D=2.1, n_tilde=n + 1.5)
    W, I = C.hopfield_tank_weights(D, p)
    V = torch.rand(n, n, generator=g, dtype=torch.float64)
    v = V.flatten()
    assert torch.allclose(W, W.T)
    want = C.hopfield_tank_energy(V, D, p)
    got = -0.5 * v @ W @ v - I @ v + p.C * p.n_tilde**2 / 2
    assert float(got) == pytest.approx(float(want), rel=1e-10, abs=1e-10)


def test_hopfield_tank_energy_of_a_valid_tour():
    D = C.distance_matrix(torch.tensor(_cities(5, 0))).double()
    p = C.HopfieldTankParams(A=1, B=1, C=1, D=1, n_tilde=5)
    order = [3, 1, 0, 4, 2]
    assert float(C.hopfield_tank_energy(C.tour_to_matrix(order).double(), D, p)) == pytest.approx(C.tour_length(order, D.numpy()))


def test_solver_finds_valid_short_tours_on_a_small_instance():
    D = C.distance_matrix(torch.tensor(_cities(10, 1))).double()
    opt, _ = C.held_karp(D.numpy())
    res = C.solve_tsp_chnn(D, C.HopfieldTankParams(D=250, n_tilde=12), restarts=20, steps=2000,
                           generator=torch.Generator().manual_seed(0))
    assert res.V.shape == (20, 10, 10) and res.energies.shape[1] == 20
    assert res.valid_rate > 0.3
    assert res.best >= opt - 1e-9 and res.best < 1.2 * opt
    assert bool((res.energies[1:] <= res.energies[:-1] + 1e-6 * res.energies[:-1].abs()).all())


def test_tsp_bad_input():
    with pytest.raises(ValueError, match="order"):
        C.tour_length([0, 0, 1], np.ones((3, 3)))
    with pytest.raises(ValueError, match="D"):
        C.held_karp(np.ones((3, 4)))
    with pytest.raises(ValueError, match="D"):
        C.held_karp(np.array([[0, 1.0], [2.0, 0]]))
    with pytest.raises(ValueError, match="V"):
        C.is_valid_tour(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="V"):
        C.decode_tour(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="cities"):
        C.distance_matrix(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="n_tilde"):
        C.HopfieldTankParams(n_tilde=-1.0)
    with pytest.raises(TypeError, match="p"):
        C.hopfield_tank_weights(np.ones((3, 3)), {"A": 1})
    with pytest.raises(ValueError, match="restarts"):
        C.solve_tsp_chnn(np.ones((3, 3)) - np.eye(3), C.HopfieldTankParams(), restarts=0)


# ----------------------------------------------------------------------------- the analogue circuit
def _circuit():
    T = torch.tensor([[0.0, -1e-5, 2e-5], [-1e-5, 0.0, -1e-5], [2e-5, -1e-5, 0.0]], dtype=torch.float64)
    return T, torch.tensor([1e-6, -2e-6, 0.5e-6], dtype=torch.float64)


def test_circuit_resistance_is_the_parallel_combination():
    T, _ = _circuit()
    R = C.circuit_resistance(T, 1e5)
    want = [1 / (1e-5 + 3e-5), 1 / (1e-5 + 2e-5), 1 / (1e-5 + 3e-5)]
    np.testing.assert_allclose(R.numpy(), want, rtol=1e-12)


def test_circuit_to_chnn_divides_by_C():
    T, I = _circuit()
    W, Ib, tau = C.circuit_to_chnn(T, 2e4, 5e-8, I)
    assert tau == pytest.approx(1e-3)
    assert torch.allclose(W, T / 5e-8) and torch.allclose(Ib, I / 5e-8)


def test_simulated_circuit_matches_chnn_euler_and_energy_falls():
    T, I = _circuit()
    R, Cap, u0 = 2e4, 5e-8, 0.05
    t = np.linspace(0, 5e-3, 51)
    u_start = torch.tensor([0.02, -0.01, 0.0], dtype=torch.float64)
    u_circ = C.simulate_circuit(T, R, Cap, I, u_start, t, u0=u0)
    assert u_circ.shape == (51, 3) and torch.equal(u_circ[0], u_start)
    net = C.CHNN(*C.circuit_to_chnn(T, R, Cap, I)[:2], tau=R * Cap, u0=u0)
    us, E = net.simulate(u_start, steps=5000, dt=1e-6, record_every=100)
    assert float((us - u_circ).abs().max()) < 2e-4  # volts: Euler's step error only
    assert bool((E[1:] <= E[:-1] + 1e-12).all())
    # the SciPy solution satisfies the circuit equation C du/dt = -u/R + T v + I (central differences)
    tf = np.linspace(0, 2e-3, 2001)
    uf = C.simulate_circuit(T, R, Cap, I, u_start, tf, u0=u0)
    lhs = Cap * (uf[2:] - uf[:-2]) / (2 * (tf[1] - tf[0]))
    rhs = -uf[1:-1] / R + torch.sigmoid(uf[1:-1] / u0) @ T.T + I
    assert float((lhs - rhs).abs().max()) < 1e-3 * float(rhs.abs().max())


def test_draw_circuit_draws_one_resistor_per_connection():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    T, _ = _circuit()
    ax = C.draw_circuit(T)
    boxes = [p for p in ax.patches if p.get_label() == "_resistor"]
    assert len(boxes) == int((T != 0).sum()) and sum(isinstance(p, Polygon) for p in ax.patches) == 3
    plt.close(ax.figure)


def test_circuit_bad_input():
    T, I = _circuit()
    with pytest.raises(ValueError, match="rho"):
        C.circuit_resistance(T, 0.0)
    with pytest.raises(ValueError, match="T"):
        C.circuit_to_chnn(torch.zeros(2, 3), 1.0, 1.0, I)
    with pytest.raises(ValueError, match="I_ext"):
        C.circuit_to_chnn(T, 1.0, 1.0, I[:2])
    with pytest.raises(ValueError, match="C"):
        C.circuit_to_chnn(T, 1.0, -1.0, I)
    with pytest.raises(ValueError, match="t_eval"):
        C.simulate_circuit(T, 1.0, 1.0, I, torch.zeros(3, dtype=torch.float64), [0.0, -1.0])
    with pytest.raises(ValueError, match="u_start"):
        C.simulate_circuit(T, 1.0, 1.0, I, torch.zeros(2, dtype=torch.float64), [0.0, 1.0])
