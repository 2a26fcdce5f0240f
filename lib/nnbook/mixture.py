"""Gaussian mixtures: EM (maximum likelihood), EM with missing values, and
variational Bayes (coordinate ascent, mean field); and the mixture whose
component labels are observed, the class-conditional Gaussian classifier.

All the mathematics is in NumPy float64: the models are small and classical,
and float64 makes "the log-likelihood never decreases" checkable to 1e-9.

Notation (shapes): ``X (n, D)`` data, ``K`` components, ``weights (K,)`` the
mixing proportions π, ``means (K, D)`` μ, ``covs (K, D, D)`` Σ,
``resp (n, K)`` the responsibilities r_nk = p(z_n = k | x_n).

>>> gm = GaussianMixtureEM(3, seed=0).fit(X)
>>> gm.loglik_history_[-1], gm.n_iter_

**Labels observed** (chapter 11): a *generative* classifier models how the data are made,
``p(x, y) = p(y) p(x | y)`` — a Gaussian mixture with one component per class whose
component labels are given — and classifies with Bayes' rule::

    p(y = c | x) = π_c N(x; μ_c, Σ_c) / Σ_k π_k N(x; μ_k, Σ_k)

:class:`GaussianClassConditional` fits ``π_c`` (class frequencies), ``μ_c`` (class means)
and ``Σ_c`` (class covariances, maximum likelihood, plus ``reg`` on the diagonal) in one
step, and can therefore also **sample** new data (:func:`sample_gaussian`): draw
``y ~ π``, then ``x ~ N(μ_y, Σ_y)``. With ``covariance="diag"`` it is Gaussian naive Bayes
(and matches scikit-learn's ``GaussianNB``); with ``"full"`` it is quadratic discriminant
analysis (QDA). A *discriminative* classifier (logistic regression) models ``p(y | x)``
only; :func:`learning_curves` compares the two as the training set grows (Ng & Jordan, 2001).
"""
from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln, logsumexp

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.validate import (COUNT, NONNEGATIVE, POSITIVE, SEED, Array, Float, Function, Instance, Int, OneOf, check_int,
                             checked)

__all__ = [
    "log_gaussian",
    "e_step",
    "m_step",
    "init_params",
    "GaussianMixtureEM",
    "em_missing",
    "student_t_em",
    "VariationalGMM",
    "GaussianClassConditional",
    "sample_gaussian",
    "subsample_per_class",
    "learning_curves",
]


# ------------------------------------------------------------------ argument rules
class Sizes(Array):
    """A list of sizes, each an integer >= 1."""

    def check(self, name, value):
        return [check_int(f"{name}[{i}]", k, min_value=1) for i, k in enumerate(super().check(name, value).tolist())]


DATA, WEIGHTS, MEANS, COVS = Array(ndim=2), Array(ndim=1), Array(ndim=2), Array(ndim=3)
LABELS = Array(ndim=1, dtype=None)
CALLBACK = Function(optional=True)
PARAMS = Instance((tuple, list), optional=True)  # (weights, means, covs)


def _n_features(name, X, D):
    if X.shape[1] != D:
        raise ValueError(f"{name} must have {D} columns (features), got shape {X.shape}")
    return X


def _match_params(X, weights, means, covs):
    """The shapes of ``(weights, means, covs)`` agree with ``X (n, D)``; the weights sum to 1."""
    K, D = means.shape[0], X.shape[1]
    if means.shape[1] != D:
        raise ValueError(f"means must have shape (K, {D}) to match X, got {means.shape}")
    if weights.shape != (K,):
        raise ValueError(f"weights must have shape ({K},) to match means, got {weights.shape}")
    if (weights < 0).any() or not np.isclose(weights.sum(), 1.0, atol=1e-6):
        raise ValueError("weights must be non-negative and sum to 1")
    if covs.shape != (K, D, D):
        raise ValueError(f"covs must have shape ({K}, {D}, {D}) to match means and X, got {covs.shape}")
    return weights, means, covs


