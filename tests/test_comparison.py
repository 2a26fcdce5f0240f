"""Tests for nnbook.comparison: the dequantisation bound, dequantised flow training, sharpness, the IW bound."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook.comparison import (
    dequantize,
    dequantized_nll,
    edge_energy,
    importance_weighted_bound,
    timed,
)
from nnbook.exercises import run_check
from nnbook.flows import train_flow


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
    """``train_flow(dequantize=True)``, as chapter 17 uses it: fresh noise per minibatch."""
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
    (lambda: edge_energy(torch.zeros(2, 63)), "X must have shape"),
    (lambda: importance_weighted_bound(torch.zeros(3)), "log_w"),
    (lambda: importance_weighted_bound(torch.zeros(0, 2)), "log_w"),
    (lambda: timed("not callable"), "fn"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("name", ["comparison.dequantized_nll", "comparison.edge_energy", "comparison.iw_bound"])
def test_exercise_reference_passes_and_wrong_answers_fail(name):
    from nnbook.exercises import get

    ex = get(name)
    assert run_check(name, ex.reference).passed
    for wrong in ex.wrong:
        assert not run_check(name, wrong).passed
