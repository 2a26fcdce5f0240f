"""Radial basis function (RBF) networks and the probabilistic RBF (PRBF) classifier.

RBF network (径向基函数网络), one hidden layer of Gaussian bumps and a linear output:

    f(x) = Σ_j w_j φ_j(x) + b,     φ_j(x) = exp(−‖x − c_j‖² / (2σ²)).

Two-stage learning: (1) centres c_j by k-means on the inputs, width σ from the
centre spacing; (2) output weights by linear least squares — no back-propagation.

PRBF (概率 RBF 网络): for each class k a Gaussian mixture
p(x | k) = Σ_j π_jk N(x | μ_jk, Σ_jk) with Σ_j π_jk = 1, π_jk ≥ 0, fitted by EM;
the outputs are the posteriors P(k | x) = P(k) p(x | k) / Σ_l P(l) p(x | l).

>>> net = RBFNetwork(in_features=1, n_centres=20).fit(X, y)
>>> y_hat = net(X_test)
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp
from torch import nn

from nnbook.exercises import exercise, expect_close
from nnbook.mixture import GaussianMixtureEM, log_gaussian
from nnbook.validate import COUNT, NONNEGATIVE, POSITIVE, SEED, Array, Float, Int, Tensor, checked

__all__ = ["gaussian_design_matrix", "width_from_spacing", "kmeans", "RBFNetwork", "PRBF", "PNN", "SelfOrganizingMap"]


@checked(X=Tensor(ndim=2), centres=Tensor(ndim=2), width=POSITIVE)
def gaussian_design_matrix(X: torch.Tensor, centres: torch.Tensor, width: float) -> torch.Tensor:
    """The hidden-layer output Φ with Φ[n, j] = exp(−‖x_n − c_j‖² / (2 σ²)).

    ``X (n, D)``, ``centres (k, D)``, ``width`` σ > 0. Returns ``(n, k)`` on X's device.
    """
    centres = centres.to(device=X.device, dtype=X.dtype)
    if centres.shape[1] != X.shape[1]:
        raise ValueError(f"centres must have {X.shape[1]} columns to match X, got shape {tuple(centres.shape)}")
    sq_dist = torch.cdist(X, centres).pow(2)  # (n, k)
    return torch.exp(-sq_dist / (2 * width**2))


@checked(X=Array(ndim=2), k=COUNT, seed=SEED, max_iter=COUNT, init=Array(ndim=2, optional=True))
def kmeans(X, k: int, *, seed: int = 0, max_iter: int = 100, init=None) -> dict:
    """Lloyd's k-means (K-均值) on ``X (n, D)``: alternate the two steps until no point changes cluster.

    Assign: ``labels[n] = argmin_j ‖x_n − c_j‖²``. Update: ``c_j`` = mean of the points assigned to j
    (a centre that loses all its points stays where it is). Starts from ``init (k, D)`` or from
    ``k`` distinct data points drawn with ``seed``. Returns ``centres (k, D)``, ``labels (n,)``,
    ``inertia`` = Σ_n min_j ‖x_n − c_j‖² after each assignment (never increases), ``n_iter``
    and ``history`` (the centres before each assignment, then the final ones).
    """
    if len(X) < k:
        raise ValueError(f"X must have at least k={k} rows, got {len(X)}")
    if init is None:
        C = X[np.random.default_rng(seed).choice(len(X), k, replace=False)].copy()
    else:
        if init.shape != (k, X.shape[1]):
            raise ValueError(f"init must have shape ({k}, {X.shape[1]}), got {init.shape}")
        C = init.copy()
    history, inertia, labels = [C.copy()], [], None
    for it in range(max_iter):
        sq = ((X[:, None, :] - C[None]) ** 2).sum(-1)  # (n, k)
        new = sq.argmin(1)  # assign
        inertia.append(float(sq[np.arange(len(X)), new].sum()))
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):  # update
            if np.any(labels == j):
                C[j] = X[labels == j].mean(0)
        history.append(C.copy())
    return {"centres": C, "labels": labels, "inertia": inertia, "n_iter": it + 1, "history": history}


@checked(centres=Tensor(ndim=2))
def width_from_spacing(centres) -> float:
    """The classical heuristic σ = d_max / √(2k) (Haykin), d_max = largest distance between centres.

    ``centres (k, D)`` with k ≥ 2.
    """
    k = centres.shape[0]
    if k < 2:
        raise ValueError(f"centres must hold at least 2 centres, got {k}")
    d_max = float(torch.cdist(centres, centres).max())
    if d_max == 0:
        raise ValueError("centres must not all coincide")
    return d_max / np.sqrt(2 * k)


class RBFNetwork(nn.Module):
    """An RBF network f(x) = Φ(x) w + b trained in two stages by :meth:`fit`.

    ``centres (k, D)`` and ``width`` are buffers (fixed after stage 1);
    ``out`` is the linear output layer (k → out_features). Calling the model
    on ``X (n, D)`` returns ``(n, out_features)``.
    """

    @checked(in_features=COUNT, n_centres=COUNT, out_features=COUNT)
    def __init__(self, in_features: int, n_centres: int, out_features: int = 1):
        super().__init__()
        self.in_features, self.n_centres, self.out_features = in_features, n_centres, out_features
        self.register_buffer("centres", torch.zeros(n_centres, in_features))
        self.register_buffer("width", torch.tensor(1.0))
        self.out = nn.Linear(n_centres, out_features)

    def hidden(self, X: torch.Tensor) -> torch.Tensor:
        """Φ(X), shape ``(n, k)``."""
        return gaussian_design_matrix.unchecked(X, self.centres, float(self.width))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(X))

    @torch.no_grad()
    @checked(X=Tensor(ndim=2), y=Tensor(ndim=(1, 2)), width=Float(0.0, lo_open=True, optional=True), width_scale=POSITIVE,
             ridge=NONNEGATIVE, seed=SEED, centres=Tensor(ndim=2, optional=True))
    def fit(self, X, y, *, width: float | None = None, width_scale: float = 1.0, ridge: float = 1e-8, seed: int = 0,
            centres=None):
        """Two-stage training on ``X (n, D)``, ``y (n,)`` or ``(n, out_features)``.

        Inputs are moved to the module's device and dtype (``net.double()`` for float64).
        Stage 1: k-means centres (scikit-learn), or the given ``centres (n_centres, D)``; σ = ``width`` or
        ``width_scale`` × :func:`width_from_spacing`. Stage 2: output weights
        by regularised least squares, [w; b] = (AᵀA + λI)⁻¹ Aᵀ y with A = [Φ, 1].
        """
        from sklearn.cluster import KMeans

        if X.shape[1] != self.in_features:
            raise ValueError(f"X must have shape (n, {self.in_features}), got {tuple(X.shape)}")
        X = X.to(self.centres)  # module's device, dtype
        y = y.to(X)
        y = y.reshape(len(y), -1)
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} rows but X has {len(X)}")
        if y.shape[1] != self.out_features:
            raise ValueError(f"y must have {self.out_features} column(s), got {y.shape[1]}")
        if len(X) < self.n_centres:
            raise ValueError(f"X must have at least n_centres={self.n_centres} rows, got {len(X)}")
        if centres is None:
            km = KMeans(self.n_centres, n_init=3, random_state=seed)
            km.fit(X.detach().cpu().numpy())
            centres = torch.as_tensor(km.cluster_centers_, dtype=X.dtype)
        elif tuple(centres.shape) != (self.n_centres, self.in_features):
            raise ValueError(f"centres must have shape ({self.n_centres}, {self.in_features}), "
                             f"got {tuple(centres.shape)}")
        self.centres.copy_(centres.to(self.centres))
        if width is None:
            width = width_scale * width_from_spacing.unchecked(self.centres)
        self.width.fill_(width)
        A = torch.cat([self.hidden(X), torch.ones(len(X), 1, device=X.device, dtype=X.dtype)], dim=1)  # (n, k+1)
        eye = torch.eye(A.shape[1], device=X.device, dtype=X.dtype)
        coef = torch.linalg.solve(A.T @ A + ridge * eye, A.T @ y)  # (k+1, out)
        self.out.weight.copy_(coef[:-1].T)
        self.out.bias.copy_(coef[-1])
        return self


class _BayesClassifier:
    """Bayes' rule over class-conditional densities: a subclass sets ``classes_`` and ``priors_`` in ``fit``
    (through ``_classes_and_priors``) and gives ``class_log_likelihood(X)`` = log p(x | k), ``(n, C)``."""

    def _classes_and_priors(self, X, y) -> None:
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} entries but X has {len(X)} rows")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("y must contain at least two classes")
        self.priors_ = np.array([np.mean(np.asarray(y) == c) for c in self.classes_])

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probabilities P(k | x) by Bayes' rule: ``(n, C)``, rows sum to 1."""
        log_joint = np.log(self.priors_) + self.class_log_likelihood(X)
        return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]


