"""Argument checks shared by every module.

Each helper raises ``TypeError`` or ``ValueError`` whose message names the
argument and says what was expected, so that bad input never surfaces as an
unreadable error from deep inside torch or numpy.

A public function declares its rules once, at its boundary::

    @checked(X=Tensor(ndim=2), lr=POSITIVE, steps=COUNT)
    def fit(X, lr=1e-3, steps=100): ...

The wrapper checks (and converts) the arguments a caller passes, then runs the
function; ``fit.unchecked`` is the bare function, for inner loops that have
checked their input already; ``fit.rules`` is the declaration, which the
bad-input tests read to spoil each argument in turn. Checks that relate several
arguments (matching shapes) stay in the function body.
"""
from __future__ import annotations

import functools
import inspect
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Sequence

import numpy as np
import torch

__all__ = [
    "check_int",
    "check_float",
    "check_choice",
    "check_array",
    "check_tensor",
    "check_callable",
    "checked",
    "Rule",
    "Int",
    "Float",
    "Tensor",
    "Array",
    "OneOf",
    "Function",
    "Instance",
    "FloatTensor",
    "Widths",
    "GENERATOR",
    "COUNT",
    "SEED",
    "POSITIVE",
    "NONNEGATIVE",
    "PROBABILITY",
]


def check_int(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """Return ``value`` as an ``int`` or raise, naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if min_value is not None and value < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {value}")
    if max_value is not None and value > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {value}")
    return value


def check_float(
    name: str,
    value,
    *,
    min_value: float | None = None,
    max_value: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """Return ``value`` as a finite ``float`` inside the given range or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if min_value is not None:
        bad = value < min_value if min_inclusive else value <= min_value
        if bad:
            op = ">=" if min_inclusive else ">"
            raise ValueError(f"{name} must be {op} {min_value}, got {value}")
    if max_value is not None:
        bad = value > max_value if max_inclusive else value >= max_value
        if bad:
            op = "<=" if max_inclusive else "<"
            raise ValueError(f"{name} must be {op} {max_value}, got {value}")
    return value


def check_choice(name: str, value, choices: Sequence):
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _check_shape(name: str, shape: tuple, ndim, shape_spec) -> None:
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if len(shape) not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(shape)}")
    if shape_spec is not None:
        if len(shape) != len(shape_spec):
            raise ValueError(f"{name} must have shape {shape_spec}, got {tuple(shape)}")
        for got, want in zip(shape, shape_spec):
            if want is not None and got != want:
                raise ValueError(f"{name} must have shape {shape_spec} (None = any), got {tuple(shape)}")


def check_array(
    name: str,
    value,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    dtype=float,
    allow_empty: bool = False,
    finite: bool = True,
) -> np.ndarray:
    """Convert ``value`` to a NumPy array of ``dtype`` and check it.

    Accepts lists, NumPy arrays and torch tensors. Raises ``TypeError`` if the
    values cannot be converted, ``ValueError`` for a wrong rank or shape, an
    empty array, or NaN/inf entries.
    """
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be array-like of numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers, got {type(value).__name__}: {exc}") from None
    if arr.dtype.kind not in "biuf":  # bool, int, unsigned, float: no strings, objects or complex numbers
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    _check_shape(name, arr.shape, ndim, shape)
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):  # before a cast to int hides a NaN
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr if dtype is None else arr.astype(dtype, copy=False)


def check_tensor(
    name: str,
    value,
    *,
    ndim: int | Sequence[int] | None = None,
    shape: Sequence[int | None] | None = None,
    dtype: torch.dtype | None = None,
    allow_empty: bool = False,
    finite: bool = True,
) -> torch.Tensor:
    """Return ``value`` as a torch tensor (converted from array-likes) and check it."""
    if not isinstance(value, torch.Tensor):
        arr = check_array(name, value, ndim=ndim, shape=shape, dtype=None, allow_empty=allow_empty, finite=finite)
        value = torch.as_tensor(arr)
        if value.is_floating_point():
            value = value.to(torch.get_default_dtype())
    if value.is_complex():
        raise TypeError(f"{name} must be a real tensor, got dtype {value.dtype}")
    _check_shape(name, tuple(value.shape), ndim, shape)
    if not allow_empty and value.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(value.shape)}")
    if dtype is not None:
        if dtype.is_floating_point and not (value.is_floating_point() or value.dtype in (torch.int64, torch.int32, torch.bool)):
            raise TypeError(f"{name} must be a real tensor, got dtype {value.dtype}")
        value = value.to(dtype)
    if finite and value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return value


