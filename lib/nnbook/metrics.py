"""How generative models are judged: the metrics every generative chapter reuses.

Stable API (chapters 11–15, 17 and 18 rely on it):

- :func:`train_digit_classifier` ``(seed=0) -> DigitClassifier`` — a small CNN on the
  8×8 digits (``nnbook.data.load_digits``), trained in a few seconds with ±1-pixel shift
  augmentation; ``model.test_accuracy_`` is its held-out accuracy.
- :func:`digit_features` ``(model, X) -> (n, 64)`` — the penultimate-layer features;
  :func:`digit_probabilities` ``(model, X) -> (n, 10)`` — the softmax output.
- :func:`frechet_distance` ``(features_a, features_b) -> float`` — the Fréchet distance
  between Gaussians fitted to two feature sets (FID's formula)::

      FD = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2})

  and :func:`frechet_distance_gaussians` for given means and covariances.
- :func:`precision_recall` ``(real, fake, k=3) -> (precision, recall)`` — k-NN manifold
  precision and recall (Kynkäänniemi et al., 2019): precision = share of fake samples
  inside the real data's k-NN balls (quality), recall = share of real samples inside the
  fake samples' k-NN balls (coverage).
- :func:`evaluate_samples` ``(model, X_real, X_fake) -> dict`` — all of the above on images
  ``(n, 64)`` in [0, 1], plus the share of confident predictions and the class histogram.
- :func:`edge_energy` ``(X) -> float`` — mean squared difference of neighbouring pixels of 8×8
  images: a simple sharpness measure (blur lowers it).
- :func:`timed` ``(fn, *args, **kwargs) -> (result, seconds)`` — the cost of one call (training a
  model, drawing samples): CPU time (``time.process_time``; on a GPU the device is synchronised
  and wall time is used).

Images are rows of 64 pixels in [0, 1] (the layout of ``load_digits``); models run on the
device of their parameters.
"""
from __future__ import annotations

import time
import warnings
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg
from scipy.spatial.distance import cdist
from torch import nn

from nnbook.exercises import CheckFailed, exercise, expect_close
from nnbook.utils import seeded
from nnbook.validate import COUNT, PROBABILITY, SEED, Array, Function, Instance, Tensor, checked

__all__ = [
    "DigitClassifier",
    "train_digit_classifier",
    "digit_features",
    "digit_probabilities",
    "frechet_distance",
    "frechet_distance_gaussians",
    "precision_recall",
    "evaluate_samples",
    "edge_energy",
    "timed",
]


# ---------------------------------------------------------------- the digit classifier
class DigitClassifier(nn.Module):
    """Small CNN for 8×8 digits: conv(16)–conv(32)–pool → 64 features → 10 logits.

    ``x`` of shape ``(N, 64)`` or ``(N, 1, 8, 8)`` → logits ``(N, 10)``; :meth:`features`
    gives the 64-d penultimate layer used by the Fréchet distance and k-NN metrics.
    """

    n_features = 64

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)            # (N, 16, 8, 8)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)           # (N, 32, 8, 8) → pool → (N, 32, 4, 4)
        self.fc = nn.Linear(32 * 4 * 4, self.n_features)       # (N, 64): the features
        self.out = nn.Linear(self.n_features, 10)              # (N, 10): the logits

    @staticmethod
    def _as_images(x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2 and x.shape[1] == 64:
            return x.view(-1, 1, 8, 8)
        if x.ndim == 4 and tuple(x.shape[1:]) == (1, 8, 8):
            return x
        raise ValueError(f"x must have shape (N, 64) or (N, 1, 8, 8), got {tuple(x.shape)}")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv1(self._as_images(x)))
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        return F.relu(self.fc(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x))


class Images(Tensor):
    """8×8 images as rows: a tensor ``(n, 64)`` (array-likes are converted)."""

    def check(self, name, value):
        X = super().check(name, value)
        if X.shape[1] != 64:
            raise ValueError(f"{name} must have shape (n, 64) (8×8 images as rows), got {tuple(X.shape)}")
        return X