# ------------------------------------------------------------------ EM pieces
@checked(X=DATA, means=MEANS, covs=COVS)
def log_gaussian(X, means, covs) -> np.ndarray:
    """``log N(x_n | μ_k, Σ_k)`` for every point and component: shape ``(n, K)``.

    Uses a Cholesky factor L (Σ = L Lᵀ): the quadratic form is ‖L⁻¹(x − μ)‖²
    and log|Σ| = 2 Σ log diag(L).
    """
    n, D = X.shape
    out = np.empty((n, len(means)))
    for k, (mu, S) in enumerate(zip(means, covs)):
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            raise ValueError(f"covs[{k}] must be symmetric positive definite") from None
        z = np.linalg.solve(L, (X - mu).T)  # (D, n)
        out[:, k] = -0.5 * (z**2).sum(0) - np.log(np.diag(L)).sum() - 0.5 * D * np.log(2 * np.pi)
    return out


@checked(X=DATA, weights=WEIGHTS, means=MEANS, covs=COVS)
def e_step(X, weights, means, covs):
    """E-step: responsibilities and the log-likelihood of the current parameters.

    r_nk = π_k N(x_n|μ_k,Σ_k) / Σ_j π_j N(x_n|μ_j,Σ_j), computed in log space.
    Returns ``(resp (n, K), loglik)`` with loglik = Σ_n log Σ_k π_k N(x_n|μ_k,Σ_k).
    """
    _match_params(X, weights, means, covs)
    with np.errstate(divide="ignore"):
        log_joint = np.log(weights) + log_gaussian.unchecked(X, means, covs)  # (n, K)
    log_px = logsumexp(log_joint, axis=1)  # (n,)
    return np.exp(log_joint - log_px[:, None]), float(log_px.sum())


@checked(X=DATA, resp=Array(ndim=2), reg_covar=NONNEGATIVE)
def m_step(X, resp, reg_covar: float = 1e-6):
    """M-step: the weighted maximum-likelihood estimates given responsibilities.

    N_k = Σ_n r_nk,  π_k = N_k / n,  μ_k = Σ_n r_nk x_n / N_k,
    Σ_k = Σ_n r_nk (x_n − μ_k)(x_n − μ_k)ᵀ / N_k + reg_covar·I.
    """
    if len(resp) != len(X):
        raise ValueError(f"resp must have one row per row of X ({len(X)}), got shape {resp.shape}")
    if (resp < -1e-12).any() or not np.allclose(resp.sum(1), 1.0, atol=1e-6):
        raise ValueError("resp rows must be non-negative and sum to 1")
    Nk = resp.sum(0) + 10 * np.finfo(float).eps  # (K,)
    means = resp.T @ X / Nk[:, None]
    D = X.shape[1]
    covs = np.empty((len(Nk), D, D))
    for k in range(len(Nk)):
        d = X - means[k]
        covs[k] = (resp[:, k, None] * d).T @ d / Nk[k] + reg_covar * np.eye(D)
    return Nk / Nk.sum(), means, covs


@checked(X=DATA, n_components=COUNT, seed=SEED, method=OneOf(("random", "kmeans")))
def init_params(X, n_components: int, *, seed: int = 0, method: str = "random"):
    """Starting parameters: ``"random"`` picks K data points as means;
    ``"kmeans"`` runs scikit-learn's k-means. Weights equal, covariances = the
    data covariance. Returns ``(weights, means, covs)``."""
    K = n_components
    if K > len(X):
        raise ValueError(f"n_components must be <= {len(X)} (the number of rows of X), got {K}")
    rng = np.random.default_rng(seed)
    if method == "random":
        means = X[rng.choice(len(X), K, replace=False)]
    else:
        from sklearn.cluster import KMeans

        means = KMeans(K, n_init=1, random_state=seed).fit(X).cluster_centers_
    D = X.shape[1]
    cov = np.atleast_2d(np.cov(X.T)) + 1e-6 * np.eye(D)
    return np.full(K, 1.0 / K), means.astype(float), np.repeat(cov[None], K, axis=0)


