"""Tests for nnbook.generative: the class-conditional Gaussian model and learning curves."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import multivariate_normal
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from nnbook.exercises import get, run_check
from nnbook.generative import GaussianClassConditional, learning_curves, sample_gaussian, subsample_per_class


def blobs(seed, n=90, d=3, K=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % K
    A = rng.normal(size=(K, d, d))
    X = rng.normal(scale=2, size=(K, d))[y] + np.einsum("nij,nj->ni", A[y], rng.normal(size=(n, d)))
    return X, y


def test_diag_matches_sklearn_gaussian_nb():
    X, y = blobs(0)
    nb = GaussianNB(var_smoothing=1e-3).fit(X, y)
    ours = GaussianClassConditional("diag", reg=1e-3 * X.var(0).max()).fit(X, y)
    Xq = blobs(1, n=30)[0]
    np.testing.assert_allclose(ours.predict_proba(Xq), nb.predict_proba(Xq), atol=1e-8)
    np.testing.assert_allclose(ours.joint_log_likelihood(Xq), nb.predict_joint_log_proba(Xq), rtol=1e-8)


@pytest.mark.parametrize("covariance", ["full", "shared"])
def test_full_and_shared_match_scipy_and_bayes_rule(covariance):
    X, y = blobs(2)
    m = GaussianClassConditional(covariance, reg=0.1).fit(X, y)
    covs = [np.cov(X[y == c].T, bias=True) for c in range(3)]
    if covariance == "shared":
        covs = [sum(np.mean(y == c) * covs[c] for c in range(3))] * 3
    Xq = blobs(3, n=12)[0]
    joint = np.stack([np.log(np.mean(y == c)) + multivariate_normal(X[y == c].mean(0), covs[c] + 0.1 * np.eye(3)).logpdf(Xq)
                      for c in range(3)], axis=1)
    np.testing.assert_allclose(m.joint_log_likelihood(Xq), joint, rtol=1e-9)
    post = np.exp(joint) / np.exp(joint).sum(1, keepdims=True)
    np.testing.assert_allclose(m.predict_proba(Xq), post, atol=1e-9)
    np.testing.assert_allclose(m.score_samples(Xq), np.log(np.exp(joint).sum(1)), rtol=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), cov=st.sampled_from(["diag", "full", "shared"]))
def test_posteriors_sum_to_one_and_predict_is_argmax(seed, cov):
    X, y = blobs(seed, n=60)
    m = GaussianClassConditional(cov, reg=1e-2).fit(X, y)
    P = m.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-10)
    assert np.array_equal(m.predict(X), m.classes_[P.argmax(1)])


def test_sampling_reproduces_the_fitted_parameters():
    X, y = blobs(4, n=300)
    m = GaussianClassConditional("full", reg=0.0).fit(X, y)
    Xs, ys = m.sample(30000, seed=1)
    assert np.bincount(ys) / len(ys) == pytest.approx(m.priors_, abs=0.01)
    for k in range(3):
        np.testing.assert_allclose(Xs[ys == k].mean(0), m.means_[k], atol=0.1 * np.sqrt(m.covs_[k].diagonal().max()))
        np.testing.assert_allclose(np.cov(Xs[ys == k].T), m.covs_[k], atol=0.06 * np.abs(m.covs_[k]).max())
    Xc, yc = m.sample(5, y=[2, 2, 0, 1, 2])
    assert yc.tolist() == [2, 2, 0, 1, 2]
    assert np.array_equal(m.sample(4, seed=3)[0], m.sample(4, seed=3)[0])


def test_sample_gaussian_statistics():
    cov = np.array([[2.0, 0.9], [0.9, 1.0]])
    Z = sample_gaussian(np.array([1.0, -1.0]), cov, 40000, np.random.default_rng(0))
    np.testing.assert_allclose(np.cov(Z.T), cov, atol=0.05)
    np.testing.assert_allclose(Z.mean(0), [1.0, -1.0], atol=0.03)


def test_learning_curves_shapes_and_subsample():
    rng = np.random.default_rng(5)
    y = np.arange(120) % 3
    X = 5.0 * np.eye(3)[y] + rng.normal(size=(120, 3))      # three well-separated blobs
    idx = subsample_per_class(y, 4, np.random.default_rng(0))
    assert np.array_equal(np.bincount(y[idx]), [4, 4, 4])
    out = learning_curves(X[:90], y[:90], X[90:], y[90:], [2, 10],
                          models={"gen": lambda: GaussianClassConditional("diag", 0.1),
                                  "disc": lambda: LogisticRegression(max_iter=500)}, repeats=2)
    assert set(out) == {"gen", "disc"} and out["gen"].shape == (2, 2)
    assert out["gen"][1].mean() > 0.9 and out["disc"][1].mean() > 0.9


def test_bad_input():
    X, y = blobs(6, n=30)
    with pytest.raises(ValueError, match="covariance"):
        GaussianClassConditional("spherical")
    with pytest.raises(ValueError, match="reg"):
        GaussianClassConditional(reg=-1)
    with pytest.raises(ValueError, match="too few samples"):
        GaussianClassConditional("full", reg=0).fit(X[:9], y[:9])
    with pytest.raises(ValueError, match="X"):
        GaussianClassConditional().fit(X[:, 0], y)
    with pytest.raises(ValueError, match="y"):
        GaussianClassConditional().fit(X, y[:-1])
    Xn = X.copy(); Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        GaussianClassConditional().fit(Xn, y)
    m = GaussianClassConditional()
    with pytest.raises(ValueError, match="not fitted"):
        m.predict(X)
    m.fit(X, y)
    with pytest.raises(ValueError, match="columns"):
        m.predict(X[:, :2])
    with pytest.raises(ValueError, match="labels"):
        m.sample(2, y=[0, 7])
    with pytest.raises(ValueError, match="positive definite"):
        sample_gaussian([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]], 3, np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        sample_gaussian([0.0], [[1.0]], 3, 0)


def test_checker_accepts_reference_and_rejects_wrong():
    ex = get("generative.sample_gaussian")
    assert run_check(ex.name, ex.reference).passed
    for w in ex.wrong:
        assert not run_check(ex.name, w).passed
