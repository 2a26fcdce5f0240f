"""Bad input to every public `nnbook` callable gets a clear error naming the argument.

The callables are found automatically: every name in a module's ``__all__`` (or,
without one, every public callable the module defines). Each needs a spec in
``tests/bad_input_specs.py`` with a valid call. The rules of its arguments are read
from the callable's ``@checked`` declaration (`nnbook.validate`); a callable that
does not declare them yet lists them in its spec. For every declared argument and every way of spoiling
it (wrong type or dtype, wrong rank, NaN/inf, empty, out of range), hypothesis
draws a bad value and the test asserts that the call raises ``ValueError`` or
``TypeError``, that the message names the argument, and that the error is
raised by `nnbook` itself, not by torch/numpy deep inside.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import nnbook
from bad_input_specs import EXCLUDED, SPECS

from nnbook.validate import Array, Float, Function, Instance, Int, OneOf, Tensor

NNBOOK_DIR = str(Path(nnbook.__file__).resolve().parent)
# Few examples and no shrinking: the mutation kinds are enumerated by parametrize, hypothesis only
# picks the details (which entry becomes NaN, how far out of range), and a failure is clear unshrunk.
FEW = settings(max_examples=3, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
               suppress_health_check=list(HealthCheck), print_blob=False)


def public_callables() -> list[str]:
    """``"module.name"`` for every public callable of every `nnbook` module."""
    found = []
    for info in pkgutil.iter_modules(nnbook.__path__):
        if info.name.startswith("_") or info.name in EXCLUDED:
            continue
        mod = importlib.import_module(f"nnbook.{info.name}")
        names = getattr(mod, "__all__", None)
        if names is None:
            names = [n for n, v in vars(mod).items() if not n.startswith("_") and getattr(v, "__module__", None) == mod.__name__]
        for n in names:
            obj = getattr(mod, n)
            if callable(obj) and not (inspect.isclass(obj) and issubclass(obj, BaseException)):
                found.append(f"{info.name}.{n}")
    return sorted(set(found) - set(EXCLUDED))


def test_every_public_callable_has_a_spec():
    missing = [name for name in public_callables() if name not in SPECS]
    assert not missing, (
        "these public nnbook callables have no bad-input spec; add one to tests/bad_input_specs.py "
        "(a valid call and the kinds of its arguments), or, with a reason, to EXCLUDED there: " + ", ".join(missing)
    )


def test_specs_name_real_callables_and_arguments():
    for name, spec in SPECS.items():
        target = spec.target()
        params = inspect.signature(target).parameters
        for arg in spec.args:
            assert arg in params, f"spec {name}: {arg!r} is not an argument of {target}"


def test_declared_rules_are_not_listed_again():
    twice = [name for name, spec in SPECS.items() if spec.args and spec.declared() is not None]
    assert not twice, f"these callables declare their rules with @checked; drop the args from their specs: {twice}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_valid_call_runs(name):
    """The spec's valid call works, so a rejected mutation is rejected for the mutated argument."""
    spec = SPECS[name]
    spec.target()(**spec.valid())


# ---- ways to spoil one argument ------------------------------------------------------------


def mutations(kind) -> list[str]:
    if isinstance(kind, Int):
        return ["type"] + (["range"] if (kind.lo, kind.hi) != (None, None) else [])
    if isinstance(kind, Float):
        return ["type", "nonfinite"] + (["range"] if (kind.lo, kind.hi) != (None, None) else [])
    if isinstance(kind, (Tensor, Array)):
        return (["dtype"] + (["rank"] if kind.ndim is not None else []) + (["nonfinite"] if kind.finite else [])
                + ([] if kind.allow_empty else ["empty"]))
    if isinstance(kind, (OneOf, Function, Instance)):
        return ["value"]
    raise TypeError(kind)


def bad_int(draw, kind, how):
    if how == "type":
        return draw(st.sampled_from([1.5, "3", True, [2]] + ([] if kind.optional else [None])))
    below = [st.integers(max_value=kind.lo - 1)] if kind.lo is not None else []
    above = [st.integers(min_value=kind.hi + 1)] if kind.hi is not None else []
    return draw(st.one_of(*below, *above))