class GaussianMixtureEM:
    """A Gaussian mixture fitted by EM (full covariances).

    Iterates E-step / M-step until the log-likelihood gains less than
    ``tol`` per data point, or ``max_iter`` iterations. After ``fit``:
    ``weights_, means_, covs_``, ``loglik_history_`` (one value per E-step,
    the log-likelihood of the parameters *before* each M-step), ``n_iter_``.
    """

    @checked(n_components=COUNT, max_iter=COUNT, tol=NONNEGATIVE, reg_covar=NONNEGATIVE,
             init=OneOf(("random", "kmeans")), seed=SEED)
    def __init__(self, n_components: int, *, max_iter: int = 500, tol: float = 1e-6,
                 reg_covar: float = 1e-6, init: str = "random", seed: int = 0):
        self.n_components, self.max_iter, self.tol = n_components, max_iter, tol
        self.reg_covar, self.init, self.seed = reg_covar, init, seed

    @checked(X=DATA, init_params_=PARAMS, callback=CALLBACK)
    def fit(self, X, init_params_=None, callback=None):
        """Fit to ``X (n, D)``; ``init_params_=(weights, means, covs)`` overrides the init.
        ``callback(it, weights, means, covs)`` is called before every M-step."""
        if init_params_ is None:
            params = init_params.unchecked(X, self.n_components, seed=self.seed, method=self.init)
        else:
            params = _match_params(X, *(rule(name, v) for name, rule, v in
                                        zip(("weights", "means", "covs"), (WEIGHTS, MEANS, COVS), init_params_)))
        self.loglik_history_ = []
        for it in range(self.max_iter):
            resp, ll = e_step.unchecked(X, *params)
            if callback is not None:
                callback(it, *params)
            self.loglik_history_.append(ll)
            if it > 0 and ll - self.loglik_history_[-2] < self.tol * len(X):
                break
            params = m_step.unchecked(X, resp, self.reg_covar)
        self.weights_, self.means_, self.covs_ = params
        self.n_iter_ = len(self.loglik_history_)
        return self

    @checked(X=DATA)
    def predict_proba(self, X):
        """Responsibilities ``(n, K)`` under the fitted parameters."""
        return e_step.unchecked(_n_features("X", X, self.means_.shape[1]), self.weights_, self.means_, self.covs_)[0]

    @checked(X=DATA)
    def score_samples(self, X):
        """``log p(x_n)`` for each row: shape ``(n,)``."""
        X = _n_features("X", X, self.means_.shape[1])
        return logsumexp(np.log(self.weights_) + log_gaussian.unchecked(X, self.means_, self.covs_), axis=1)

    @checked(X=DATA)
    def score(self, X) -> float:
        """Mean log-likelihood per point (scikit-learn's ``score``)."""
        return float(self.score_samples(X).mean())


# ------------------------------------------------------------------ EM with missing values
@checked(X=Array(ndim=2, finite=False), n_components=COUNT, init=PARAMS, max_iter=COUNT, tol=NONNEGATIVE,
         reg_covar=NONNEGATIVE, seed=SEED)
def em_missing(X, n_components: int, *, init=None, max_iter: int = 2000, tol: float = 1e-6,
               reg_covar: float = 1e-6, seed: int = 0):
    """EM for a Gaussian mixture when some entries of ``X`` are ``NaN`` (missing at random).

    For a point with observed part o and missing part m, the E-step uses the
    marginal N(x_o | μ_o, Σ_oo) for the responsibility and fills in the
    conditional moments  x̂_m = μ_m + Σ_mo Σ_oo⁻¹ (x_o − μ_o),
    C_mm = Σ_mm − Σ_mo Σ_oo⁻¹ Σ_om; the M-step adds C to the scatter.
    Rows with every entry missing are not allowed.

    Returns a dict with ``weights, means, covs, loglik_history`` (observed-data
    log-likelihood, non-decreasing) and ``n_iter``.
    """
    if np.isinf(X).any():
        raise ValueError("X must not contain inf (NaN marks a missing entry)")
    miss = np.isnan(X)
    if miss.all(1).any():
        raise ValueError("X has a row with every entry missing")
    K = n_components
    n, D = X.shape
    if init is None:
        complete = X[~miss.any(1)]
        if len(complete) < K:
            raise ValueError("too few complete rows to initialise; pass init=(weights, means, covs)")
        w, mu, S = init_params.unchecked(complete, K, seed=seed)
    else:
        w, mu, S = (np.array(a, dtype=float) for a in init)
    patterns, which = np.unique(miss, axis=0, return_inverse=True)
    history = []
    for it in range(max_iter):
        resp = np.empty((n, K))
        ll = 0.0
        xhat = np.repeat(np.nan_to_num(X)[:, None, :], K, axis=1)  # (n, K, D) filled rows
        C = np.zeros((n, K, D, D))  # conditional covariances of the missing part
        for p, m in enumerate(patterns):
            rows = np.flatnonzero(which == p)
            o = ~m
            Xo = X[np.ix_(rows, o)]
            logj = np.log(w) + log_gaussian.unchecked(Xo, mu[:, o], S[:, o][:, :, o])
            lse = logsumexp(logj, axis=1)
            ll += lse.sum()
            resp[rows] = np.exp(logj - lse[:, None])
            if m.any():
                for k in range(K):
                    gain = S[k][np.ix_(m, o)] @ np.linalg.inv(S[k][np.ix_(o, o)])  # Σ_mo Σ_oo⁻¹
                    xhat[np.ix_(rows, [k], m)] = (mu[k, m] + (Xo - mu[k, o]) @ gain.T)[:, None, :]
                    Cmm = S[k][np.ix_(m, m)] - gain @ S[k][np.ix_(o, m)]
                    C[np.ix_(rows, [k], m, m)] = Cmm[None, None]
        history.append(float(ll))
        if it > 0 and history[-1] - history[-2] < tol * n:
            break
        Nk = resp.sum(0) + 10 * np.finfo(float).eps
        w = Nk / n
        mu = np.einsum("nk,nkd->kd", resp, xhat) / Nk[:, None]
        for k in range(K):
            d = xhat[:, k] - mu[k]
            S[k] = (np.einsum("n,ni,nj->ij", resp[:, k], d, d) + np.einsum("n,nij->ij", resp[:, k], C[:, k])) / Nk[k]
            S[k] += reg_covar * np.eye(D)
    return {"weights": w, "means": mu, "covs": S, "loglik_history": history, "n_iter": len(history)}


