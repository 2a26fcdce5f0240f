"""Tests for nnbook.autoregressive: MADE masks, the autoregressive property, exact likelihood, sampling."""
import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook.autoregressive import MADE, check_binary_rows, input_output_jacobian, made_degrees, made_masks, train_made
from nnbook.exercises import run_check


@settings(max_examples=15, deadline=None)
@given(D=st.integers(2, 9), hidden=st.lists(st.integers(1, 12), min_size=1, max_size=3), seed=st.integers(0, 10_000),
       shuffle=st.booleans())
def test_jacobian_of_logits_is_strictly_triangular_in_the_order(D, hidden, seed, shuffle):
    """Output d depends only on inputs before d in the order: autograd's Jacobian has no entry on or above the diagonal."""
    torch.manual_seed(seed)
    order = torch.randperm(D) if shuffle else None
    model = MADE(D, hidden, order=order).double()
    for p in model.parameters():                      # random non-zero weights, so no dependence hides behind a zero
        torch.nn.init.normal_(p)
    x = torch.randn(D, dtype=torch.float64)
    J = input_output_jacobian(model, x)
    o = model.order
    Jo = J[o][:, o]                                   # rows and columns in the chain-rule order
    assert torch.all(torch.triu(Jo) == 0)
    # and MADE uses what it may: through the masks, every earlier input can reach every later output
    # when the first hidden layer has at least D-1 units (every degree present)
    if min(hidden) >= D - 1:
        conn = made_masks(D, hidden, o)
        reach = conn[0]
        for M in conn[1:]:
            reach = (M @ reach > 0).float()
        assert torch.equal(reach[o][:, o], torch.tril(torch.ones(D, D), -1))


def test_the_jacobian_check_catches_a_leaky_mask():
    torch.manual_seed(0)
    model = MADE(5, 8).double()
    for p in model.parameters():
        torch.nn.init.normal_(p)
    model.net[-1].mask.fill_(1.0)                     # output layer without its mask: x_d leaks into p(x_d | ·)
    J = input_output_jacobian(model, torch.randn(5, dtype=torch.float64))
    assert torch.any(torch.triu(J) != 0)
    with torch.no_grad():                             # and the "probabilities" no longer sum to one
        X = torch.tensor(list(itertools.product([0.0, 1.0], repeat=5)), dtype=torch.float64)
        assert abs(float(torch.logsumexp(model.log_prob(X), 0))) > 1e-3


def test_masks_shapes_and_degrees():
    masks = made_masks(4, (5, 3))
    assert [tuple(m.shape) for m in masks] == [(5, 4), (3, 5), (4, 3)]
    deg = made_degrees(4, (5,))
    assert deg[0].tolist() == [1, 2, 3, 4] and deg[1].tolist() == [1, 2, 3, 1, 2]
    # the first input (degree 1) reaches nothing through the output mask: p(x_1) is a constant
    assert masks[-1][0].sum() == 0


def test_log_prob_is_a_normalised_distribution():
    """Summing p(x) over all 2^D binary vectors gives exactly 1 (the chain rule normalises itself)."""
    torch.manual_seed(0)
    D = 6
    model = MADE(D, (7, 5)).double()
    for p in model.parameters():
        torch.nn.init.normal_(p)
    X = torch.tensor(list(itertools.product([0.0, 1.0], repeat=D)), dtype=torch.float64)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(X), 0)
    assert float(total) == pytest.approx(0.0, abs=1e-10)


def test_log_prob_matches_chain_rule_by_hand():
    torch.manual_seed(1)
    model = MADE(3, 4).double()
    x = torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64)
    with torch.no_grad():
        logit = model.logits(x)[0]
    p = torch.sigmoid(logit)
    by_hand = math.log(p[0]) + math.log(1 - p[1]) + math.log(p[2])
    assert float(model.log_prob(x)[0].detach()) == pytest.approx(by_hand, abs=1e-12)


