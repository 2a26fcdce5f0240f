"""The declared-rules mechanism of `nnbook.validate`: `@checked(...)` and the rule classes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nnbook.validate import (COUNT, POSITIVE, Array, Float, FloatTensor, Function, Instance, Int, OneOf, Tensor,
                             Widths, checked)


@checked(X=Tensor(ndim=2), lr=POSITIVE, steps=COUNT, mode=OneOf(("a", "b")), width=Float(0, optional=True))
def _fit(X, lr=0.1, steps=3, mode="a", width=None):
    return X, lr, steps, mode, width


def test_good_arguments_are_converted_and_passed_through():
    X, lr, steps, mode, width = _fit([[1.0, 2], [3, 4]], lr=1, steps=np.int64(2), mode="b", width=None)
    assert isinstance(X, torch.Tensor) and X.dtype == torch.get_default_dtype()
    assert (lr, steps, mode, width) == (1.0, 2, "b", None)
    assert type(lr) is float and type(steps) is int


@pytest.mark.parametrize("kwargs, arg", [
    (dict(X=[1.0, 2.0]), "X"),
    (dict(X=torch.ones(2, 2), lr=0.0), "lr"),
    (dict(X=torch.ones(2, 2), lr=float("nan")), "lr"),
    (dict(X=torch.ones(2, 2), steps=0), "steps"),
    (dict(X=torch.ones(2, 2), steps=True), "steps"),
    (dict(X=torch.ones(2, 2), mode="c"), "mode"),
    (dict(X=torch.ones(2, 2), width=-1.0), "width"),
])
def test_a_bad_argument_is_named(kwargs, arg):
    with pytest.raises((TypeError, ValueError), match=rf"\b{arg}\b"):
        _fit(**kwargs)


def test_positional_arguments_are_checked_too():
    with pytest.raises(ValueError, match="lr"):
        _fit(torch.ones(2, 2), -1.0)


def test_a_call_that_does_not_fit_the_signature_names_the_function():
    with pytest.raises(TypeError, match=r"_fit\(\).*X"):
        _fit()


def test_defaults_are_trusted_and_unchecked_is_the_bare_function():
    calls = []

    @checked(n=COUNT)
    def f(n=0):  # a default outside the rule is not checked
        calls.append(n)
        return n

    assert f() == 0
    assert f.unchecked(-5) == -5  # no check
    with pytest.raises(ValueError, match="n must be >= 1"):
        f(0)
    assert dict(f.rules) == {"n": COUNT} and calls == [0, -5]


def test_methods_and_constructors():
    class Model:
        @checked(width=POSITIVE)
        def __init__(self, width):
            self.width = width

        @checked(x=Array(ndim=1))
        def score(self, x):
            return x.sum() * self.width

    assert Model(2).score([1, 2]) == 6.0
    with pytest.raises(ValueError, match="width"):
        Model(0)
    with pytest.raises(ValueError, match="x must have 1 dimensions"):
        Model(1).score([[1.0]])


def test_a_declaration_naming_a_missing_argument_or_not_a_rule_fails_at_definition():
    with pytest.raises(TypeError, match="no argument y"):
        checked(y=COUNT)(lambda x: x)
    with pytest.raises(TypeError, match="rule for 'x'"):
        checked(x=int)


def test_rule_kinds():
    assert Int(0, 3)("k", 3) == 3
    with pytest.raises(ValueError, match="k must be <= 3"):
        Int(0, 3)("k", 4)
    with pytest.raises(ValueError, match="p must be < 1"):
        Float(0, 1, hi_open=True)("p", 1.0)
    with pytest.raises(TypeError, match="f must be callable"):
        Function()("f", 3)
    assert Function(optional=True)("f", None) is None
    with pytest.raises(ValueError, match="empty"):
        Tensor()("t", torch.ones(0))
    assert Tensor(allow_empty=True)("t", torch.ones(0)).numel() == 0
    assert Array(dtype=None)("a", [1, 2]).dtype.kind == "i"
    assert Instance(dict)("d", {}) == {}
    with pytest.raises(TypeError, match="d must be a dict or list, got int"):
        Instance((dict, list))("d", 3)
    assert Widths()("sizes", (4, np.int64(3))) == [4, 3]
    with pytest.raises(TypeError, match="sizes must be a list or tuple"):
        Widths()("sizes", "43")
    with pytest.raises(ValueError, match="sizes must hold at least 2"):
        Widths()("sizes", [4])
    with pytest.raises(ValueError, match=r"sizes\[1\] must be >= 1"):
        Widths()("sizes", [4, 0])
    assert FloatTensor()("x", [[1, 2]]).dtype == torch.get_default_dtype()
    assert FloatTensor()("x", torch.ones(2, dtype=torch.float64)).dtype == torch.float64
