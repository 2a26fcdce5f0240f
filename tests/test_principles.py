"""Tests for nnbook.principles: Occam sweep, NFL by enumeration, Ugly Duckling by counting."""
from fractions import Fraction
from itertools import product

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook import principles as pr

LEARNERS = [
    pr.majority_learner,
    pr.nearest_neighbour_learner,
    pr.stump_learner,
    pr.perceptron_learner,
    pr.anti_learner(pr.nearest_neighbour_learner),
]


# ------------------------------------------------------------------ Occam's razor
def test_polynomial_regressor_matches_numpy_polyfit():
    x, y = pr.make_occam_task(n=25, seed=3)
    xq = np.linspace(-1, 1, 11)
    for deg in (0, 1, 4, 7):
        ours = pr.PolynomialRegressor(deg).fit(x, y).predict(xq)
        ref = np.polyval(np.polyfit(x, y, deg), xq)
        np.testing.assert_allclose(ours, ref, atol=1e-7)


def test_polynomial_interpolates_when_degree_reaches_n_minus_1():
    x, y = pr.make_occam_task(n=8, seed=1)
    model = pr.PolynomialRegressor(7).fit(x, y)
    np.testing.assert_allclose(model.predict(x), y, atol=1e-8)


def test_capacity_sweep_against_sklearn_cross_validation():
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    x, y = pr.make_occam_task(n=30, seed=0)
    res = pr.capacity_sweep(x, y, [1, 3, 5], n_folds=5, seed=0)
    perm = np.random.default_rng(0).permutation(30)
    folds = np.array_split(perm, 5)
    cv = [(np.setdiff1d(perm, f), f) for f in folds]
    for i, deg in enumerate([1, 3, 5]):
        model = make_pipeline(PolynomialFeatures(deg), LinearRegression())
        scores = -cross_val_score(model, x[:, None], y, cv=cv, scoring="neg_mean_squared_error")
        assert res["val_mse"][i] == pytest.approx(scores.mean(), rel=1e-6)
        assert res["val_se"][i] == pytest.approx(scores.std(ddof=1) / np.sqrt(5), rel=1e-6)


def test_training_error_never_increases_with_degree():
    x, y = pr.make_occam_task(n=40, seed=0)
    res = pr.capacity_sweep(x, y, range(12), n_folds=5)
    assert np.all(np.diff(res["train_mse"]) <= 1e-12)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1)), min_size=1, max_size=8))
def test_one_se_rule_picks_the_smallest_adequate_model(rows):
    mean = np.array([r[0] for r in rows])
    se = np.array([r[1] for r in rows])
    comp = np.arange(len(rows))
    chosen = pr.one_standard_error_rule(comp, mean, se)
    best = int(np.argmin(mean))
    assert chosen <= best
    assert mean[chosen] <= mean[best] + se[best]
    assert all(mean[c] > mean[best] + se[best] for c in range(chosen))


# ------------------------------------------------------------------ No Free Lunch
def test_boolean_inputs_enumerates_the_cube_in_binary_order():
    X = pr.boolean_inputs(3)
    assert X.tolist() == [list(p) for p in product([0, 1], repeat=3)]
    T = pr.all_targets(4)
    assert T.shape == (16, 4) and len({tuple(r) for r in T}) == 16


@pytest.mark.parametrize("learner", LEARNERS, ids=lambda f: f.__name__)
def test_nfl_every_learner_averages_exactly_one_half(learner):
    X = pr.boolean_inputs(3)
    for train in ([0, 3, 5, 6], [0], [1, 2, 4, 5, 6, 7]):
        avg = pr.average_ots_accuracy(learner, X, train)
        assert isinstance(avg, Fraction) and avg == Fraction(1, 2)


@pytest.mark.parametrize("learner", LEARNERS, ids=lambda f: f.__name__)
def test_nfl_by_brute_force_without_cache(learner):
    """Call the learner afresh for each of the 2^8 targets, no shortcuts, and compare."""
    X = pr.boolean_inputs(3)
    train = np.array([1, 2, 7])
    off = np.setdiff1d(np.arange(8), train)
    T = pr.all_targets(8)
    correct = [int(np.sum(learner(X[train], f[train], X[off]) == f[off])) for f in T]
    assert Fraction(sum(correct), len(T) * len(off)) == Fraction(1, 2)
    assert pr.ots_accuracies(learner, X, train) == [Fraction(c, len(off)) for c in correct]


def test_nfl_on_four_inputs():
    X = pr.boolean_inputs(4)
    train = np.array([0, 3, 5, 6, 9, 10, 12, 15])
    assert pr.average_ots_accuracy(pr.majority_learner, X, train) == Fraction(1, 2)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 3), st.data())
def test_nfl_property_for_an_arbitrary_deterministic_learner(d, data):
    """Any learner, here a random lookup table from training labels to predictions."""
    n = 2**d
    train = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n - 1, unique=True))
    seed = data.draw(st.integers(0, 10_000))

    def lookup_learner(X_train, y_train, X_query):
        key = int("".join(map(str, y_train)), 2)
        return np.random.default_rng(seed * 1000 + key).integers(0, 2, size=len(X_query))

    assert pr.average_ots_accuracy(lookup_learner, pr.boolean_inputs(d), train) == Fraction(1, 2)


def test_nfl_conservation_a_win_on_some_targets_is_a_loss_on_the_rest():
    X = pr.boolean_inputs(3)
    train = [0, 3, 5, 6]
    lits = pr.literal_targets(3)
    acc = pr.ots_accuracies(pr.perceptron_learner, X, train)
    on_lits = pr.average_ots_accuracy(pr.perceptron_learner, X, train, lits)
    assert on_lits == 1  # the perceptron represents every constant and literal
    lit_rows = {int("".join(map(str, r)), 2) for r in lits}
    rest = [a for t, a in enumerate(acc) if t not in lit_rows]
    assert sum(rest) / len(rest) < Fraction(1, 2)
    assert sum(a - Fraction(1, 2) for a in acc) == 0
    assert pr.average_ots_accuracy(pr.anti_learner(pr.perceptron_learner), X, train, lits) == 0