def bad_float(draw, kind, how):
    if how == "type":
        return draw(st.sampled_from(["0.5", [0.5], 1j] + ([] if kind.optional else [None])))
    if how == "nonfinite":
        return draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
    options = []
    if kind.lo is not None:
        hi = kind.lo
        options.append(st.floats(max_value=hi, exclude_max=not kind.lo_open, allow_nan=False, allow_infinity=False, min_value=hi - 1e6))
    if kind.hi is not None:
        lo = kind.hi
        options.append(st.floats(min_value=lo, exclude_min=not kind.hi_open, allow_nan=False, allow_infinity=False, max_value=lo + 1e6))
    return draw(st.one_of(*options))


def _as_array(value):
    return value if isinstance(value, (torch.Tensor, np.ndarray)) else np.asarray(value)


def bad_array(draw, kind, how, value):
    v = _as_array(value)
    is_t = isinstance(v, torch.Tensor)
    if how == "dtype":
        choice = draw(st.sampled_from(["complex", "strings", "str"]))
        if choice == "complex":
            return v.to(torch.complex64) if is_t else v.astype(complex)
        return np.full(tuple(v.shape), "a") if choice == "strings" else "not an array"
    if how == "rank":
        allowed = (kind.ndim,) if isinstance(kind.ndim, int) else kind.ndim
        rank = draw(st.sampled_from([r for r in range(5) if r not in allowed]))
        flat = v.reshape(-1)
        if rank == 0:
            return flat[0]
        if rank < v.ndim:  # merge leading axes
            return v.reshape(-1, *v.shape[v.ndim - rank + 1:])
        return v.reshape(*((1,) * (rank - v.ndim)), *v.shape)
    if how == "nonfinite":
        v = (v.clone() if v.is_floating_point() else v.to(torch.get_default_dtype())) if is_t else np.array(v, dtype=float)
        i = draw(st.integers(0, v.numel() - 1 if is_t else v.size - 1))
        v.reshape(-1)[i] = draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
        return v
    assert how == "empty"
    return v[:0] if v.ndim else v.reshape(-1)[:0]


def bad_value(draw, kind, how, value):
    if isinstance(kind, Int):
        return bad_int(draw, kind, how)
    if isinstance(kind, Float):
        return bad_float(draw, kind, how)
    if isinstance(kind, (Tensor, Array)):
        return bad_array(draw, kind, how, value)
    if isinstance(kind, OneOf):
        return draw(st.sampled_from(["no-such-option", 12345]))
    if isinstance(kind, Instance):
        return draw(st.sampled_from([42, "not the right object"]))
    return draw(st.sampled_from([42, "not callable"]))  # Func


CASES = [
    pytest.param(name, arg, how, id=f"{name}-{arg}-{how}")
    for name in sorted(SPECS) for arg, kind in SPECS[name].rules().items() for how in mutations(kind)
]


@pytest.mark.parametrize("name,arg,how", CASES)
def test_bad_argument_is_rejected(name, arg, how):
    # A fresh hypothesis test per case: one @given function shared by ~2000 parametrized
    # cases made hypothesis overflow the stack after ~1000 of them (hypothesis 6.170).
    @FEW
    @given(data=st.data())
    def check(data):
        spec = SPECS[name]
        kwargs = spec.valid()
        kind = spec.rules()[arg]
        assert not (isinstance(kind, (Tensor, Array)) and kwargs.get(arg) is None), f"spec {name}: give a valid {arg} to spoil"
        kwargs[arg] = bad_value(data.draw, kind, how, kwargs.get(arg))
        problem = None
        try:
            spec.target()(**kwargs)
        except (ValueError, TypeError) as exc:
            problem = judge(exc, f"{name}({arg}=<{how}>)", arg)
        except Exception as exc:  # noqa: BLE001 - any other error type is the failure we look for
            problem = f"{name}({arg}=<{how}>) raised {type(exc).__name__}, not ValueError/TypeError: {str(exc)[:300]}"
        else:
            problem = f"{name}({arg}=<{how}>) accepted a bad value: {kwargs[arg]!r:.200}"
        if problem:  # failed outside the except blocks, so no traceback of the call is kept alive
            pytest.fail(problem, pytrace=False)

    check()


def judge(exc: Exception, call: str, arg: str) -> str | None:
    """What is wrong with the error ``exc`` raised for a bad ``arg`` (None: nothing)."""
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    where = tb.tb_frame.f_code.co_filename
    if not where.startswith(NNBOOK_DIR):
        return f"{call} raised from {where}, not from nnbook: {type(exc).__name__}: {str(exc)[:300]}"
    if not re.search(rf"(?<![\w.]){re.escape(arg)}(?!\w)", str(exc)):
        return f"{call}: the message does not name {arg!r}: {str(exc)[:300]}"
    return None