# ------------------------------------------------------------------ variational Bayes
def _t_loglik(x, mu, sigma, nu) -> float:
    """Σ_n log t_ν(x_n | μ, σ) for 1-D data."""
    z2 = ((x - mu) / sigma) ** 2
    return float(np.sum(gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - np.log(sigma)
                        - (nu + 1) / 2 * np.log1p(z2 / nu)))


@checked(x=Array(ndim=1), max_iter=COUNT, tol=NONNEGATIVE, nu_init=POSITIVE, nu_bounds=Array(ndim=1, shape=(2,)))
def student_t_em(x, *, max_iter: int = 500, tol: float = 1e-8, nu_init: float = 10.0, nu_bounds=(0.05, 1000.0)) -> dict:
    """EM for a 1-D Student-t distribution t_ν(μ, σ), whose M-step for ν has **no closed form**.

    The t is a Gaussian scale mixture: u_n ~ Gamma(ν/2, ν/2), x_n | u_n ~ N(μ, σ²/u_n), u hidden.
    E-step: E[u_n] = (ν+1)/(ν + d_n²), E[log u_n] = ψ((ν+1)/2) − log((ν + d_n²)/2), d_n = (x_n − μ)/σ.
    M-step: μ = Σ E[u_n] x_n / Σ E[u_n], σ² = Σ E[u_n](x_n − μ)² / n in closed form; ν solves
    log(ν/2) − ψ(ν/2) + 1 + mean(E[log u_n] − E[u_n]) = 0, found numerically (scipy's ``brentq``,
    clipped to ``nu_bounds``). Each step raises the expected complete-data log-likelihood, so the
    log-likelihood never decreases (an ECM algorithm, Liu & Rubin 1995).

    Returns ``mu``, ``sigma``, ``nu``, ``loglik_history`` (before each E-step, then the final),
    ``n_iter`` and ``solver_evals`` (how many times the ν equation was evaluated, all M-steps together).
    """
    from scipy.optimize import brentq

    lo, hi = (float(v) for v in nu_bounds)
    if not 0 < lo < hi:
        raise ValueError(f"nu_bounds must be (lo, hi) with 0 < lo < hi, got {list(nu_bounds)}")
    if len(x) < 2 or np.ptp(x) == 0:
        raise ValueError("x must hold at least two distinct values")
    mu, sigma, nu = float(np.median(x)), float(np.std(x)), float(np.clip(nu_init, lo, hi))
    history, evals = [_t_loglik(x, mu, sigma, nu)], [0]
    for it in range(max_iter):
        d2 = ((x - mu) / sigma) ** 2
        u = (nu + 1) / (nu + d2)  # E-step
        log_u = digamma((nu + 1) / 2) - np.log((nu + d2) / 2)
        mu = float(np.sum(u * x) / np.sum(u))  # M-step, closed form
        sigma = float(np.sqrt(np.sum(u * (x - mu) ** 2) / len(x)))
        c = 1 + np.mean(log_u - u)

        def g(v, c=c):  # dQ/dν ∝ g(ν); decreasing in ν
            evals[0] += 1
            return np.log(v / 2) - digamma(v / 2) + c

        nu = lo if g(lo) <= 0 else hi if g(hi) >= 0 else brentq(g, lo, hi, xtol=1e-12)  # M-step, numerical
        history.append(_t_loglik(x, mu, sigma, nu))
        if abs(history[-1] - history[-2]) <= tol * abs(history[-2]):
            break
    return {"mu": mu, "sigma": sigma, "nu": float(nu), "loglik_history": np.array(history), "n_iter": it + 1,
            "solver_evals": evals[0]}


