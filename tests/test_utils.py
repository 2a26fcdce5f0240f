import random

import numpy as np
import pytest
import torch

import nnbook


def test_seed_everything_makes_all_three_generators_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    nnbook.seed_everything(123)
    a = draw()
    nnbook.seed_everything(123)
    assert draw() == a
    nnbook.seed_everything(124)
    assert draw() != a


def test_seed_rejects_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        nnbook.seed_everything(-1)
    with pytest.raises(TypeError, match="seed"):
        nnbook.seed_everything("1")


def test_get_device():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert nnbook.get_device().type == expected
    assert nnbook.get_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="prefer"):
        nnbook.get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            nnbook.get_device("cuda")