class PRBF(_BayesClassifier):
    """Probabilistic RBF classifier: one Gaussian mixture per class, fitted by EM.

    ``n_components`` mixture components per class (the hidden units of class k
    are its Gaussians). After ``fit``: ``classes_``, ``priors_ (C,)`` = P(k),
    ``mixtures_`` (one fitted :class:`~nnbook.mixture.GaussianMixtureEM` per
    class), and ``mixing_weights_`` = the list of π_·k, each summing to 1.
    """

    @checked(n_components=COUNT, seed=SEED, max_iter=COUNT)
    def __init__(self, n_components: int = 2, *, seed: int = 0, max_iter: int = 300):
        self.n_components, self.seed, self.max_iter = n_components, seed, max_iter

    @checked(X=Array(ndim=2), y=Array(ndim=1, dtype=None))
    def fit(self, X, y):
        """Fit ``X (n, D)`` with integer labels ``y (n,)``."""
        self._classes_and_priors(X, y)
        self.mixtures_ = [GaussianMixtureEM(self.n_components, init="kmeans", seed=self.seed, max_iter=self.max_iter,
                                            reg_covar=1e-4).fit(X[y == c]) for c in self.classes_]
        return self

    @property
    def mixing_weights_(self) -> list:
        return [m.weights_ for m in self.mixtures_]

    @checked(X=Array(ndim=2))
    def class_log_likelihood(self, X) -> np.ndarray:
        """log p(x | k) for each class: ``(n, C)``."""
        return np.stack([logsumexp(np.log(m.weights_) + log_gaussian(X, m.means_, m.covs_), axis=1)
                         for m in self.mixtures_], axis=1)