class VariationalGMM:
    """Variational Bayes for a Gaussian mixture (Bishop 2006, §10.2), by coordinate ascent.

    Model: π ~ Dir(α₀), Λ_k ~ Wishart(W₀, ν₀), μ_k | Λ_k ~ N(m₀, (β₀Λ_k)⁻¹),
    z_n ~ Cat(π), x_n | z_n=k ~ N(μ_k, Λ_k⁻¹). Mean-field family
    q(Z) q(π) Π_k q(μ_k, Λ_k); every factor is conjugate, so each update is exact.
    Defaults follow scikit-learn's ``BayesianGaussianMixture`` with
    ``weight_concentration_prior_type="dirichlet_distribution"``: α₀ = 1/K,
    β₀ = 1, m₀ = mean of X, ν₀ = D, W₀⁻¹ = sample covariance of X (``np.cov``, ddof = 1).

    After ``fit``: ``alpha_, beta_, m_, W_, nu_`` (the q factors), ``resp_``,
    ``elbo_history_`` (after every full E+M sweep), ``weights_`` = E[π].
    """

    @checked(n_components=COUNT, alpha0=Float(0.0, lo_open=True, optional=True), beta0=POSITIVE, max_iter=COUNT,
             tol=NONNEGATIVE, reg_covar=NONNEGATIVE, seed=SEED)
    def __init__(self, n_components: int, *, alpha0: float | None = None, beta0: float = 1.0,
                 max_iter: int = 500, tol: float = 1e-6, reg_covar: float = 1e-6, seed: int = 0):
        self.n_components = n_components
        self.alpha0 = 1.0 / n_components if alpha0 is None else alpha0
        self.beta0, self.max_iter, self.tol, self.reg_covar, self.seed = beta0, max_iter, tol, reg_covar, seed

    # --- expectations under q (Bishop eqs. 10.64–10.66)
    def _expectations(self, X):
        D = X.shape[1]
        Eln_pi = digamma(self.alpha_) - digamma(self.alpha_.sum())  # ln π̃_k
        Eln_det = np.array([digamma(0.5 * (nu + 1 - np.arange(1, D + 1))).sum() + D * np.log(2) + np.linalg.slogdet(W)[1]
                            for nu, W in zip(self.nu_, self.W_)])  # ln Λ̃_k
        quad = np.stack([D / b + nu * np.einsum("ni,ij,nj->n", X - m, W, X - m)
                         for b, nu, m, W in zip(self.beta_, self.nu_, self.m_, self.W_)], axis=1)  # (n, K)
        return Eln_pi, Eln_det, quad

    @checked(X=DATA)
    def e_step(self, X):
        """Update q(Z): r_nk ∝ exp(E ln π_k + ½ E ln|Λ_k| − D/2 ln 2π − ½ E[(x−μ_k)ᵀΛ_k(x−μ_k)])."""
        Eln_pi, Eln_det, quad = self._expectations(X)
        log_rho = Eln_pi + 0.5 * Eln_det - 0.5 * X.shape[1] * np.log(2 * np.pi) - 0.5 * quad
        self.resp_ = np.exp(log_rho - logsumexp(log_rho, axis=1, keepdims=True))

    @staticmethod
    def _stats(X, resp, reg):
        Nk = resp.sum(0) + 10 * np.finfo(float).eps
        xbar = resp.T @ X / Nk[:, None]
        S = np.stack([(resp[:, k, None] * (X - xbar[k])).T @ (X - xbar[k]) / Nk[k] + reg * np.eye(X.shape[1])
                      for k in range(resp.shape[1])])
        return Nk, xbar, S

    @checked(X=DATA)
    def m_step(self, X):
        """Update q(π) q(μ, Λ) from the responsibilities (Bishop eqs. 10.58, 10.60–10.63)."""
        Nk, xbar, S = self._stats(X, self.resp_, self.reg_covar)
        self.alpha_ = self.alpha0 + Nk
        self.beta_ = self.beta0 + Nk
        self.nu_ = self.nu0 + Nk
        self.m_ = (self.beta0 * self.m0 + Nk[:, None] * xbar) / self.beta_[:, None]
        W_inv = [self.W0_inv + N * Sk + (self.beta0 * N / (self.beta0 + N)) * np.outer(xb - self.m0, xb - self.m0)
                 for N, Sk, xb in zip(Nk, S, xbar)]
        self.W_ = np.stack([np.linalg.inv(Wi) for Wi in W_inv])

    @checked(X=DATA)
    def elbo(self, X) -> float:
        """The evidence lower bound L(q) = E_q[ln p(X, Z, π, μ, Λ)] − E_q[ln q] (Bishop eqs. 10.70–10.77)."""
        n, D = X.shape
        K = self.n_components
        r = self.resp_
        Nk, xbar, S = self._stats(X, r, self.reg_covar)
        Eln_pi, Eln_det, _ = self._expectations(X)

        def ln_B(W, nu):  # Wishart normaliser (Bishop B.79)
            return (-0.5 * nu * np.linalg.slogdet(W)[1] - 0.5 * nu * D * np.log(2)
                    - 0.25 * D * (D - 1) * np.log(np.pi) - gammaln(0.5 * (nu + 1 - np.arange(1, D + 1))).sum())

        def ln_C(a):  # Dirichlet normaliser
            return gammaln(a.sum()) - gammaln(a).sum()

        W0 = np.linalg.inv(self.W0_inv)
        lp_x = 0.0
        lp_mu = 0.0
        lq_mu = 0.0
        for k in range(K):
            W, nu, b, m = self.W_[k], self.nu_[k], self.beta_[k], self.m_[k]
            dx, dm = xbar[k] - m, m - self.m0
            lp_x += 0.5 * Nk[k] * (Eln_det[k] - D / b - nu * np.trace(S[k] @ W) - nu * dx @ W @ dx - D * np.log(2 * np.pi))
            lp_mu += 0.5 * (D * np.log(self.beta0 / (2 * np.pi)) + Eln_det[k] - D * self.beta0 / b
                            - self.beta0 * nu * dm @ W @ dm) + 0.5 * (self.nu0 - D - 1) * Eln_det[k] - 0.5 * nu * np.trace(self.W0_inv @ W)
            entropy_wishart = -ln_B(W, nu) - 0.5 * (nu - D - 1) * Eln_det[k] + 0.5 * nu * D
            lq_mu += 0.5 * Eln_det[k] + 0.5 * D * np.log(b / (2 * np.pi)) - 0.5 * D - entropy_wishart
        lp_mu += K * ln_B(W0, self.nu0)
        lp_z = (r * Eln_pi).sum()
        lp_pi = ln_C(np.full(K, self.alpha0)) + (self.alpha0 - 1) * Eln_pi.sum()
        lq_z = (r * np.log(np.clip(r, 1e-300, None))).sum()
        lq_pi = ((self.alpha_ - 1) * Eln_pi).sum() + ln_C(self.alpha_)
        return float(lp_x + lp_z + lp_pi + lp_mu - lq_z - lq_pi - lq_mu)

    @checked(X=DATA, resp_init=Array(ndim=2, optional=True))
    def fit(self, X, resp_init=None):
        """Coordinate ascent from ``resp_init (n, K)`` (default: k-means labels, as scikit-learn)."""
        n, D = X.shape
        K = self.n_components
        self.m0 = X.mean(0)
        self.nu0 = float(D)
        self.W0_inv = np.atleast_2d(np.cov(X.T))     # ddof = 1, as scikit-learn's covariance_prior_
        if resp_init is None:
            from sklearn.cluster import KMeans

            labels = KMeans(K, n_init=1, random_state=self.seed).fit(X).labels_
            resp_init = np.eye(K)[labels]
        if resp_init.shape != (n, K):
            raise ValueError(f"resp_init must have shape ({n}, {K}) (rows of X, components), got {resp_init.shape}")
        self.resp_ = resp_init
        e_step, m_step, elbo = (f.unchecked for f in (VariationalGMM.e_step, VariationalGMM.m_step, VariationalGMM.elbo))
        m_step(self, X)
        self.elbo_history_ = [elbo(self, X)]
        for _ in range(self.max_iter):
            e_step(self, X)
            m_step(self, X)
            self.elbo_history_.append(elbo(self, X))
            if abs(self.elbo_history_[-1] - self.elbo_history_[-2]) < self.tol * n:
                break
        self.n_iter_ = len(self.elbo_history_) - 1
        return self

    @property
    def weights_(self) -> np.ndarray:
        """E_q[π] = α_k / Σ_j α_j."""
        return self.alpha_ / self.alpha_.sum()

    @property
    def covs_(self) -> np.ndarray:
        """E_q[Λ_k]⁻¹ = (ν_k W_k)⁻¹, the plug-in covariance."""
        return np.stack([np.linalg.inv(nu * W) for nu, W in zip(self.nu_, self.W_)])

    @checked(threshold=NONNEGATIVE)
    def n_effective(self, threshold: float = 0.01) -> int:
        """Components whose expected weight exceeds ``threshold``."""
        return int((self.weights_ > threshold).sum())


