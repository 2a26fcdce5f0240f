"""Tests for nnbook.flows: the coupling log-det against autograd, exact inverses, a normalised density,
and the dequantisation bound for discrete data."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook.exercises import run_check
from nnbook.flows import (
    AffineCoupling,
    RealNVP,
    autograd_log_det,
    dequantize,
    dequantized_nll,
    standard_normal_log_prob,
    train_flow,
)


def _random_flow(dim, n_couplings, seed):
    """A RealNVP with random (not identity) weights, in float64."""
    torch.manual_seed(seed)
    flow = RealNVP(dim, n_couplings, hidden=8).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(0.5 * torch.randn_like(p))
    return flow


@settings(max_examples=15, deadline=None)
@given(dim=st.integers(2, 6), n_couplings=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_log_det_equals_autograd_jacobian(dim, n_couplings, seed):
    flow = _random_flow(dim, n_couplings, seed)
    x = 2 * torch.randn(5, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    _, log_det = flow(x)
    torch.testing.assert_close(log_det, autograd_log_det(flow, x), rtol=1e-9, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(dim=st.integers(2, 6), n_couplings=st.integers(1, 4), seed=st.integers(0, 10_000), scale=st.floats(0.1, 5.0))
def test_inverse_inverts_both_ways(dim, n_couplings, seed, scale):
    flow = _random_flow(dim, n_couplings, seed)
    x = scale * torch.randn(7, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        z, _ = flow(x)
        torch.testing.assert_close(flow.inverse(z), x, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(flow(flow.inverse(x))[0], x, rtol=1e-9, atol=1e-9)


def test_single_coupling_jacobian_is_triangular_with_exp_s_diagonal():
    torch.manual_seed(0)
    layer = AffineCoupling(2, torch.tensor([1.0, 0.0]), hidden=6).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn_like(p))
    x = torch.tensor([0.3, -1.2], dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: layer(v[None])[0][0], x)
    assert J[0, 1] == 0 and J[0, 0] == 1                 # the kept coordinate is copied
    with torch.no_grad():
        s, _ = layer._s_t(layer.mask * x[None])
    assert float(J[1, 1]) == pytest.approx(math.exp(float(s[0, 1])), rel=1e-12)


def test_density_integrates_to_one_in_2d():
    flow = _random_flow(2, 4, 3)
    g = torch.linspace(-12, 12, 801, dtype=torch.float64)
    GX, GY = torch.meshgrid(g, g, indexing="xy")
    with torch.no_grad():
        p = flow.log_prob(torch.stack([GX.flatten(), GY.flatten()], 1)).exp()
    assert float(p.sum() * (g[1] - g[0]) ** 2) == pytest.approx(1.0, abs=2e-3)


def test_standard_normal_log_prob_matches_torch():
    z = torch.randn(4, 3, dtype=torch.float64)
    want = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    torch.testing.assert_close(standard_normal_log_prob(z), want)


def test_training_learns_a_correlated_gaussian_and_samples_match():
    g = torch.Generator().manual_seed(0)
    A = torch.tensor([[1.0, 0.0], [0.9, 0.3]])
    X = torch.randn(2000, 2, generator=g) @ A.T + torch.tensor([1.0, -2.0])
    flow = train_flow(X, steps=400, n_couplings=4, hidden=16, lr=5e-3, batch_size=256, seed=0)
    true = torch.distributions.MultivariateNormal(torch.tensor([1.0, -2.0]), A @ A.T)
    with torch.no_grad():
        gap = float((true.log_prob(X) - flow.log_prob(X)).mean())   # = KL(data ‖ flow) + noise ≥ ~0
    assert -0.05 < gap < 0.1
    S = flow.sample(4000, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(S.mean(0), torch.tensor([1.0, -2.0]), atol=0.1)
    assert torch.allclose(torch.cov(S.T), A @ A.T, atol=0.1)
    assert len(flow.history) == 4


def test_dim_64_dequantised_binary_data():
    """Chapter 18's use: a 64-d flow on x + u, u ~ U[0,1)^64; finite, invertible, better than at the start."""
    g = torch.Generator().manual_seed(0)
    X = (torch.rand(300, 64, generator=g) < 0.3).float()
    flow = train_flow(X, steps=60, n_couplings=4, hidden=32, dequantize=True, seed=0, every=20)
    Xd = X + torch.rand(X.shape, generator=g)
    with torch.no_grad():
        lp = flow.log_prob(Xd)
        assert torch.isfinite(lp).all()
        torch.testing.assert_close(flow.inverse(flow(Xd)[0]), Xd, rtol=1e-4, atol=1e-4)
    assert flow.history[-1] < flow.history[0]
    assert flow.sample(3).shape == (3, 64)


def test_train_flow_is_deterministic():
    X = torch.randn(100, 2, generator=torch.Generator().manual_seed(0))
    a = train_flow(X, steps=20, n_couplings=2, hidden=8, seed=1).log_prob(X)
    b = train_flow(X, steps=20, n_couplings=2, hidden=8, seed=1).log_prob(X)
    assert torch.equal(a, b)


