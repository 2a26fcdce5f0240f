"""Principles of model design: Occam's razor, No Free Lunch, Ugly Duckling.

The notes (static networks, §1) state three theorems that "guide model
design". This module turns each into something that can be run and counted:

- **Occam's razor** (奥卡姆剃刀): a capacity sweep of polynomial regression with
  K-fold cross-validation, and the *one-standard-error rule* that picks the
  simplest model whose validation error is within one standard error of the
  best (:func:`capacity_sweep`, :func:`one_standard_error_rule`).
- **No Free Lunch** (没有免费午餐): enumerate *every* Boolean target on a small
  input space ``{0,1}^d`` and average a learner's off-training-set accuracy
  over all of them, exactly, with :class:`fractions.Fraction`
  (:func:`ots_accuracies`, :func:`average_ots_accuracy`).
- **Ugly Duckling** (丑小鸭定理): count the predicates two objects share, over
  *all* Boolean predicates of their features (:func:`all_predicates`,
  :func:`shared_predicate_counts`).

It also holds the two tiny networks that show static (feed-forward) versus
dynamic (recurrent) behaviour: :class:`StaticNet` and :class:`RecurrentNet`.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_equal
from nnbook.validate import (COUNT, NONNEGATIVE, SEED, Array, Function, Int, check_array, check_int, check_tensor,
                             checked)

__all__ = [
    # Occam's razor
    "make_occam_task",
    "PolynomialRegressor",
    "capacity_sweep",
    "one_standard_error_rule",
    # No Free Lunch
    "boolean_inputs",
    "all_targets",
    "majority_learner",
    "nearest_neighbour_learner",
    "stump_learner",
    "perceptron_learner",
    "anti_learner",
    "ots_accuracies",
    "average_ots_accuracy",
    "literal_targets",
    # Ugly Duckling
    "all_predicates",
    "shared_predicate_counts",
    # static vs dynamic
    "StaticNet",
    "RecurrentNet",
]


def _same_length(name: str, value, other_name: str, other) -> None:
    if len(value) != len(other):
        raise ValueError(f"{name} must have one entry per entry of {other_name} ({len(other)}), got {len(value)}")


# =============================================================== Occam's razor
@checked(n=COUNT, noise=NONNEGATIVE, seed=SEED)
def make_occam_task(n: int = 30, noise: float = 0.3, seed: int = 0):
    """A 1-D regression task: ``y = sin(πx) + ε`` with ``x ~ U[-1, 1]``, ``ε ~ N(0, noise²)``.

    Returns ``x (n,)`` and ``y (n,)`` as float64 NumPy arrays.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, size=n)
    y = np.sin(np.pi * x) + noise * rng.standard_normal(n)
    return x, y


class PolynomialRegressor:
    """Least-squares polynomial of a given degree, ``ŷ(x) = Σ_{k=0}^{degree} w_k P_k(x)``.

    ``P_k`` are Legendre polynomials (the same function space as ``1, x, …, x^degree``,
    but far better conditioned on [-1, 1]). ``fit`` solves ``min_w ‖Φw − y‖²``
    with ``Φ`` the ``(n, degree + 1)`` design matrix; with more coefficients
    than points the minimum-norm solution is returned.
    """

    @checked(degree=Int(0))
    def __init__(self, degree: int):
        self.degree = degree
        self.coef_ = None

    def _design(self, x) -> np.ndarray:
        return np.polynomial.legendre.legvander(x, self.degree)  # (n, degree + 1)

    @checked(x=Array(ndim=1), y=Array(ndim=1))
    def fit(self, x, y) -> "PolynomialRegressor":
        _same_length("y", y, "x", x)
        self.coef_, *_ = np.linalg.lstsq(self._design(x), y, rcond=None)
        return self

    @checked(x=Array(ndim=1))
    def predict(self, x) -> np.ndarray:
        if self.coef_ is None:
            raise ValueError("this PolynomialRegressor is not fitted yet: call fit(x, y) first")
        return self._design(x) @ self.coef_