# ------------------------------------------------------------------ labels observed: the class-conditional classifier
@checked(mean=Array(ndim=1), cov=Array(ndim=2), n=Int(0), rng=Instance(np.random.Generator))
def sample_gaussian(mean, cov, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from ``N(mean, cov)``: ``x = μ + L z`` with ``Σ = L Lᵀ`` (Cholesky), ``z ~ N(0, I)``.

    ``mean (d,)``, ``cov (d, d)`` symmetric positive definite → ``(n, d)``.
    """
    d = len(mean)
    if cov.shape != (d, d):
        raise ValueError(f"cov must have shape ({d}, {d}) to match mean, got {cov.shape}")
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

    @checked(covariance=OneOf(("diag", "full", "shared")), reg=NONNEGATIVE)
    def __init__(self, covariance: str = "diag", reg: float = 1e-2):
        self.covariance, self.reg = covariance, reg

    @checked(X=DATA, y=LABELS)
    def fit(self, X, y):
        """Maximum-likelihood fit: ``π_c = n_c/n``, ``μ_c`` = class mean, ``Σ_c`` = class covariance (+ reg)."""
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

    @checked(X=DATA)
    def joint_log_likelihood(self, X) -> np.ndarray:
        """``log π_c + log N(x; μ_c, Σ_c)`` for every row and class, shape ``(n, K)``."""
        self._check_fitted()
        X = _n_features("X", X, self.n_features_in_)
        out = np.empty((len(X), len(self.classes_)))
        d = X.shape[1]
        for k, (pi, mu, S) in enumerate(zip(self.priors_, self.means_, self.covs_)):
            L = np.linalg.cholesky(S)
            z = np.linalg.solve(L, (X - mu).T)                 # L⁻¹(x − μ), shape (d, n)
            logdet = 2 * np.log(np.diag(L)).sum()
            out[:, k] = np.log(pi) - 0.5 * (d * np.log(2 * np.pi) + logdet + (z**2).sum(0))
        return out

    @checked(X=DATA)
    def score_samples(self, X) -> np.ndarray:
        """``log p(x) = log Σ_c π_c N(x; μ_c, Σ_c)`` (the label is a latent variable here), shape ``(n,)``."""
        return logsumexp(self.joint_log_likelihood(X), axis=1)

    @checked(X=DATA)
    def predict_proba(self, X) -> np.ndarray:
        """Bayes' rule: ``p(y = c | x) = p(x, c) / p(x)``, shape ``(n, K)``."""
        jll = self.joint_log_likelihood(X)
        return np.exp(jll - logsumexp(jll, axis=1, keepdims=True))

    @checked(X=DATA)
    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        jll = self.joint_log_likelihood(X)
        return self.classes_[jll.argmax(1)]

    @checked(X=DATA, y=LABELS)
    def score(self, X, y) -> float:
        """Accuracy on ``(X, y)``."""
        return float(np.mean(self.predict(X) == y))

    @checked(n=COUNT, y=Array(ndim=1, dtype=None, optional=True), seed=SEED)
    def sample(self, n: int, y=None, seed: int = 0):
        """Ancestral sampling: ``y ~ π`` (or the given labels ``y (n,)``), then ``x ~ N(μ_y, Σ_y)``.

        Returns ``(X (n, d), y (n,))``.
        """
        self._check_fitted()
        rng = np.random.default_rng(seed)
        if y is None:
            idx = rng.choice(len(self.classes_), size=n, p=self.priors_)
        else:
            if len(y) != n:
                raise ValueError(f"y must have n={n} labels, got {len(y)}")
            lookup = {c: k for k, c in enumerate(self.classes_)}
            if not set(y.tolist()) <= set(lookup):
                raise ValueError(f"y contains labels the model has not seen; known: {self.classes_.tolist()}")
            idx = np.array([lookup[c] for c in y.tolist()])
        X = np.empty((n, self.n_features_in_))
        for k in np.unique(idx):
            X[idx == k] = sample_gaussian.unchecked(self.means_[k], self.covs_[k], int((idx == k).sum()), rng)
        return X, self.classes_[idx]


@checked(y=LABELS, per_class=COUNT, rng=Instance(np.random.Generator))
def subsample_per_class(y, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``per_class`` random examples of every class in ``y`` (all of a class if it has fewer)."""
    return np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)])


@checked(X_train=DATA, y_train=LABELS, X_test=DATA, y_test=LABELS, per_class=Sizes(ndim=1, dtype=None),
         models=Instance(dict), repeats=COUNT, seed=SEED)
def learning_curves(X_train, y_train, X_test, y_test, per_class, *, models: dict, repeats: int = 3, seed: int = 0) -> dict:
    """Test accuracy of each model as the training set grows.

    ``models`` maps a name to a factory ``() -> estimator`` with ``fit``/``score``; for each size
    in ``per_class`` (examples per class) and each of ``repeats`` random subsets, every model is fit
    on the same subset. Returns ``{name: accuracies (len(per_class), repeats)}``.
    """
    _n_features("X_test", X_test, X_train.shape[1])
    if len(y_train) != len(X_train) or len(y_test) != len(X_test):
        raise ValueError("X_train/y_train and X_test/y_test must have matching lengths")
    if not models:
        raise ValueError("models must be a non-empty dict name -> factory")
    rng = np.random.default_rng(seed)
    out = {name: np.zeros((len(per_class), repeats)) for name in models}
    for i, k in enumerate(per_class):
        for r in range(repeats):
            idx = subsample_per_class.unchecked(y_train, k, rng)
            for name, make in models.items():
                out[name][i, r] = make().fit(X_train[idx], y_train[idx]).score(X_test, y_test)
    return out


# ------------------------------------------------------------------ exercise checkers
def _resp_reference(X, weights, means, covs):
    return e_step(X, weights, means, covs)[0]


def _resp_wrong_no_weights(X, weights, means, covs):
    logp = log_gaussian(X, means, covs)
    return np.exp(logp - logsumexp(logp, axis=1, keepdims=True))


def _resp_wrong_unnormalised(X, weights, means, covs):
    return weights * np.exp(log_gaussian(X, means, covs))


@exercise("mixture.e_step_responsibilities", reference=_resp_reference,
          wrong=[_resp_wrong_no_weights, _resp_wrong_unnormalised],
          hint="r_nk = π_k N(x_n|μ_k,Σ_k) / Σ_j π_j N(x_n|μ_j,Σ_j); use scipy.stats.multivariate_normal or log-sum-exp.")
def _check_responsibilities(func):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(7, 2)) * 2
    weights = np.array([0.6, 0.3, 0.1])
    means = np.array([[0.0, 0.0], [2.0, 1.0], [-1.0, 2.0]])
    covs = np.stack([np.eye(2), np.array([[1.0, 0.5], [0.5, 2.0]]), 0.5 * np.eye(2)])
    got = func(X.copy(), weights.copy(), means.copy(), covs.copy())
    got = np.asarray(got.detach().cpu() if hasattr(got, "detach") else got, dtype=float)
    expect_close(got.sum(1) if got.ndim == 2 else got, np.ones(7), "each row of the responsibilities must sum to 1", atol=1e-6)
    expect_close(got, _resp_reference(X, weights, means, covs), "responsibilities", atol=1e-6)


def _ref_sample_gaussian(mean, cov, n, rng):
    return np.asarray(mean) + rng.standard_normal((n, len(mean))) @ np.linalg.cholesky(cov).T


def _wrong_cov_not_sqrt(mean, cov, n, rng):
    return np.asarray(mean) + rng.standard_normal((n, len(mean))) @ np.asarray(cov)


def _wrong_diag_only(mean, cov, n, rng):
    return np.asarray(mean) + rng.standard_normal((n, len(mean))) * np.sqrt(np.diag(cov))


@exercise(
    "mixture.sample_gaussian",
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