def test_bad_input_errors():
    flow = RealNVP(2, 2, 8)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 2\)"):
        flow(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="z must have 2 dimensions"):
        flow.inverse(torch.zeros(2))
    with pytest.raises(ValueError, match="x must contain only finite"):
        flow.log_prob(torch.tensor([[float("nan"), 0.0]]))
    with pytest.raises(ValueError, match="dim must be >= 2"):
        RealNVP(1)
    with pytest.raises(ValueError, match="n_couplings must be >= 1"):
        RealNVP(2, 0)
    with pytest.raises(ValueError, match="mask must contain only 0 and 1"):
        AffineCoupling(2, torch.tensor([1.0, 1.0]))
    with pytest.raises(ValueError, match="X_train must have at least 2 columns"):
        train_flow(torch.zeros(10, 1), steps=1)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        train_flow(torch.zeros(10, 2), steps=0)
    with pytest.raises(TypeError, match="dequantize must be"):
        train_flow(torch.zeros(10, 2), steps=1, dequantize="yes")
    with pytest.raises(TypeError, match="f must be callable"):
        autograd_log_det(3, torch.zeros(1, 2))
    with pytest.raises(ValueError, match="square Jacobian"):
        autograd_log_det(lambda v: v[:, :1], torch.zeros(1, 2))


def test_exercise_checker():
    assert run_check("flows.affine_coupling", lambda x, s, t, m: (m * x + (1 - m) * (x * s.exp() + t),
                                                                  ((1 - m) * s).sum(1))).passed


# ---------------------------------------------------------------- densities of discrete data
def bits(n, d, seed=0, p=0.4):
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) < p).float()


def test_dequantize_stays_in_the_cell_of_each_binary_vector():
    X = bits(50, 6)
    Y = dequantize(X, torch.Generator().manual_seed(1))
    assert torch.equal(Y.floor(), X)                       # each point lies in its own cube x + [0, 1)^D
    assert float((Y - X).mean()) == pytest.approx(0.5, abs=0.05)


def test_dequantized_nll_is_exact_for_a_density_constant_on_cells():
    # p(y) = P(floor(y)) on [0, 2)^D with P = independent Bernoulli(q): the bound is tight
    q = torch.tensor([0.2, 0.7, 0.5])
    X = bits(40, 3, seed=2)

    def log_prob(y):
        x = y.floor()
        return (x * q.log() + (1 - x) * (1 - q).log()).sum(1)

    exact = -float((X * q.log() + (1 - X) * (1 - q).log()).sum(1).mean())
    assert dequantized_nll(log_prob, X, n_samples=3) == pytest.approx(exact, abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(mean=st.floats(-1, 2), std=st.floats(0.3, 2), seed=st.integers(0, 1000))
def test_dequantized_nll_bounds_the_discrete_nll_of_a_gaussian(mean, std, seed):
    # 1-D Gaussian density: P(x) = Φ((x + 1 − m)/s) − Φ((x − m)/s) exactly; the bound must be ≥ −log P(x)
    X = bits(30, 1, seed=seed)
    normal = torch.distributions.Normal(torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64))
    P = normal.cdf(X.double() + 1) - normal.cdf(X.double())
    exact = -float(P.log().mean())

    def log_prob(y):
        return normal.log_prob(y.double()).sum(1)

    bound = dequantized_nll(log_prob, X, n_samples=400, generator=torch.Generator().manual_seed(seed))
    assert bound >= exact - 0.02                            # Jensen (Monte Carlo slack 0.02)


def test_dequantized_flow_training_is_deterministic_and_lowers_the_bound():
    """``train_flow(dequantize=True)``, as chapter 18 uses it: fresh noise per minibatch."""
    X = bits(200, 2, seed=3).repeat_interleave(4, dim=1)     # 8 columns, 4 copies of each of 2 bits
    kw = dict(n_couplings=2, hidden=16, batch_size=128, dequantize=True, seed=0, every=50)
    f1, f2 = train_flow(X, steps=150, **kw), train_flow(X, steps=150, **kw)
    for a, b in zip(f1.parameters(), f2.parameters()):
        assert torch.equal(a, b)
    assert len(f1.history) == 3 and f1.history[-1] < f1.history[0]
    g = torch.Generator().manual_seed(0)
    bound = dequantized_nll(f1.log_prob, X, n_samples=5, generator=g)
    start = train_flow(X, steps=1, **kw)
    assert math.isfinite(bound) and bound < dequantized_nll(start.log_prob, X, n_samples=5, generator=g) - 0.5
    assert f1.sample(5).shape == (5, 8)


@pytest.mark.parametrize("call, match", [
    (lambda: dequantize(torch.full((2, 3), 0.5)), "X must contain only 0 and 1"),
    (lambda: dequantize(torch.zeros(3)), "X"),
    (lambda: dequantized_nll(3, bits(2, 2)), "log_prob"),
    (lambda: dequantized_nll(lambda y: y.sum(1), bits(2, 2), n_samples=0), "n_samples"),
])
def test_dequantisation_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_train_flow_leaves_the_global_random_state_alone_and_is_reproducible():
    X = torch.randn(60, 2, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = train_flow(X, steps=5, n_couplings=2, hidden=8, seed=3)
    assert torch.equal(torch.get_rng_state(), before)      # the caller's next draws are unchanged
    b = train_flow(X, steps=5, n_couplings=2, hidden=8, seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    c = train_flow(X, steps=5, n_couplings=2, hidden=8, seed=4)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
