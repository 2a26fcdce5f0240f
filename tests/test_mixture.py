"""Tests for nnbook.mixture: EM, EM with missing values, variational Bayes, the class-conditional Gaussian model."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
from sklearn.naive_bayes import GaussianNB

from nnbook.mixture import (
    GaussianClassConditional,
    GaussianMixtureEM,
    VariationalGMM,
    e_step,
    em_missing,
    init_params,
    learning_curves,
    log_gaussian,
    m_step,
    sample_gaussian,
    student_t_em,
    subsample_per_class,
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


@pytest.mark.parametrize("n, D", [(12, 1), (40, 3)])
def test_vb_default_priors_are_sklearn_bayesian_gaussian_mixture_defaults(n, D):
    # the docstring promises scikit-learn's defaults: W0⁻¹ is its covariance_prior_, np.cov(X.T) with ddof = 1
    X = np.random.default_rng(7).normal(size=(n, D)) @ np.triu(np.ones((D, D)))
    ours = VariationalGMM(2, max_iter=1).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = BayesianGaussianMixture(n_components=2, weight_concentration_prior_type="dirichlet_distribution",
                                     max_iter=1, random_state=0).fit(X)
    np.testing.assert_allclose(ours.W0_inv, sk.covariance_prior_, rtol=1e-12)
    np.testing.assert_allclose(ours.m0, sk.mean_prior_, rtol=1e-12)
    assert ours.nu0 == sk.degrees_of_freedom_prior_ and ours.beta0 == sk.mean_precision_prior_
    assert ours.alpha0 == pytest.approx(sk.weight_concentration_prior_)


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


# ------------------------------------------------------------------ labels observed: the class-conditional model
def labelled_blobs(seed, n=90, d=3, K=3):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % K
    A = rng.normal(size=(K, d, d))
    X = rng.normal(scale=2, size=(K, d))[y] + np.einsum("nij,nj->ni", A[y], rng.normal(size=(n, d)))
    return X, y


def test_diag_matches_sklearn_gaussian_nb():
    X, y = labelled_blobs(0)
    nb = GaussianNB(var_smoothing=1e-3).fit(X, y)
    ours = GaussianClassConditional("diag", reg=1e-3 * X.var(0).max()).fit(X, y)
    Xq = labelled_blobs(1, n=30)[0]
    np.testing.assert_allclose(ours.predict_proba(Xq), nb.predict_proba(Xq), atol=1e-8)
    np.testing.assert_allclose(ours.joint_log_likelihood(Xq), nb.predict_joint_log_proba(Xq), rtol=1e-8)


@pytest.mark.parametrize("covariance", ["full", "shared"])
def test_full_and_shared_match_scipy_and_bayes_rule(covariance):
    X, y = labelled_blobs(2)
    m = GaussianClassConditional(covariance, reg=0.1).fit(X, y)
    covs = [np.cov(X[y == c].T, bias=True) for c in range(3)]
    if covariance == "shared":
        covs = [sum(np.mean(y == c) * covs[c] for c in range(3))] * 3
    Xq = labelled_blobs(3, n=12)[0]
    joint = np.stack([np.log(np.mean(y == c)) + multivariate_normal(X[y == c].mean(0), covs[c] + 0.1 * np.eye(3)).logpdf(Xq)
                      for c in range(3)], axis=1)
    np.testing.assert_allclose(m.joint_log_likelihood(Xq), joint, rtol=1e-9)
    post = np.exp(joint) / np.exp(joint).sum(1, keepdims=True)
    np.testing.assert_allclose(m.predict_proba(Xq), post, atol=1e-9)
    np.testing.assert_allclose(m.score_samples(Xq), np.log(np.exp(joint).sum(1)), rtol=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), cov=st.sampled_from(["diag", "full", "shared"]))
def test_posteriors_sum_to_one_and_predict_is_argmax(seed, cov):
    X, y = labelled_blobs(seed, n=60)
    m = GaussianClassConditional(cov, reg=1e-2).fit(X, y)
    P = m.predict_proba(X)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-10)
    assert np.array_equal(m.predict(X), m.classes_[P.argmax(1)])


def test_sampling_reproduces_the_fitted_parameters():
    X, y = labelled_blobs(4, n=300)
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


def test_class_conditional_bad_input():
    X, y = labelled_blobs(6, n=30)
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


def test_fitting_and_sampling_leave_the_global_random_state_alone_and_are_reproducible():
    X = blobs(8, n=60)
    Xl, yl = labelled_blobs(8, n=60)
    np.random.seed(123)
    before = np.random.get_state()

    def run(seed):
        em = GaussianMixtureEM(3, seed=seed).fit(X)
        vb = VariationalGMM(3, seed=seed).fit(X)
        gm = GaussianClassConditional("full", reg=0.1).fit(Xl, yl)
        curves = learning_curves(Xl[:45], yl[:45], Xl[45:], yl[45:], [2, 5],
                                 models={"g": lambda: GaussianClassConditional("diag", 0.1)}, repeats=2, seed=seed)
        return em.loglik_history_[-1], vb.elbo_history_[-1], gm.sample(5, seed=seed)[0], curves["g"]

    a = run(1)
    after = np.random.get_state()
    assert np.array_equal(after[1], before[1]) and after[2:] == before[2:]   # the caller's next NumPy draws are unchanged
    b = run(1)
    assert a[0] == b[0] and a[1] == b[1] and np.array_equal(a[2], b[2]) and np.array_equal(a[3], b[3])


# ------------------------------------------------------------------ Student t: an M-step with no closed form
def test_student_t_em_matches_scipy_and_never_decreases():
    from scipy import stats

    x = stats.t.rvs(3, loc=1.0, scale=2.0, size=400, random_state=1)
    res = student_t_em(x, tol=1e-12, max_iter=2000)
    h = res["loglik_history"]
    assert np.all(np.diff(h) >= -1e-9 * abs(h[0]))
    df, loc, scale = stats.t.fit(x)
    assert h[-1] >= stats.t.logpdf(x, df, loc, scale).sum() - 1e-3  # at least as good as scipy's optimiser
    assert res["nu"] == pytest.approx(df, rel=1e-2) and res["mu"] == pytest.approx(loc, abs=1e-3)
    assert res["sigma"] == pytest.approx(scale, rel=1e-3)
    assert h[-1] == pytest.approx(stats.t.logpdf(x, res["nu"], res["mu"], res["sigma"]).sum(), rel=1e-12)
    assert res["solver_evals"] > res["n_iter"]  # the ν-step needs several evaluations per M-step


def test_student_t_em_gaussian_data_gives_large_nu_and_bad_inputs():
    x = np.random.default_rng(0).normal(size=2000)
    assert student_t_em(x)["nu"] > 30  # no heavy tails: ν grows towards the Gaussian limit
    with pytest.raises(ValueError, match="x"):
        student_t_em(np.ones(5))
    with pytest.raises(ValueError, match="nu_bounds"):
        student_t_em(x, nu_bounds=(5.0, 1.0))
    with pytest.raises(ValueError, match="x"):
        student_t_em(np.ones((3, 2)))
