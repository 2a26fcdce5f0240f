"""Tests for nnbook.mixture: EM, EM with missing values, variational Bayes."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import multivariate_normal
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture

from nnbook.exercises import run_check
from nnbook.mixture import (
    GaussianMixtureEM,
    VariationalGMM,
    e_step,
    em_missing,
    init_params,
    log_gaussian,
    m_step,
)


def blobs(seed, n=120, K=3, D=2):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3, size=(K, D))
    return centres[rng.integers(0, K, n)] + rng.normal(size=(n, D))


def test_log_gaussian_matches_scipy():
    X = blobs(0, n=10)
    means = np.array([[0.0, 1.0], [2.0, -1.0]])
    covs = np.stack([np.eye(2), np.array([[2.0, 0.3], [0.3, 0.5]])])
    want = np.stack([multivariate_normal(m, c).logpdf(X) for m, c in zip(means, covs)], axis=1)
    np.testing.assert_allclose(log_gaussian(X, means, covs), want, rtol=1e-10)


def test_e_step_rows_are_posteriors_and_loglik_matches_scipy():
    X = blobs(1, n=15)
    w, m, c = init_params(X, 3, seed=0)
    resp, ll = e_step(X, w, m, c)
    np.testing.assert_allclose(resp.sum(1), 1.0)
    dens = np.stack([wk * multivariate_normal(mk, ck).pdf(X) for wk, mk, ck in zip(w, m, c)], axis=1)
    np.testing.assert_allclose(resp, dens / dens.sum(1, keepdims=True), rtol=1e-9)
    assert ll == pytest.approx(np.log(dens.sum(1)).sum(), rel=1e-10)


def test_m_step_weights_on_simplex():
    X = blobs(2)
    resp = np.random.default_rng(0).dirichlet(np.ones(4), size=len(X))
    w, m, c = m_step(X, resp)
    assert w.min() >= 0 and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(m[0], (resp[:, 0:1] * X).sum(0) / resp[:, 0].sum())


@settings(max_examples=15, deadline=None)
@given(data_seed=st.integers(0, 10_000), init_seed=st.integers(0, 10_000), K=st.integers(1, 4))
def test_em_loglik_never_decreases(data_seed, init_seed, K):
    X = blobs(data_seed, n=60)
    gm = GaussianMixtureEM(K, seed=init_seed, max_iter=60, tol=0.0).fit(X)
    assert np.all(np.diff(gm.loglik_history_) >= -1e-8 * np.abs(gm.loglik_history_[:-1]))


def test_em_agrees_with_sklearn_from_same_init():
    X = blobs(3, n=200)
    w, m, c = init_params(X, 3, seed=1)
    ours = GaussianMixtureEM(3, tol=1e-10, max_iter=2000).fit(X, init_params_=(w, m, c))
    sk = GaussianMixture(3, weights_init=w, means_init=m, precisions_init=np.linalg.inv(c),
                         tol=1e-10, max_iter=2000, reg_covar=1e-6).fit(X)
    assert ours.score(X) == pytest.approx(sk.score(X), abs=1e-6)
    order = np.argsort(ours.means_[:, 0])
    np.testing.assert_allclose(ours.means_[order], sk.means_[np.argsort(sk.means_[:, 0])], atol=1e-4)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), frac=st.floats(0.0, 0.7))
def test_em_missing_loglik_never_decreases(seed, frac):
    rng = np.random.default_rng(seed)
    X = blobs(seed, n=80)
    mask = rng.random(len(X)) < frac
    col = rng.integers(0, 2, len(X))
    X[mask, col[mask]] = np.nan
    r = em_missing(X, 2, init=init_params(np.nan_to_num(X), 2, seed=seed), max_iter=50, tol=0.0)
    h = np.array(r["loglik_history"])
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[:-1]))


def test_em_missing_without_missing_equals_em():
    X = blobs(4, n=100)
    init = init_params(X, 2, seed=0)
    r = em_missing(X, 2, init=init, max_iter=30, tol=0.0)
    gm = GaussianMixtureEM(2, max_iter=30, tol=0.0).fit(X, init_params_=init)
    np.testing.assert_allclose(r["loglik_history"], gm.loglik_history_, rtol=1e-10)


def test_em_missing_single_gaussian_recovers_correlation():
    # MAR missingness on the second coordinate: EM is consistent for the mean and covariance.
    rng = np.random.default_rng(0)
    C = np.array([[1.0, 0.8], [0.8, 1.0]])
    X = rng.multivariate_normal([0, 0], C, 4000)
    Xm = X.copy()
    Xm[rng.random(len(X)) < 0.5, 1] = np.nan
    r = em_missing(Xm, 1, tol=1e-10)
    np.testing.assert_allclose(r["covs"][0], np.cov(X.T, bias=True), atol=0.05)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), K=st.integers(1, 5))
def test_vb_elbo_never_decreases(seed, K):
    X = blobs(seed, n=60)
    resp = np.random.default_rng(seed).dirichlet(np.ones(K), size=len(X))
    vb = VariationalGMM(K, max_iter=40, tol=0.0).fit(X, resp_init=resp)
    h = np.array(vb.elbo_history_)
    assert np.all(np.diff(h) >= -1e-8 * np.abs(h[:-1]))


def test_vb_updates_are_coordinate_maxima_of_the_elbo():
    """Each update maximises the ELBO in its block: perturbing q(Z) or q(π) lowers it (q(μ, Λ): next test)."""
    X = blobs(5, n=50)
    vb = VariationalGMM(3, max_iter=5).fit(X)
    vb.e_step(X)
    best = vb.elbo(X)
    rng = np.random.default_rng(0)
    r0 = vb.resp_.copy()
    for _ in range(5):
        vb.resp_ = 0.9 * r0 + 0.1 * rng.dirichlet(np.ones(3), size=len(X))
        assert vb.elbo(X) < best
    vb.resp_ = r0
    vb.m_step(X)
    best = vb.elbo(X)
    a0 = vb.alpha_.copy()
    for eps in (-0.3, 0.3):
        vb.alpha_ = a0 + eps
        assert vb.elbo(X) < best
    vb.alpha_ = a0


def _elbo_drops_for_mu_lambda_perturbations(vb, X):
    """For each parameter of q(μ, Λ) (m, β, W, ν) and ε = ±0.01 along one fixed direction:
    does the ELBO drop when only that parameter is moved?"""
    best, drops = vb.elbo(X), []
    for eps in (-0.01, 0.01):
        rng = np.random.default_rng(0)   # the same direction for -ε and +ε
        A = rng.standard_normal(vb.W_.shape)
        moves = {"m_": vb.m_ + eps * rng.standard_normal(vb.m_.shape),
                 "beta_": vb.beta_ * (1 + eps),
                 "W_": vb.W_ + eps * (A + A.transpose(0, 2, 1)) / 2 * np.abs(vb.W_).max((1, 2), keepdims=True),
                 "nu_": vb.nu_ * (1 + eps)}
        for name, value in moves.items():
            saved = getattr(vb, name)
            setattr(vb, name, value)
            drops.append(vb.elbo(X) < best)
            setattr(vb, name, saved)
    return drops


def test_vb_mu_lambda_update_is_a_coordinate_maximum_of_the_elbo():
    """After the M-step, moving any parameter of q(μ, Λ) either way lowers the ELBO;
    a q(μ, Λ) fitted to other responsibilities is not a block maximum (the check can fail)."""
    X = blobs(5, n=50)
    vb = VariationalGMM(3, max_iter=5).fit(X)
    vb.e_step(X)
    vb.m_step(X)
    assert all(_elbo_drops_for_mu_lambda_perturbations(vb, X))
    r = vb.resp_.copy()
    vb.resp_ = np.random.default_rng(1).dirichlet(np.ones(3), size=len(X))
    vb.m_step(X)                          # q(μ, Λ) now optimal for the wrong q(Z) ...
    vb.resp_ = r                          # ... and judged with the right one
    assert not all(_elbo_drops_for_mu_lambda_perturbations(vb, X))


def test_vb_matches_sklearn_bayesian_gaussian_mixture():
    # Same model and priors; both start from k-means labels (different k-means seeds),
    # and on well-separated blobs both converge to the same fixed point.
    rng = np.random.default_rng(6)
    X = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])[rng.integers(0, 3, 300)] + rng.normal(size=(300, 2))
    ours = VariationalGMM(8, tol=1e-9, max_iter=2000).fit(X)
    sk = BayesianGaussianMixture(n_components=8, weight_concentration_prior_type="dirichlet_distribution",
                                 tol=1e-9, max_iter=2000, reg_covar=1e-6, random_state=0).fit(X)
    np.testing.assert_allclose(np.sort(ours.weights_), np.sort(sk.weights_), atol=1e-3)
    assert ours.n_effective() == (sk.weights_ > 0.01).sum() == 3


def test_bad_inputs():
    X = blobs(0, n=10)
    with pytest.raises(ValueError, match="X"):
        e_step(X[:, :, None], *init_params(X, 2))
    with pytest.raises(ValueError, match="weights"):
        e_step(X, np.array([0.7, 0.7]), *init_params(X, 2)[1:])
    with pytest.raises(ValueError, match="means"):
        e_step(X, np.array([0.5, 0.5]), np.zeros((2, 3)), np.stack([np.eye(2)] * 2))
    with pytest.raises(ValueError, match="covs"):
        log_gaussian(X, np.zeros((1, 2)), -np.eye(2)[None])
    with pytest.raises(ValueError, match="resp"):
        m_step(X, np.full((10, 2), 0.9))
    with pytest.raises(ValueError, match="n_components"):
        GaussianMixtureEM(0)
    with pytest.raises(ValueError, match="n_components"):
        init_params(X, 11)
    with pytest.raises(ValueError, match="init"):
        GaussianMixtureEM(2, init="magic")
    with pytest.raises(TypeError, match="max_iter"):
        VariationalGMM(2, max_iter=1.5)
    bad = X.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="every entry missing"):
        em_missing(bad, 1)
    with pytest.raises(ValueError, match="X"):
        GaussianMixtureEM(2).fit(bad)


def test_checker_accepts_reference_and_rejects_wrong():
    from nnbook.mixture import _resp_reference, _resp_wrong_no_weights

    assert run_check("mixture.e_step_responsibilities", _resp_reference).passed
    assert not run_check("mixture.e_step_responsibilities", _resp_wrong_no_weights).passed