def check_callable(name: str, value):
    """Raise ``TypeError`` unless ``value`` is callable."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


# ----------------------------------------------------------------------------- declared rules
class Rule:
    """The rule for one argument: ``rule(name, value)`` returns the (converted) value or raises.

    ``optional``: ``None`` is a valid value (the function computes a default).
    """

    optional: bool = False

    def __call__(self, name: str, value):
        if value is None and self.optional:
            return None
        return self.check(name, value)

    def check(self, name: str, value):
        raise NotImplementedError


@dataclass(frozen=True)
class Int(Rule):
    """An integer in ``[lo, hi]`` (either bound may be ``None``)."""

    lo: int | None = None
    hi: int | None = None
    optional: bool = False

    def check(self, name, value):
        return check_int(name, value, min_value=self.lo, max_value=self.hi)


@dataclass(frozen=True)
class Float(Rule):
    """A finite real number between ``lo`` and ``hi`` (``lo_open``/``hi_open``: the bound is excluded)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False

    def check(self, name, value):
        return check_float(name, value, min_value=self.lo, max_value=self.hi,
                           min_inclusive=not self.lo_open, max_inclusive=not self.hi_open)


@dataclass(frozen=True)
class Tensor(Rule):
    """A torch tensor (array-likes are converted) of rank ``ndim`` (an int or a tuple of allowed ranks)."""

    ndim: int | tuple | None = None
    shape: tuple | None = None
    dtype: object = None
    finite: bool = True
    allow_empty: bool = False
    optional: bool = False

    def check(self, name, value):
        return check_tensor(name, value, ndim=self.ndim, shape=self.shape, dtype=self.dtype,
                            allow_empty=self.allow_empty, finite=self.finite)


@dataclass(frozen=True)
class Array(Rule):
    """A NumPy array (lists and tensors are converted) of rank ``ndim``, cast to ``dtype`` (``None``: kept)."""

    ndim: int | tuple | None = None
    shape: tuple | None = None
    dtype: object = float
    finite: bool = True
    allow_empty: bool = False
    optional: bool = False

    def check(self, name, value):
        return check_array(name, value, ndim=self.ndim, shape=self.shape, dtype=self.dtype,
                           allow_empty=self.allow_empty, finite=self.finite)


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a fixed set of options (usually strings)."""

    options: tuple = ()
    optional: bool = False

    def check(self, name, value):
        return check_choice(name, value, self.options)


@dataclass(frozen=True)
class Function(Rule):
    """Something callable."""

    optional: bool = False

    def check(self, name, value):
        return check_callable(name, value)


@dataclass(frozen=True)
class Instance(Rule):
    """An instance of ``cls`` (a class or a tuple of classes)."""

    cls: type | tuple = object
    optional: bool = False

    def check(self, name, value):
        if not isinstance(value, self.cls):
            names = " or ".join(c.__name__ for c in (self.cls if isinstance(self.cls, tuple) else (self.cls,)))
            raise TypeError(f"{name} must be a {names}, got {type(value).__name__}")
        return value


class FloatTensor(Tensor):
    """A floating-point tensor: float dtypes are kept (float64 stays float64), integers become the default float."""

    def check(self, name, value):
        x = super().check(name, value)
        return x if x.is_floating_point() else x.to(torch.get_default_dtype())


class Widths(Array):
    """Layer widths ``(n_0, n_1, …)``: a list or tuple of at least 2 integers >= 1, returned as a list."""

    def check(self, name, value):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"{name} must be a list or tuple of layer widths (ints), got {type(value).__name__}")
        if len(value) < 2:
            raise ValueError(f"{name} must hold at least 2 layer widths, got {list(value)}")
        return [check_int(f"{name}[{i}]", w, min_value=1) for i, w in enumerate(value)]


GENERATOR = Instance(torch.Generator, optional=True)  # a function's own random stream (None: torch's global one)
COUNT = Int(1)  # a number of steps, samples, units, ...
SEED = Int(0, 2**63 - 1)
POSITIVE = Float(0.0, lo_open=True)  # a learning rate, a width, a temperature
NONNEGATIVE = Float(0.0)
PROBABILITY = Float(0.0, 1.0)


def checked(**rules: Rule):
    """Declare the rules of a function's arguments once; they are checked on every call.

    Only the arguments a caller passes are checked (defaults are trusted); a rule's
    converted value (e.g. a list turned into a tensor) is what the function receives.
    """
    for name, rule in rules.items():
        if not isinstance(rule, Rule):
            raise TypeError(f"checked: the rule for {name!r} must be a validate.Rule, got {type(rule).__name__}")

    def decorate(fn):
        sig = inspect.signature(fn)
        unknown = sorted(set(rules) - set(sig.parameters))
        if unknown:
            raise TypeError(f"checked: {fn.__qualname__} has no argument {', '.join(unknown)}")

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                bound = sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{fn.__qualname__}(): {exc}") from None
            for name, rule in rules.items():
                if name in bound.arguments:
                    bound.arguments[name] = rule(name, bound.arguments[name])
            return fn(*bound.args, **bound.kwargs)

        wrapper.rules = MappingProxyType(dict(rules))
        wrapper.unchecked = fn
        return wrapper

    return decorate
