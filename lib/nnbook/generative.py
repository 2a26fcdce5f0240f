"""Generative vs discriminative classifiers: the class-conditional Gaussian model.

A *generative* classifier models how the data are made, ``p(x, y) = p(y) p(x | y)``,
and classifies with Bayes' rule::

    p(y = c | x) = π_c N(x; μ_c, Σ_c) / Σ_k π_k N(x; μ_k, Σ_k)

:class:`GaussianClassConditional` fits ``π_c`` (class frequencies), ``μ_c``
(class means) and ``Σ_c`` (class covariances, maximum likelihood, plus ``reg``
on the diagonal) and can therefore also **sample** new data: draw ``y ~ π``,
then ``x ~ N(μ_y, Σ_y)``. With ``covariance="diag"`` it is Gaussian naive
Bayes (and matches scikit-learn's ``GaussianNB``); with ``"full"`` it is
quadratic discriminant analysis (QDA).

A *discriminative* classifier (logistic regression) models ``p(y | x)`` only;
:func:`learning_curves` compares the two as the training set grows
(Ng & Jordan, 2001).
"""
from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from nnbook.exercises import CheckFailed, exercise
from nnbook.validate import check_array, check_choice, check_float, check_int

__all__ = [
    "GaussianClassConditional",
    "sample_gaussian",
    "subsample_per_class",
    "learning_curves",
]


def _check_X(X, name="X", n_features=None):
    X = check_array(name, X, ndim=2)
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} must have {n_features} columns (features), got shape {X.shape}")
    return X


