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


def test_seeded_repeats_inside_and_leaves_the_callers_stream_alone():
    from nnbook.utils import seeded

    torch.manual_seed(7)
    expected_next = torch.rand(3)
    torch.manual_seed(7)
    with seeded(5):
        a = torch.rand(4)
    with seeded(5):
        b = torch.rand(4)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected_next)
    with pytest.raises(ValueError, match="seed"):
        with seeded(-1):
            pass


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


def test_glue_works_without_myst_nb(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_myst_nb(name, *args, **kwargs):
        if name.startswith("myst_nb"):
            raise ImportError("no myst_nb here (as in Colab)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_myst_nb)
    assert nnbook.glue("answer", 42, display=False) is None
    with pytest.raises(ValueError, match="name"):
        nnbook.glue("not an identifier", 1)


@pytest.mark.parametrize("value, expected", [(np.float64(-0.5), -0.5), (np.int64(3), 3),
                                             (torch.tensor(0.25), 0.25), (0.851, 0.851)])
def test_glue_passes_plain_python_numbers(monkeypatch, value, expected):
    """myst-nb formats a glued value's repr: 'np.float64(0.851)' cannot take ':.2f'."""
    import myst_nb

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, v, display=True: seen.setdefault(name, v))
    nnbook.glue("x", value, display=False)
    assert type(seen["x"]) is type(expected) and seen["x"] == pytest.approx(expected)
    assert float(repr(seen["x"])) == pytest.approx(expected)


def test_no_chapter_imports_myst_nb():
    from chapters import chapter_sources

    for md in chapter_sources():
        assert "import myst_nb" not in md.read_text() and "from myst_nb" not in md.read_text(), (
            f"{md.name} imports myst_nb, which Colab lacks: use `from nnbook import glue`"
        )