@checked(x=Array(ndim=1), y=Array(ndim=1), n_folds=Int(2), seed=SEED)
def capacity_sweep(x, y, degrees: Sequence[int], n_folds: int = 5, seed: int = 0) -> dict:
    """K-fold cross-validation of :class:`PolynomialRegressor` for each degree.

    Returns a dict of arrays, one entry per degree:
    ``degree``, ``train_mse`` and ``val_mse`` (means over the folds) and
    ``val_se`` (the standard error of the fold validation MSEs, ``std / √K``).
    The folds are the same for every degree (a fixed permutation from ``seed``).
    """
    _same_length("y", y, "x", x)
    degrees = [check_int("degrees", d, min_value=0) for d in degrees]
    if not degrees:
        raise ValueError("degrees must not be empty")
    if n_folds > len(x):
        raise ValueError(f"n_folds must be <= the number of points ({len(x)}), got {n_folds}")
    perm = np.random.default_rng(seed).permutation(len(x))
    folds = np.array_split(perm, n_folds)
    out = {k: np.zeros(len(degrees)) for k in ("train_mse", "val_mse", "val_se")}
    for i, deg in enumerate(degrees):
        tr_err, va_err = [], []
        for fold in folds:
            train = np.setdiff1d(perm, fold)
            model = PolynomialRegressor(deg).fit(x[train], y[train])
            tr_err.append(np.mean((model.predict(x[train]) - y[train]) ** 2))
            va_err.append(np.mean((model.predict(x[fold]) - y[fold]) ** 2))
        out["train_mse"][i] = np.mean(tr_err)
        out["val_mse"][i] = np.mean(va_err)
        out["val_se"][i] = np.std(va_err, ddof=1) / np.sqrt(n_folds)
    out["degree"] = np.array(degrees)
    return out


@checked(complexity=Array(ndim=1), mean_error=Array(ndim=1), se_error=Array(ndim=1))
def one_standard_error_rule(complexity, mean_error, se_error):
    """The simplest adequate model: the smallest ``complexity`` whose mean error is
    at most ``min(mean_error) + se_error[argmin]`` (the one-standard-error rule).

    All three are 1-D sequences of the same length. Returns the chosen complexity.
    """
    c, m, s = complexity, mean_error, se_error
    _same_length("mean_error", m, "complexity", c)
    _same_length("se_error", s, "complexity", c)
    if np.any(s < 0):
        raise ValueError("se_error must be >= 0")
    best = int(np.argmin(m))
    threshold = m[best] + s[best]
    adequate = c[m <= threshold]
    chosen = adequate.min()
    return int(chosen) if float(chosen).is_integer() else float(chosen)


# =============================================================== No Free Lunch
@checked(d=Int(1, 8))
def boolean_inputs(d: int) -> np.ndarray:
    """All ``2^d`` points of ``{0,1}^d`` as rows of an ``(2^d, d)`` int array; row ``k`` is ``k`` in binary (MSB first)."""
    k = np.arange(2**d)
    return ((k[:, None] >> np.arange(d - 1, -1, -1)) & 1).astype(np.int64)


@checked(n_points=Int(1, 16))
def all_targets(n_points: int) -> np.ndarray:
    """Every Boolean function on ``n_points`` points: an ``(2^n_points, n_points)`` 0/1 array.

    Row ``t`` is the truth table of target ``t`` (``t`` in binary, MSB first).
    """
    t = np.arange(2**n_points)
    return ((t[:, None] >> np.arange(n_points - 1, -1, -1)) & 1).astype(np.int64)


# A learner is any function  learner(X_train, y_train, X_query) -> 0/1 predictions for X_query.
class Binary(Array):
    """The rule for an array of 0s and 1s, returned as int64 (0.5 is rejected, not truncated)."""

    def check(self, name, value):
        return _check_binary(name, value, ndim=self.ndim)


BINARY = Binary(ndim=2)
TRAIN_IDX = Array(ndim=1, dtype=np.int64)
_learner_rules = checked(X_train=BINARY, y_train=Binary(ndim=1), X_query=BINARY)


def _learner_args(X_train, y_train, X_query):
    """The learners' shared check: ``X_train (n, d)``, ``y_train (n,)``, ``X_query (q, d)`` agree."""
    if len(y_train) != len(X_train):
        raise ValueError(f"y_train must have one label per row of X_train ({len(X_train)}), got {len(y_train)}")
    if X_query.shape[1] != X_train.shape[1]:
        raise ValueError(f"X_query must have {X_train.shape[1]} columns like X_train, got shape {X_query.shape}")


@_learner_rules
def majority_learner(X_train, y_train, X_query) -> np.ndarray:
    """Predict the majority training label everywhere (a tie predicts 0)."""
    _learner_args(X_train, y_train, X_query)
    label = int(2 * np.sum(y_train) > len(y_train))
    return np.full(len(X_query), label, dtype=np.int64)


@_learner_rules
def nearest_neighbour_learner(X_train, y_train, X_query) -> np.ndarray:
    """1-nearest neighbour in Hamming distance; a tie goes to the earliest training point."""
    _learner_args(X_train, y_train, X_query)
    dist = np.abs(X_query[:, None, :] - X_train[None, :, :]).sum(-1)  # (q, n)
    return y_train[np.argmin(dist, axis=1)]


