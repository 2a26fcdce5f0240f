"""Seeding and device selection: call :func:`seed_everything` once per notebook."""
from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

from nnbook.validate import SEED, Int, OneOf, checked

__all__ = ["seed_everything", "seeded", "get_device", "glue"]


@checked(seed=Int(0, 2**32 - 1))  # NumPy's legacy seed is 32 bits
def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with ``seed``.

    Returns the seed, so a notebook can print what it used.
    """
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


@contextlib.contextmanager
@checked(seed=SEED)
def seeded(seed: int):
    """Run a block with torch's global generators (CPU and CUDA) seeded by ``seed``.

    The caller's random state is restored afterwards, so a library function that
    initialises a model inside ``with seeded(seed):`` is reproducible without
    changing what the notebook's own random calls draw next.
    """
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@checked(prefer=OneOf(("cpu", "cuda"), optional=True))
def get_device(prefer: str | None = None) -> torch.device:
    """The device to compute on: CUDA when present, else the CPU.

    ``prefer="cpu"`` forces the CPU (small models are often faster there);
    ``prefer="cuda"`` raises if no GPU is present.
    """
    if prefer is not None:
        if prefer == "cuda" and not torch.cuda.is_available():
            raise ValueError("prefer='cuda' but no CUDA device is available")
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def glue(name: str, value, display: bool = True):
    """Make ``value`` available to the page text as ``{glue}`name```.

    Uses myst-nb's ``glue`` when it is installed (building the website); in
    Colab or plain Jupyter, where myst-nb is absent, it only displays the value
    (if ``display``), so the notebook runs the same everywhere. NumPy scalars and
    0-d tensors are glued as plain Python numbers, so that a format such as
    ``{glue:text}`name:.2f``` works on them (myst-nb formats the value's repr).
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be an identifier-like string, got {name!r}")
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        value = value.item()
    try:
        from myst_nb import glue as _glue
    except ImportError:
        if display:
            from IPython.display import display as _display

            _display(value)
        return None
    return _glue(name, value, display=display)