class Device(Instance):
    """A ``torch.device`` or a device name such as ``"cpu"`` or ``"cuda:0"``; returns the ``torch.device``."""

    def check(self, name, value):
        try:
            return torch.device(super().check(name, value))
        except RuntimeError as exc:
            raise ValueError(f"{name} must name a torch device: {exc}") from None


IMAGES, FEATURES, MODEL = Images(ndim=2), Array(ndim=2), Instance(DigitClassifier)


def _shift(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shift each image (N, 1, 8, 8) by a random (dy, dx) ∈ {−1, 0, 1}², filling with zeros."""
    N = len(x)
    padded = F.pad(x, (1, 1, 1, 1))
    d = torch.randint(0, 3, (N, 2), generator=g).tolist()
    return torch.stack([padded[i, :, dy : dy + 8, dx : dx + 8] for i, (dy, dx) in enumerate(d)])


@checked(seed=SEED, epochs=COUNT, device=Device((str, torch.device), optional=True))
def train_digit_classifier(seed: int = 0, epochs: int = 30, device=None) -> DigitClassifier:
    """Train :class:`DigitClassifier` on the training split of ``load_digits(seed=0)``.

    Adam (lr 3e-3, cosine decay), batches of 64, ±1-pixel random shifts. Returns the model in
    eval mode on ``device`` (default: the CPU) with ``test_accuracy_`` = accuracy on the
    450 held-out test digits. A few seconds on a CPU.
    """
    from nnbook.data import load_digits

    device = torch.device("cpu") if device is None else device
    g = torch.Generator().manual_seed(seed)       # minibatch order and shifts
    split = load_digits(seed=0)
    X, y, Xt, yt = split.tensors()
    X = X.view(-1, 1, 8, 8)
    with seeded(seed):                            # the initial weights; the caller's random state is left alone
        model = DigitClassifier().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = epochs * ((len(X) + 63) // 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(X), generator=g)
        for i in range(0, len(X), 64):
            idx = order[i : i + 64]
            loss = F.cross_entropy(model(_shift(X[idx], g).to(device)), y[idx].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    model.test_accuracy_ = float((digit_probabilities.unchecked(model, Xt).argmax(1) == yt.numpy()).mean())
    return model


def _on(model, X: torch.Tensor) -> torch.Tensor:
    return X.float().to(next(model.parameters()).device)


@checked(model=MODEL, X=IMAGES)
@torch.no_grad()
def digit_features(model: DigitClassifier, X) -> np.ndarray:
    """Penultimate-layer features ``(n, 64)`` of images ``X (n, 64)``."""
    X = _on(model, X)
    return torch.cat([model.features(X[i : i + 1024]) for i in range(0, len(X), 1024)]).cpu().double().numpy()


@checked(model=MODEL, X=IMAGES)
@torch.no_grad()
def digit_probabilities(model: DigitClassifier, X) -> np.ndarray:
    """Class probabilities ``(n, 10)`` of images ``X (n, 64)``."""
    X = _on(model, X)
    return torch.cat([F.softmax(model(X[i : i + 1024]), 1) for i in range(0, len(X), 1024)]).cpu().double().numpy()


# ---------------------------------------------------------------- Fréchet distance
@checked(mu1=Array(ndim=1), cov1=Array(ndim=2), mu2=Array(ndim=1), cov2=Array(ndim=2))
def frechet_distance_gaussians(mu1, cov1, mu2, cov2) -> float:
    """``‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2})``: the 2-Wasserstein distance² of two Gaussians.

    ``mu (d,)``, ``cov (d, d)`` symmetric positive semi-definite. The matrix square root is
    ``scipy.linalg.sqrtm``; tiny imaginary parts from round-off are dropped, and a result
    below zero by round-off is returned as 0.
    """
    d = len(mu1)
    for name, x, shape in (("mu2", mu2, (d,)), ("cov1", cov1, (d, d)), ("cov2", cov2, (d, d))):
        if x.shape != shape:
            raise ValueError(f"{name} must have shape {shape} to match mu1, got {x.shape}")
    with warnings.catch_warnings():                           # singular Σ (dead ReLU features) is fine
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(cov1 @ cov2)
        if not np.all(np.isfinite(covmean)):                  # sqrtm failed: nudge both covariances
            eps = 1e-6 * np.eye(d)
            covmean = linalg.sqrtm((cov1 + eps) @ (cov2 + eps))
    covmean = np.real(covmean)
    fd = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))
    return max(fd, 0.0)


def _check_sets(a, b, names, min_rows, why=""):
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} must have the same number of columns, got {a.shape} and {b.shape}")
    for name, x in zip(names, (a, b)):
        if len(x) < min_rows:
            raise ValueError(f"{name} needs at least {min_rows} rows (samples){why}, got {len(x)}")
    return a, b


@checked(features_a=FEATURES, features_b=FEATURES)
def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features ``(n_a, d)``, ``(n_b, d)``.

    Each set needs at least 2 rows (a covariance); fewer rows than ``d`` give a singular
    covariance, which is allowed but makes the number noisy — compare sets of equal size.
    """
    a, b = _check_sets(features_a, features_b, ("features_a", "features_b"), 2)
    return frechet_distance_gaussians.unchecked(a.mean(0), np.cov(a, rowvar=False).reshape(a.shape[1], -1),
                                      b.mean(0), np.cov(b, rowvar=False).reshape(b.shape[1], -1))