@_learner_rules
def stump_learner(X_train, y_train, X_query) -> np.ndarray:
    """A decision stump: predict ``x_j`` or ``1 − x_j`` for the feature ``j`` and polarity
    with the fewest training errors (ties: lowest ``j``, then ``x_j`` before ``1 − x_j``)."""
    _learner_args(X_train, y_train, X_query)
    y = y_train
    errors = [(np.sum(X_train[:, j] != y), j, 0) for j in range(X_train.shape[1])]
    errors += [(np.sum(1 - X_train[:, j] != y), j, 1) for j in range(X_train.shape[1])]
    _, j, flip = min(errors, key=lambda e: (e[0], e[1], e[2]))
    return (X_query[:, j] ^ flip).astype(np.int64)


@checked(X_train=BINARY, y_train=Binary(ndim=1), X_query=BINARY, epochs=Int(0))
def perceptron_learner(X_train, y_train, X_query, epochs: int = 10) -> np.ndarray:
    """Rosenblatt's perceptron on ±1-coded inputs with a bias, ``epochs`` passes in
    training order, integer arithmetic; predicts ``1`` where ``w·x + b ≥ 0``."""
    _learner_args(X_train, y_train, X_query)
    s, t = 2 * X_train - 1, 2 * y_train - 1
    w, b = np.zeros(s.shape[1], dtype=np.int64), 0
    for _ in range(epochs):
        for xi, ti in zip(s, t):
            if ti * (xi @ w + b) <= 0:
                w, b = w + ti * xi, b + ti
    return ((2 * X_query - 1) @ w + b >= 0).astype(np.int64)


@checked(learner=Function())
def anti_learner(learner: Callable) -> Callable:
    """The anti-learner of ``learner``: it predicts the opposite label everywhere."""

    def anti(X_train, y_train, X_query):
        return 1 - np.asarray(learner(X_train, y_train, X_query), dtype=np.int64)

    anti.__name__ = f"anti_{getattr(learner, '__name__', 'learner')}"
    return anti


def _check_train_idx(idx, n_points: int) -> np.ndarray:
    if len(np.unique(idx)) != len(idx):
        raise ValueError("train_idx must not repeat a point")
    if idx.min() < 0 or idx.max() >= n_points:
        raise ValueError(f"train_idx must index the {n_points} input points, got {idx.tolist()}")
    if len(idx) == n_points:
        raise ValueError("train_idx must leave at least one point off the training set")
    return idx


@checked(learner=Function(), X=BINARY, train_idx=TRAIN_IDX, targets=Binary(ndim=2, optional=True))
def ots_accuracies(learner: Callable, X, train_idx, targets=None) -> list:
    """Off-training-set accuracy of ``learner`` on each target, as exact fractions.

    ``X (N, d)`` are all input points, ``train_idx`` the training points, and
    ``targets (T, N)`` 0/1 truth tables (default: *all* ``2^N`` Boolean targets).
    For target ``f`` the learner sees ``(X[train], f[train])`` and predicts the
    other points; its off-training-set accuracy is the fraction of those it gets right.
    The learner is called once per distinct training labelling (it sees nothing else).
    """
    idx = _check_train_idx(train_idx, len(X))
    T = all_targets(len(X)) if targets is None else targets
    if T.shape[1] != len(X):
        raise ValueError(f"targets must have one column per point of X ({len(X)}), got shape {T.shape}")
    off = np.setdiff1d(np.arange(len(X)), idx)
    cache: dict[tuple, np.ndarray] = {}
    result = []
    for f in T:
        key = tuple(f[idx])
        if key not in cache:
            pred = np.asarray(learner(X[idx], f[idx], X[off]))
            if pred.shape != (len(off),):
                raise ValueError(f"learner must return one prediction per query point, got shape {pred.shape}")
            cache[key] = pred
        result.append(Fraction(int(np.sum(cache[key] == f[off])), len(off)))
    return result


@checked(learner=Function(), X=BINARY, train_idx=TRAIN_IDX, targets=Binary(ndim=2, optional=True))
def average_ots_accuracy(learner: Callable, X, train_idx, targets=None) -> Fraction:
    """The mean of :func:`ots_accuracies` over the targets, exactly (NFL: 1/2 over all targets)."""
    acc = ots_accuracies.unchecked(learner, X, train_idx, targets)
    return sum(acc, Fraction(0)) / len(acc)