class PNN(_BayesClassifier):
    """Probabilistic neural network (概率神经网络, Specht 1990): a Parzen-window classifier.

    One Gaussian kernel of width σ per training point (the pattern layer); the class score
    is the average kernel of its points (the summation layer), an estimate of p(x | k); the
    decision is Bayes' rule with the class frequencies as priors:

        p̂(x | k) = (1 / n_k) Σ_{n: y_n = k} N(x | x_n, σ² I),   P(k | x) ∝ P(k) p̂(x | k).

    Nothing is learned except storing the data; σ is the only parameter. The decision (Bayes' rule,
    ``predict_proba``, ``predict``) is PRBF's, with the Parzen estimate in place of the mixture.
    """

    @checked(width=POSITIVE)
    def __init__(self, width: float = 0.3):
        self.width = width

    @checked(X=Array(ndim=2), y=Array(ndim=1, dtype=None))
    def fit(self, X, y):
        """Store ``X (n, D)`` and labels ``y (n,)``."""
        self._classes_and_priors(X, y)
        self.X_, self.y_ = X, np.asarray(y)
        return self

    @checked(X=Array(ndim=2))
    def class_log_likelihood(self, X) -> np.ndarray:
        """log p̂(x | k) for each class: ``(n, C)``."""
        if not hasattr(self, "X_"):
            raise RuntimeError("call fit before class_log_likelihood")
        if X.shape[1] != self.X_.shape[1]:
            raise ValueError(f"X must have {self.X_.shape[1]} columns, got {X.shape[1]}")
        D, s2 = X.shape[1], self.width**2
        sq = ((X[:, None, :] - self.X_[None]) ** 2).sum(-1)  # (n, n_train)
        log_k = -sq / (2 * s2) - 0.5 * D * np.log(2 * np.pi * s2)  # log N(x | x_m, σ² I)
        return np.stack([logsumexp(log_k[:, self.y_ == c], axis=1) - np.log(np.sum(self.y_ == c))
                         for c in self.classes_], axis=1)