def test_learners_fit_what_they_can_represent():
    X = pr.boolean_inputs(3)
    f = X[:, 1]  # the literal x_2
    train = [0, 3, 5, 6]
    for learner in (pr.stump_learner, pr.perceptron_learner):
        assert np.array_equal(learner(X[train], f[train], X), f)
    assert np.array_equal(pr.nearest_neighbour_learner(X[train], f[train], X[train]), f[train])
    assert np.array_equal(pr.majority_learner(X[train], f[train], X), np.zeros(8))  # 2-2 tie: predicts 0
    assert np.array_equal(pr.majority_learner(X[train], np.array([1, 1, 0, 1]), X), np.ones(8))
    assert np.array_equal(pr.majority_learner(X[train], np.array([0, 1, 0, 0]), X), np.zeros(8))


def test_ots_bad_inputs():
    X = pr.boolean_inputs(2)
    with pytest.raises(ValueError, match="train_idx"):
        pr.ots_accuracies(pr.majority_learner, X, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="train_idx"):
        pr.ots_accuracies(pr.majority_learner, X, [0, 0])
    with pytest.raises(ValueError, match="train_idx"):
        pr.ots_accuracies(pr.majority_learner, X, [7])
    with pytest.raises(ValueError, match="targets"):
        pr.ots_accuracies(pr.majority_learner, X, [0], targets=np.zeros((2, 3)))
    with pytest.raises(TypeError, match="learner"):
        pr.ots_accuracies("majority", X, [0])
    with pytest.raises(ValueError, match="d"):
        pr.boolean_inputs(0)


# ------------------------------------------------------------------ Ugly Duckling
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.data())
def test_ugly_duckling_every_distinct_pair_shares_the_same_number(d, data):
    m = data.draw(st.integers(2, 2**d))
    codes = data.draw(st.lists(st.integers(0, 2**d - 1), min_size=m, max_size=m, unique=True))
    X = pr.boolean_inputs(d)[codes]
    S = pr.shared_predicate_counts(pr.all_predicates(X))
    off_diag = S[~np.eye(m, dtype=bool)]
    assert np.all(off_diag == 2 ** (2**d - 2))
    assert np.all(np.diag(S) == 2 ** (2**d - 1))


def test_ugly_duckling_over_subsets_of_the_objects():
    """Predicates as subsets of m objects: the m objects as one-hot features of themselves."""
    for m in (2, 3, 5):
        P = pr.all_targets(m).T  # (m, 2^m): object i is in subset t
        S = pr.shared_predicate_counts(P)
        assert np.all(S[~np.eye(m, dtype=bool)] == 2 ** (m - 2))


def test_all_predicates_brute_force():
    X = np.array([[0, 1], [1, 1], [1, 0]])
    P = pr.all_predicates(X)
    assert P.shape == (3, 16)
    tables = list(product([0, 1], repeat=4))  # truth tables over (00, 01, 10, 11)
    for p, table in enumerate(tables):
        for i, (a, b) in enumerate(X):
            assert P[i, p] == table[2 * a + b]


def test_raw_features_do_not_give_equal_similarity():
    birds = np.array([[1, 1, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]])
    S = pr.shared_predicate_counts(birds)
    assert len(set(S[~np.eye(4, dtype=bool)].tolist())) > 1


def test_predicate_bad_inputs():
    with pytest.raises(ValueError, match="X"):
        pr.all_predicates(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="X"):
        pr.all_predicates(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="P"):
        pr.shared_predicate_counts(np.array([[0.5, 1]]))
    with pytest.raises(ValueError, match="degree"):
        pr.PolynomialRegressor(-1)
    with pytest.raises(ValueError, match="y"):
        pr.PolynomialRegressor(1).fit([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match="se_error"):
        pr.one_standard_error_rule([1, 2], [1.0, 2.0], [0.1, -0.1])
    with pytest.raises(ValueError, match="n_folds"):
        pr.capacity_sweep([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [1], n_folds=5)


# ------------------------------------------------------------------ static vs dynamic
def test_static_net_output_depends_only_on_the_current_input():
    torch.manual_seed(0)
    net = pr.StaticNet(2, 5, 1)
    x = torch.randn(7, 2)
    perm = torch.randperm(7)
    torch.testing.assert_close(net(x[perm]), net(x)[perm])


def test_recurrent_net_matches_torch_rnn_and_remembers():
    torch.manual_seed(0)
    net = pr.RecurrentNet(2, 4, 3)
    rnn = torch.nn.RNN(2, 4, nonlinearity="tanh")
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(net.input.weight)
        rnn.bias_ih_l0.copy_(net.input.bias)
        rnn.weight_hh_l0.copy_(net.recur.weight)
        rnn.bias_hh_l0.copy_(net.recur.bias)
    x = torch.randn(6, 5, 2)
    h, _ = rnn(x)
    torch.testing.assert_close(net(x), net.out(h))
    # the same input at two times gives two outputs: the state carries the past
    seq = torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    y = net(seq)
    assert not torch.allclose(y[1], y[2])


def test_networks_reject_bad_input():
    with pytest.raises(ValueError, match="x"):
        pr.StaticNet(2)(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="x"):
        pr.RecurrentNet(2)(torch.zeros(3))
    with pytest.raises(ValueError, match="n_hidden"):
        pr.RecurrentNet(2, 0)