@checked(d=Int(1, 8))
def literal_targets(d: int) -> np.ndarray:
    """The ``2d + 2`` "simple" targets on ``{0,1}^d``: the constants 0 and 1, and ``x_j`` and ``1 − x_j``.

    Returns ``(2d + 2, 2^d)`` truth tables over :func:`boolean_inputs` ``(d)``.
    """
    X = boolean_inputs.unchecked(d)
    rows = [np.zeros(len(X), dtype=np.int64), np.ones(len(X), dtype=np.int64)]
    for j in range(d):
        rows += [X[:, j], 1 - X[:, j]]
    return np.stack(rows)


# =============================================================== Ugly Duckling
def _check_binary(name: str, value, ndim: int = 2) -> np.ndarray:
    """An array of 0s and 1s as int64 (0.5 is rejected, not truncated)."""
    arr = check_array(name, value, ndim=ndim)
    if np.any((arr != 0) & (arr != 1)):
        raise ValueError(f"{name} must contain only 0 and 1")
    return arr.astype(np.int64)


@checked(X=BINARY)
def all_predicates(X) -> np.ndarray:
    """Evaluate *every* Boolean predicate of the features on the objects.

    ``X (m, d)`` are 0/1 feature vectors (``d ≤ 4``). A predicate is any Boolean
    function ``{0,1}^d → {0,1}``; there are ``2^(2^d)`` of them. Returns the
    ``(m, 2^(2^d))`` 0/1 matrix ``P[i, p]`` = "predicate ``p`` holds for object ``i``".
    """
    d = X.shape[1]
    if d > 4:
        raise ValueError(f"X must have at most 4 features (2^(2^d) predicates), got d={d}")
    tables = all_targets.unchecked(2**d)  # (2^(2^d), 2^d): truth table of each predicate
    code = X @ (1 << np.arange(d - 1, -1, -1))  # (m,): the row of boolean_inputs(d) of each object
    return tables[:, code].T.astype(np.int64)


@checked(P=BINARY)
def shared_predicate_counts(P) -> np.ndarray:
    """``S[i, j]`` = how many predicates (columns of ``P (m, n_pred)``, 0/1) hold for both
    objects ``i`` and ``j``: ``S = P Pᵀ``. Pass raw features for "feature similarity",
    or :func:`all_predicates` ``(X)`` for the Ugly Duckling count."""
    return P @ P.T


# =============================================================== static vs dynamic
class StaticNet(nn.Module):
    """A static (feed-forward) network applied at each time step: ``y_t = W₂ tanh(W₁ x_t + b₁) + b₂``.

    ``forward(x)`` takes ``x (T, n_in)`` (or ``(T, B, n_in)``) and returns ``y`` of the same
    leading shape with ``n_out`` features. ``y_t`` depends on ``x_t`` only.
    """

    @checked(n_in=COUNT, n_hidden=COUNT, n_out=COUNT)
    def __init__(self, n_in: int = 1, n_hidden: int = 8, n_out: int = 1):
        super().__init__()
        self.hidden = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_tensor("x", x, ndim=(2, 3))
        if x.shape[-1] != self.hidden.in_features:
            raise ValueError(f"x must have {self.hidden.in_features} features in its last dimension, got shape {tuple(x.shape)}")
        return self.out(torch.tanh(self.hidden(x)))


