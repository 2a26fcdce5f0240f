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
from nnbook.validate import COUNT, NONNEGATIVE, POSITIVE, SEED, Array, Float, Tensor, checked

__all__ = ["gaussian_design_matrix", "width_from_spacing", "RBFNetwork", "PRBF"]


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
             ridge=NONNEGATIVE, seed=SEED)
    def fit(self, X, y, *, width: float | None = None, width_scale: float = 1.0, ridge: float = 1e-8, seed: int = 0):
        """Two-stage training on ``X (n, D)``, ``y (n,)`` or ``(n, out_features)``.

        Inputs are moved to the module's device and dtype (``net.double()`` for float64).
        Stage 1: k-means centres (scikit-learn), σ = ``width`` or
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
        km = KMeans(self.n_centres, n_init=3, random_state=seed)
        km.fit(X.detach().cpu().numpy())
        self.centres.copy_(torch.as_tensor(km.cluster_centers_, dtype=X.dtype))
        if width is None:
            width = width_scale * width_from_spacing.unchecked(self.centres)
        self.width.fill_(width)
        A = torch.cat([self.hidden(X), torch.ones(len(X), 1, device=X.device, dtype=X.dtype)], dim=1)  # (n, k+1)
        eye = torch.eye(A.shape[1], device=X.device, dtype=X.dtype)
        coef = torch.linalg.solve(A.T @ A + ridge * eye, A.T @ y)  # (k+1, out)
        self.out.weight.copy_(coef[:-1].T)
        self.out.bias.copy_(coef[-1])
        return self


class PRBF:
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
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} entries but X has {len(X)} rows")
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("y must contain at least two classes")
        self.priors_ = np.array([np.mean(y == c) for c in self.classes_])
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

    def predict_proba(self, X) -> np.ndarray:
        """Posterior probabilities P(k | x) by Bayes' rule: ``(n, C)``, rows sum to 1."""
        log_joint = np.log(self.priors_) + self.class_log_likelihood(X)
        return np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]


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