class SelfOrganizingMap:
    """Kohonen's self-organising map (自组织映射): units on a grid, weights in input space.

    ``grid=(rows, cols)`` units with weight vectors ``weights_ (rows·cols, D)`` and grid
    positions ``positions_ (rows·cols, 2)``. One step of online training on a sample x:

        winner  i* = argmin_i ‖x − w_i‖                         (competition)
        update  w_i ← w_i + η(t) h(i, i*) (x − w_i),  h = exp(−‖r_i − r_i*‖² / (2 s(t)²))

    with η and the neighbourhood radius s shrinking exponentially from their start to their end
    values. With s → 0 it is online k-means; the neighbourhood is what orders the map.
    """

    @checked(grid=Array(ndim=1, shape=(2,), dtype=int), lr=Array(ndim=1, shape=(2,)),
             radius=Array(ndim=1, shape=(2,)), seed=SEED)
    def __init__(self, grid=(10, 10), *, lr=(0.5, 0.01), radius=(3.0, 0.5), seed: int = 0):
        grid, lr, radius = (np.asarray(a) for a in (grid, lr, radius))  # defaults are not converted
        if np.any(grid < 1):
            raise ValueError(f"grid must hold two sizes >= 1, got {grid.tolist()}")
        if np.any(lr <= 0) or np.any(radius <= 0):
            raise ValueError("lr and radius must hold two positive (start, end) values")
        self.grid, self.lr, self.radius, self.seed = tuple(grid.tolist()), lr, radius, seed
        r, c = np.meshgrid(np.arange(self.grid[0]), np.arange(self.grid[1]), indexing="ij")
        self.positions_ = np.c_[r.ravel(), c.ravel()].astype(float)

    @checked(X=Array(ndim=2), steps=COUNT, snapshots=Int(0))
    def fit(self, X, steps: int = 2000, snapshots: int = 0):
        """Train on ``steps`` samples drawn from ``X (n, D)``; weights start as small random values
        around the data mean. ``snapshots`` > 0 keeps that many copies of the weights in ``history_``."""
        rng = np.random.default_rng(self.seed)
        W = X.mean(0) + 0.01 * X.std(0) * rng.standard_normal((len(self.positions_), X.shape[1]))
        keep = set(np.linspace(0, steps, snapshots).astype(int).tolist()) if snapshots else set()
        self.history_ = []
        for t in range(steps + 1):
            if t in keep:
                self.history_.append(W.copy())
            if t == steps:
                break
            frac = t / max(steps - 1, 1)
            eta = self.lr[0] * (self.lr[1] / self.lr[0]) ** frac
            s = self.radius[0] * (self.radius[1] / self.radius[0]) ** frac
            x = X[rng.integers(len(X))]
            win = np.argmin(((W - x) ** 2).sum(1))
            h = np.exp(-((self.positions_ - self.positions_[win]) ** 2).sum(1) / (2 * s**2))
            W += eta * h[:, None] * (x - W)
        self.weights_ = W
        return self

    @checked(X=Array(ndim=2), weights=Array(ndim=2, optional=True))
    def quantization_error(self, X, weights=None) -> float:
        """Mean distance from each point to its nearest unit (of ``weights``, default the trained ones)."""
        W = self.weights_ if weights is None else weights
        return float(np.sqrt(((X[:, None] - W[None]) ** 2).sum(-1)).min(1).mean())

    @checked(X=Array(ndim=2), weights=Array(ndim=2, optional=True))
    def topographic_error(self, X, weights=None) -> float:
        """Share of points whose best and second-best units are not grid neighbours (8-neighbourhood)."""
        W = self.weights_ if weights is None else weights
        order = np.argsort(((X[:, None] - W[None]) ** 2).sum(-1), axis=1)[:, :2]
        gap = np.abs(self.positions_[order[:, 0]] - self.positions_[order[:, 1]]).max(1)
        return float(np.mean(gap > 1))


# ------------------------------------------------------------------ exercise checker
def _design_reference(X, centres, width):
    return gaussian_design_matrix(X, centres, width)


def _design_wrong_no_square(X, centres, width):
    return torch.exp(-torch.cdist(X, centres) / (2 * width**2))


def _design_wrong_no_two(X, centres, width):
    return torch.exp(-torch.cdist(X, centres).pow(2) / width**2)


@exercise("rbf.gaussian_design_matrix", reference=_design_reference,
          wrong=[_design_wrong_no_square, _design_wrong_no_two],
          hint="Φ[n, j] = exp(−‖x_n − c_j‖² / (2σ²)); torch.cdist gives ‖x_n − c_j‖ (not squared).")
def _check_design(func):
    g = torch.Generator().manual_seed(3)
    X = torch.randn(6, 3, generator=g)
    C = torch.randn(4, 3, generator=g)
    for width in (0.7, 2.0):
        got = func(X.clone(), C.clone(), width)
        if not isinstance(got, torch.Tensor):
            got = torch.as_tensor(np.asarray(got, dtype=float))
        expect_close(got, _design_reference(X, C, width), f"Φ with width {width}", atol=1e-5)