class RecurrentNet(nn.Module):
    """A dynamic (recurrent, Elman) network: it feeds its state back.

    ``h_t = tanh(W_x x_t + b_x + W_h h_{t−1} + b_h)``, ``h_0 = 0``, ``y_t = W_y h_t + b_y``.
    ``forward(x)`` takes ``x (T, n_in)`` or ``(T, B, n_in)`` and returns ``y`` with ``n_out``
    features: ``y_t`` depends on ``x_1, …, x_t`` through the state.
    """

    @checked(n_in=COUNT, n_hidden=COUNT, n_out=COUNT)
    def __init__(self, n_in: int = 1, n_hidden: int = 8, n_out: int = 1):
        super().__init__()
        self.input = nn.Linear(n_in, n_hidden)
        self.recur = nn.Linear(n_hidden, n_hidden)
        self.out = nn.Linear(n_hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_tensor("x", x, ndim=(2, 3))
        if x.shape[-1] != self.input.in_features:
            raise ValueError(f"x must have {self.input.in_features} features in its last dimension, got shape {tuple(x.shape)}")
        x = x.to(self.input.weight.dtype)
        h = torch.zeros(*x.shape[1:-1], self.recur.in_features, dtype=x.dtype, device=x.device)
        ys = []
        for x_t in x:  # time steps, in order
            h = torch.tanh(self.input(x_t) + self.recur(h))
            ys.append(self.out(h))
        return torch.stack(ys)


# =============================================================== exercise checkers
def _ref_count_shared(X, i, j):
    """Reference: predicates of the features of X that hold for both objects i and j."""
    return int(shared_predicate_counts(all_predicates(np.asarray(X)))[i, j])


def _wrong_count_raw(X, i, j):  # counts shared raw features only
    X = np.asarray(X)
    return int(np.sum(X[i] & X[j]))


def _wrong_count_either(X, i, j):  # counts predicates true for i OR j
    P = all_predicates(np.asarray(X))
    return int(np.sum(P[i] | P[j]))


@exercise(
    "principles.count_shared",
    reference=_ref_count_shared,
    wrong=[_wrong_count_raw, _wrong_count_either],
    hint="enumerate every truth table over the 2^d possible inputs (there are 2^(2^d)) and "
    "count those that are 1 on the input of object i AND on the input of object j.",
)
def _check_count_shared(func):
    cases = [
        (np.array([[1, 1, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]]), 1, 2),
        (np.array([[1, 1, 1], [0, 1, 0], [0, 0, 0], [1, 0, 0]]), 0, 1),
        (np.array([[0, 1], [1, 1]]), 0, 1),
        (np.array([[0, 1], [1, 1]]), 1, 1),
        (np.array([[0, 0, 1, 1], [1, 0, 1, 0]]), 0, 1),
    ]
    for X, i, j in cases:
        got = func(X.copy(), i, j)
        if isinstance(got, (np.integer, torch.Tensor)):
            got = int(got)
        expect_equal(got, _ref_count_shared(X, i, j), f"shared predicates of objects {i} and {j} of X={X.tolist()}")


def _ref_ots_accuracy(learner, X, train_idx, targets):
    """Reference: the exact mean off-training-set accuracy over the given targets."""
    return average_ots_accuracy(learner, X, train_idx, targets)


def _wrong_ots_including_train(learner, X, train_idx, targets):  # scores the training points too
    X, total = np.asarray(X), Fraction(0)
    for f in np.asarray(targets):
        pred = learner(X[train_idx], f[train_idx], X)
        total += Fraction(int(np.sum(pred == f)), len(X))
    return total / len(targets)


def _wrong_ots_float(learner, X, train_idx, targets):  # a float is not exact
    return float(average_ots_accuracy(learner, X, train_idx, targets))


@exercise(
    "principles.ots_accuracy",
    reference=_ref_ots_accuracy,
    wrong=[_wrong_ots_including_train, _wrong_ots_float],
    hint="for each target f: train on (X[train_idx], f[train_idx]), predict the points NOT in "
    "train_idx, count the correct ones; average with fractions.Fraction (no floats).",
)
def _check_ots_accuracy(func):
    X = boolean_inputs(3)
    train = np.array([0, 3, 5, 6])
    for learner in (nearest_neighbour_learner, majority_learner, stump_learner):
        for name, T in (("all targets", all_targets(8)), ("the literal targets", literal_targets(3))):
            got = func(learner, X, train.copy(), T.copy())
            if not isinstance(got, Fraction):
                raise CheckFailed(f"return an exact fractions.Fraction, got {type(got).__name__} {got!r}")
            expect_equal(got, _ref_ots_accuracy(learner, X, train, T), f"{learner.__name__} on {name}")


def _wrong_argmin(complexity, mean_error, se_error):  # the best, not the simplest adequate model
    return complexity[int(np.argmin(mean_error))]


def _wrong_own_se(complexity, mean_error, se_error):  # uses each model's own SE
    for c, m, s in zip(complexity, mean_error, se_error):
        if m - s <= min(mean_error):
            return c
    return complexity[-1]


@exercise(
    "principles.one_se_rule",
    reference=one_standard_error_rule,
    wrong=[_wrong_argmin, _wrong_own_se],
    hint="threshold = (lowest mean error) + (standard error OF THAT BEST model); "
    "return the smallest complexity whose mean error is <= threshold.",
)
def _check_one_se_rule(func):
    cases = [
        ([1, 2, 3, 4, 5], [5.0, 2.0, 1.05, 1.0, 1.2], [0.5, 0.2, 0.1, 0.1, 0.3], 3),
        ([1, 2, 3, 4, 5], [5.0, 2.0, 1.5, 1.0, 1.2], [0.5, 0.2, 0.6, 0.1, 0.3], 4),
        ([0, 1, 2], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], 0),
        ([2, 4, 8, 16], [0.9, 0.5, 0.45, 0.4], [0.1, 0.05, 0.05, 0.08], 8),
    ]
    for c, m, s, want in cases:
        got = func(list(c), list(m), list(s))
        expect_equal(int(got), want, f"complexity={c}, mean_error={m}, se_error={s}")