# ---------------------------------------------------------------- precision and recall
def _knn_radii(X: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of ``X`` to its k-th nearest *other* row."""
    D = cdist(X, X)
    return np.sort(D, axis=1)[:, k]                           # column 0 is the point itself


@checked(real=FEATURES, fake=FEATURES, k=COUNT)
def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """k-NN manifold precision and recall of ``fake (m, d)`` against ``real (n, d)``.

    Around every real point put a ball reaching its k-th nearest real neighbour; their union
    estimates the real manifold. **Precision** = share of fake points inside it (are the samples
    realistic?). **Recall** = the same with the roles swapped (is every part of the real data
    produced?). Both sets need more than ``k`` rows.
    """
    real, fake = _check_sets(real, fake, ("real", "fake"), k + 1, f" for k={k}")
    r_real, r_fake = _knn_radii(real, k), _knn_radii(fake, k)
    D = cdist(fake, real)                                      # (m, n)
    precision = float(np.mean((D <= r_real[None, :]).any(1)))
    recall = float(np.mean((D.T <= r_fake[None, :]).any(1)))
    return precision, recall


@checked(model=MODEL, X_real=IMAGES, X_fake=IMAGES, k=COUNT, confidence=PROBABILITY)
def evaluate_samples(model: DigitClassifier, X_real, X_fake, k: int = 3, confidence: float = 0.9) -> dict:
    """Every sample metric of the book for images ``X_fake (m, 64)`` against ``X_real (n, 64)``.

    Returns ``{"fd", "precision", "recall", "confident", "class_hist"}``: Fréchet distance and
    k-NN precision/recall on :func:`digit_features`, the share of samples whose top class
    probability exceeds ``confidence``, and the share of samples predicted as each class (10,).
    """
    fr, ff = digit_features.unchecked(model, X_real), digit_features.unchecked(model, X_fake)
    p, r = precision_recall.unchecked(fr, ff, k)
    probs = digit_probabilities.unchecked(model, X_fake)
    return {
        "fd": frechet_distance.unchecked(fr, ff),
        "precision": p,
        "recall": r,
        "confident": float(np.mean(probs.max(1) > confidence)),
        "class_hist": np.bincount(probs.argmax(1), minlength=10) / len(probs),
    }


# ---------------------------------------------------------------- sharpness
@checked(X=Images(ndim=2, dtype=torch.float64))
def edge_energy(X) -> float:
    """Mean squared difference between horizontally and vertically adjacent pixels of 8×8 images.

    ``X (n, 64)``: rows of 8×8 images. Averages ``(x[i, j+1] − x[i, j])²`` over the 8·7 horizontal
    pairs and ``(x[i+1, j] − x[i, j])²`` over the 7·8 vertical pairs, then over the images. A blurred
    image has smaller differences between neighbours, so a lower value.
    """
    img = X.double().reshape(-1, 8, 8)
    dh = (img[:, :, 1:] - img[:, :, :-1]).pow(2)
    dv = (img[:, 1:, :] - img[:, :-1, :]).pow(2)
    return float(torch.cat([dh.flatten(1), dv.flatten(1)], 1).mean())


# ---------------------------------------------------------------- cost
@checked(fn=Function())
def timed(fn: Callable, *args, **kwargs):
    """Call ``fn(*args, **kwargs)``; return ``(result, seconds)``.

    On the CPU the seconds are **CPU time** of this process (``time.process_time``), which other
    programs on a shared machine barely disturb. If CUDA is in use the device is synchronised
    before and after and wall time (``time.perf_counter``) is returned instead.
    """
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    clock = time.perf_counter if cuda else time.process_time
    if cuda:
        torch.cuda.synchronize()
    start = clock()
    result = fn(*args, **kwargs)
    if cuda:
        torch.cuda.synchronize()
    return result, clock() - start


# ---------------------------------------------------------------- exercise checkers
def _ref_frechet_1d(mu1, sigma1, mu2, sigma2):
    return (mu1 - mu2) ** 2 + (sigma1 - sigma2) ** 2


def _wrong_frechet_variances(mu1, sigma1, mu2, sigma2):
    return (mu1 - mu2) ** 2 + (sigma1**2 - sigma2**2) ** 2


def _wrong_frechet_no_cross(mu1, sigma1, mu2, sigma2):
    return (mu1 - mu2) ** 2 + sigma1**2 + sigma2**2


@exercise(
    "metrics.frechet_1d",
    reference=_ref_frechet_1d,
    wrong=[_wrong_frechet_variances, _wrong_frechet_no_cross],
    hint="in 1-D, Σ = σ²; the matrix square root of σ₁²σ₂² is σ₁σ₂. Expand σ₁² + σ₂² − 2σ₁σ₂.",
)
def _check_frechet_1d(func):
    cases = [(0.0, 1.0, 0.0, 1.0), (1.0, 1.0, -1.0, 1.0), (0.0, 1.0, 0.0, 3.0), (2.0, 0.5, -1.0, 2.0)]
    for mu1, s1, mu2, s2 in cases:
        want = frechet_distance_gaussians([mu1], [[s1**2]], [mu2], [[s2**2]])
        expect_close(float(func(mu1, s1, mu2, s2)), want, f"frechet_1d{(mu1, s1, mu2, s2)}", atol=1e-8)
    if abs(float(func(3.0, 2.0, 3.0, 2.0))) > 1e-12:
        raise CheckFailed("a distribution must be at distance 0 from itself")


def _ref_edge_energy(X):
    img = X.reshape(-1, 8, 8)
    dh = (img[:, :, 1:] - img[:, :, :-1]) ** 2
    dv = (img[:, 1:, :] - img[:, :-1, :]) ** 2
    return float(torch.cat([dh.flatten(1), dv.flatten(1)], 1).mean())


def _wrong_edge_energy_horizontal(X):
    img = X.reshape(-1, 8, 8)
    return float(((img[:, :, 1:] - img[:, :, :-1]) ** 2).mean())


def _wrong_edge_energy_flat(X):
    return float(((X[:, 1:] - X[:, :-1]) ** 2).mean())


@exercise("metrics.edge_energy", reference=_ref_edge_energy,
          wrong=[_wrong_edge_energy_horizontal, _wrong_edge_energy_flat],
          hint="reshape each row to 8×8; use both horizontal (columns j, j+1) and vertical (rows i, i+1) "
               "neighbours, 56 pairs each; do not pair the last pixel of a row with the first of the next")
def _check_edge_energy(func):
    stripes = torch.zeros(1, 8, 8, dtype=torch.float64)
    stripes[:, :, ::2] = 1.0                                   # vertical stripes: only horizontal edges
    expect_close(float(func(stripes.reshape(1, 64))), 0.5, "vertical stripes (56 of 112 neighbour pairs differ)")
    g = torch.Generator().manual_seed(2)
    X = torch.rand(5, 64, generator=g, dtype=torch.float64)
    expect_close(float(func(X)), edge_energy(X), "random 8×8 images")
    if abs(float(func(torch.full((3, 64), 0.3, dtype=torch.float64)))) > 1e-12:
        raise CheckFailed("a constant image has no edges: edge energy 0")
