import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nnbook.validate import check_array, check_choice, check_float, check_int, check_tensor


def test_check_int_accepts_and_rejects():
    assert check_int("n", np.int64(3), min_value=1) == 3
    with pytest.raises(TypeError, match="n must be an integer"):
        check_int("n", 2.5)
    with pytest.raises(TypeError, match="n must be an integer"):
        check_int("n", True)
    with pytest.raises(ValueError, match="n must be >= 1"):
        check_int("n", 0, min_value=1)
    with pytest.raises(ValueError, match="n must be <= 3"):
        check_int("n", 4, max_value=3)


@given(st.floats(allow_nan=True, allow_infinity=True))
@settings(max_examples=50, deadline=None)
def test_check_float_never_lets_nonfinite_through(x):
    if np.isfinite(x):
        assert check_float("lr", x) == x
    else:
        with pytest.raises(ValueError, match="lr must be finite"):
            check_float("lr", x)


def test_check_float_bounds():
    assert check_float("p", 0.0, min_value=0.0) == 0.0
    with pytest.raises(ValueError, match="p must be > 0"):
        check_float("p", 0.0, min_value=0.0, min_inclusive=False)
    with pytest.raises(TypeError, match="p must be a real number"):
        check_float("p", "0.1")


def test_check_choice():
    assert check_choice("act", "relu", ["relu", "tanh"]) == "relu"
    with pytest.raises(ValueError, match="act must be one of"):
        check_choice("act", "gelu", ["relu", "tanh"])


def test_check_array_rank_shape_nan_empty():
    assert check_array("X", [[1, 2], [3, 4]], ndim=2).shape == (2, 2)
    with pytest.raises(ValueError, match="X must have 2 dimensions"):
        check_array("X", [1, 2, 3], ndim=2)
    with pytest.raises(ValueError, match="X must have shape"):
        check_array("X", np.zeros((2, 3)), shape=(None, 2))
    with pytest.raises(ValueError, match="X must contain only finite"):
        check_array("X", [1.0, np.nan])
    with pytest.raises(ValueError, match="X must not be empty"):
        check_array("X", [])
    with pytest.raises(TypeError, match="X must be array-like"):
        check_array("X", "abc")
    with pytest.raises(TypeError, match="X must be array-like"):
        check_array("X", [[1, 2], [3]])


def test_check_tensor_converts_and_checks():
    t = check_tensor("x", [[1.0, 2.0]], ndim=2)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.get_default_dtype()
    with pytest.raises(ValueError, match="x must contain only finite"):
        check_tensor("x", torch.tensor([float("inf")]))
    with pytest.raises(ValueError, match="x must have 1 dimensions"):
        check_tensor("x", torch.zeros(2, 2), ndim=1)
    assert check_tensor("x", torch.tensor([1, 2]), dtype=torch.float32).dtype == torch.float32