def test_samples_follow_the_model_distribution():
    """Empirical frequencies of 20 000 samples match the exact p(x) of a 3-variable MADE."""
    torch.manual_seed(2)
    model = MADE(3, 6).double()
    for p in model.parameters():
        torch.nn.init.normal_(p)
    S = model.sample(20_000, generator=torch.Generator().manual_seed(0))
    assert set(S.unique().tolist()) <= {0.0, 1.0}
    X = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=torch.float64)
    with torch.no_grad():
        exact = model.log_prob(X).exp()
    emp = torch.stack([(S == x).all(1).double().mean() for x in X])
    assert float((emp - exact).abs().max()) < 0.015    # ~4 binomial standard errors at n = 20 000


def test_sampling_takes_one_pass_per_variable():
    model = MADE(10, 8)
    calls = []
    model.net.register_forward_hook(lambda *a: calls.append(1))
    model.sample(5)
    assert len(calls) == 10
    calls.clear()
    model.log_prob(torch.zeros(5, 10))
    assert len(calls) == 1


def test_training_beats_independent_pixels():
    """Pairs of copied bits: MADE learns the copy, an independent model cannot (ln 2 per copied bit)."""
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(600, 4, generator=g) < 0.5).float()
    X = torch.stack([a, a], 2).reshape(600, 8)         # x_{2i+1} = x_{2i}
    model = train_made(X, epochs=60, hidden=(32,), lr=1e-2, seed=0)
    nll = float(-model.log_prob(X).mean().detach())
    assert nll < 4 * math.log(2) + 0.15                # optimum: 4 ln 2 ≈ 2.77; independent: 8 ln 2 ≈ 5.55
    assert len(model.history) == 60 and model.history[-1] < model.history[0]


def test_train_made_is_deterministic():
    X = (torch.rand(50, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    a = train_made(X, epochs=3, hidden=8, seed=4).log_prob(X)
    b = train_made(X, epochs=3, hidden=8, seed=4).log_prob(X)
    assert torch.equal(a, b)


def test_bad_input_errors():
    model = MADE(4, 5)
    with pytest.raises(ValueError, match="only 0 and 1"):
        model.log_prob(torch.full((2, 4), 0.5))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 4\)"):
        model.log_prob(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="x must have 2 dimensions"):
        model.log_prob(torch.zeros(4))
    with pytest.raises(ValueError, match="X_train must contain only 0 and 1"):
        train_made(torch.rand(10, 4), epochs=1)
    with pytest.raises(ValueError, match="input_dim must be >= 2"):
        MADE(1, 4)
    with pytest.raises(ValueError, match="hidden\\[0\\] must be >= 1"):
        MADE(4, (0,))
    with pytest.raises(ValueError, match="order must be a permutation"):
        MADE(3, 4, order=[0, 0, 1])
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        train_made(torch.zeros(4, 4), epochs=0)
    with pytest.raises(TypeError, match="n must be an integer"):
        model.sample(2.5)
    with pytest.raises(TypeError, match="model must be"):
        input_output_jacobian(torch.nn.Linear(4, 4), torch.zeros(4))
    with pytest.raises(ValueError, match="only 0 and 1"):
        check_binary_rows("x", [[0.0, 2.0]])


def test_exercise_checker():
    assert run_check("autoregressive.made_masks", lambda di, dh: ((dh[:, None] >= di[None]).float(),
                                                                   (di[:, None] > dh[None]).float())).passed


def test_train_made_leaves_the_global_random_state_alone_and_is_reproducible():
    X = (torch.rand(40, 6, generator=torch.Generator().manual_seed(5)) < 0.5).float()
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = train_made(X, epochs=2, hidden=(16,), seed=3)
    assert torch.equal(torch.get_rng_state(), before)      # the caller's next draws are unchanged
    b = train_made(X, epochs=2, hidden=(16,), seed=3)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    assert a.history == b.history
    c = train_made(X, epochs=2, hidden=(16,), seed=4)
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