def sample_gaussian(mean, cov, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from ``N(mean, cov)``: ``x = μ + L z`` with ``Σ = L Lᵀ`` (Cholesky), ``z ~ N(0, I)``.

    ``mean (d,)``, ``cov (d, d)`` symmetric positive definite → ``(n, d)``.
    """
    mean = check_array("mean", mean, ndim=1)
    d = len(mean)
    cov = check_array("cov", cov, shape=(d, d))
    n = check_int("n", n, min_value=0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    try:
        L = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError("cov must be symmetric positive definite") from None
    z = rng.standard_normal((n, d))
    return mean + z @ L.T


class GaussianClassConditional:
    """Generative classifier ``p(x, y) = π_y N(x; μ_y, Σ_y)``; predicts with Bayes' rule, can sample.

    Parameters
    ----------
    covariance : ``"diag"`` (Gaussian naive Bayes: features independent given the class),
        ``"full"`` (QDA: one full covariance per class) or ``"shared"`` (LDA: one full
        covariance for all classes).
    reg : added to every variance (the diagonal of ``Σ``); keeps ``Σ`` invertible when a
        pixel never varies within a class or there are fewer samples than features.

    After :meth:`fit`: ``classes_ (K,)``, ``priors_ (K,)``, ``means_ (K, d)`` and
    ``covs_ (K, d, d)`` (diagonal matrices for ``"diag"``).
    """

    def __init__(self, covariance: str = "diag", reg: float = 1e-2):
        self.covariance = check_choice("covariance", covariance, ["diag", "full", "shared"])
        self.reg = check_float("reg", reg, min_value=0.0)

    def fit(self, X, y):
        """Maximum-likelihood fit: ``π_c = n_c/n``, ``μ_c`` = class mean, ``Σ_c`` = class covariance (+ reg)."""
        X = _check_X(X)
        y = check_array("y", y, ndim=1, dtype=None)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        self.classes_, counts = np.unique(y, return_counts=True)
        if self.covariance != "diag" and self.reg == 0 and counts.min() <= X.shape[1]:
            raise ValueError(
                f"too few samples for a full covariance: a class has {counts.min()} samples for "
                f"{X.shape[1]} features; use reg > 0 or covariance='diag'"
            )
        if self.reg == 0 and counts.min() < 2:
            raise ValueError("too few samples for a covariance: a class has 1 sample; use reg > 0")
        d = X.shape[1]
        self.priors_ = counts / counts.sum()
        self.means_ = np.stack([X[y == c].mean(0) for c in self.classes_])
        covs = []
        for c, mu in zip(self.classes_, self.means_):
            D = X[y == c] - mu
            S = D.T @ D / len(D)                               # ML covariance (divide by n_c)
            covs.append(np.diag(np.diag(S)) if self.covariance == "diag" else S)
        covs = np.stack(covs)
        if self.covariance == "shared":
            covs = np.broadcast_to(np.tensordot(self.priors_, covs, axes=1), covs.shape).copy()
        self.covs_ = covs + self.reg * np.eye(d)
        if self.reg == 0 and np.any(np.linalg.eigvalsh(self.covs_)[:, 0] <= 0):
            raise ValueError("a class covariance is singular (a feature never varies); use reg > 0")
        self.n_features_in_ = d
        return self

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise ValueError("this model is not fitted yet: call fit(X, y) first")

    def joint_log_likelihood(self, X) -> np.ndarray:
        """``log π_c + log N(x; μ_c, Σ_c)`` for every row and class, shape ``(n, K)``."""
        self._check_fitted()
        X = _check_X(X, n_features=self.n_features_in_)
        out = np.empty((len(X), len(self.classes_)))
        d = X.shape[1]
        for k, (pi, mu, S) in enumerate(zip(self.priors_, self.means_, self.covs_)):
            L = np.linalg.cholesky(S)
            z = np.linalg.solve(L, (X - mu).T)                 # L⁻¹(x − μ), shape (d, n)
            logdet = 2 * np.log(np.diag(L)).sum()
            out[:, k] = np.log(pi) - 0.5 * (d * np.log(2 * np.pi) + logdet + (z**2).sum(0))
        return out

    def score_samples(self, X) -> np.ndarray:
        """``log p(x) = log Σ_c π_c N(x; μ_c, Σ_c)`` (the label is a latent variable here), shape ``(n,)``."""
        return logsumexp(self.joint_log_likelihood(X), axis=1)

    def predict_proba(self, X) -> np.ndarray:
        """Bayes' rule: ``p(y = c | x) = p(x, c) / p(x)``, shape ``(n, K)``."""
        jll = self.joint_log_likelihood(X)
        return np.exp(jll - logsumexp(jll, axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        jll = self.joint_log_likelihood(X)
        return self.classes_[jll.argmax(1)]

    def score(self, X, y) -> float:
        """Accuracy on ``(X, y)``."""
        y = check_array("y", y, ndim=1, dtype=None)
        return float(np.mean(self.predict(X) == y))

    def sample(self, n: int, y=None, seed: int = 0):
        """Ancestral sampling: ``y ~ π`` (or the given labels ``y (n,)``), then ``x ~ N(μ_y, Σ_y)``.

        Returns ``(X (n, d), y (n,))``.
        """
        self._check_fitted()
        n = check_int("n", n, min_value=1)
        rng = np.random.default_rng(check_int("seed", seed, min_value=0))
        if y is None:
            idx = rng.choice(len(self.classes_), size=n, p=self.priors_)
        else:
            y = check_array("y", y, ndim=1, dtype=None)
            if len(y) != n:
                raise ValueError(f"y must have n={n} labels, got {len(y)}")
            lookup = {c: k for k, c in enumerate(self.classes_)}
            if not set(y.tolist()) <= set(lookup):
                raise ValueError(f"y contains labels the model has not seen; known: {self.classes_.tolist()}")
            idx = np.array([lookup[c] for c in y.tolist()])
        X = np.empty((n, self.n_features_in_))
        for k in np.unique(idx):
            X[idx == k] = sample_gaussian(self.means_[k], self.covs_[k], int((idx == k).sum()), rng)
        return X, self.classes_[idx]


def subsample_per_class(y, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` random examples of every class in ``y`` (all of a class if it has fewer)."""
    y = check_array("y", y, ndim=1, dtype=None)
    per_class = check_int("per_class", per_class, min_value=1)
    return np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])


def learning_curves(X_train, y_train, X_test, y_test, per_class, *, models: dict, repeats: int = 3, seed: int = 0) -> dict:
    """Test accuracy of each model as the training set grows.

    ``models`` maps a name to a factory ``() -> estimator`` with ``fit``/``score``; for each size
    in ``per_class`` (examples per class) and each of ``repeats`` random subsets, every model is fit
    on the same subset. Returns ``{name: accuracies (len(per_class), repeats)}``.
    """
    X_train = _check_X(X_train, "X_train")
    X_test = _check_X(X_test, "X_test", n_features=X_train.shape[1])
    y_train = check_array("y_train", y_train, ndim=1, dtype=None)
    y_test = check_array("y_test", y_test, ndim=1, dtype=None)
    if len(y_train) != len(X_train) or len(y_test) != len(X_test):
        raise ValueError("X_train/y_train and X_test/y_test must have matching lengths")
    sizes = [check_int("per_class", k, min_value=1) for k in per_class]
    repeats = check_int("repeats", repeats, min_value=1)
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict name -> factory")
    rng = np.random.default_rng(check_int("seed", seed, min_value=0))
    out = {name: np.zeros((len(sizes), repeats)) for name in models}
    for i, k in enumerate(sizes):
        for r in range(repeats):
            idx = subsample_per_class(y_train, k, rng)
            for name, make in models.items():
                out[name][i, r] = make().fit(X_train[idx], y_train[idx]).score(X_test, y_test)
    return out


# ---------------------------------------------------------------- exercise checker
def _ref_sample_gaussian(mean, cov, n, rng):
    return np.asarray(mean) + rng.standard_normal((n, len(mean))) @ np.linalg.cholesky(cov).T


def _wrong_cov_not_sqrt(mean, cov, n, rng):
    return np.asarray(mean) + rng.standard_normal((n, len(mean))) @ np.asarray(cov)


def _wrong_diag_only(mean, cov, n, rng):
    return np.asarray(mean) + rng.standard_normal((n, len(mean))) * np.sqrt(np.diag(cov))


@exercise(
    "generative.sample_gaussian",
    reference=_ref_sample_gaussian,
    wrong=[_wrong_cov_not_sqrt, _wrong_diag_only],
    hint="write Σ = L Lᵀ with np.linalg.cholesky; then x = μ + L z, i.e. rows mean + z @ L.T.",
)
def _check_sample_gaussian(func):
    mean = np.array([1.0, -2.0, 0.5])
    A = np.array([[2.0, 0.0, 0.0], [1.2, 0.8, 0.0], [-0.5, 0.3, 0.6]])
    cov = A @ A.T
    X = np.asarray(func(mean, cov, 20000, np.random.default_rng(1)), dtype=float)
    if X.shape != (20000, 3):
        raise CheckFailed(f"expected an array of shape (n, d) = (20000, 3), got {X.shape}")
    m_err = np.abs(X.mean(0) - mean).max()
    if m_err > 0.06:
        raise CheckFailed(f"the sample mean is off by {m_err:.3f}: did you add the mean?")
    C = np.cov(X.T)
    c_err = np.abs(C - cov).max() / np.abs(cov).max()
    if c_err > 0.05:
        raise CheckFailed(
            f"the sample covariance differs from Σ by {100 * c_err:.0f} % of its largest entry "
            "(the covariance of L z is L Lᵀ: L must be a square root of Σ, and off-diagonal terms matter)"
        )
    X1 = np.asarray(func(mean, cov, 5, np.random.default_rng(2)))
    X2 = np.asarray(func(mean, cov, 5, np.random.default_rng(2)))
    if not np.array_equal(X1, X2):
        raise CheckFailed("two calls with the same seed gave different samples: draw z from the rng argument")
