"""The Colab-situation check flags files written outside a notebook's own folder."""
from pathlib import Path

import colab_check


def _sandbox(tmp_path: Path):
    folders = [tmp_path / "notebooks" / "part1" / "01_a", tmp_path / "notebooks" / "part1" / "02_b"]
    for f in folders:
        f.mkdir(parents=True)
        (f / (f.name + ".ipynb")).write_text("{}")
    (tmp_path / "home").mkdir()
    return folders, colab_check.snapshot(tmp_path)


def test_writes_in_own_folder_and_tool_caches_are_allowed(tmp_path):
    folders, before = _sandbox(tmp_path)
    (folders[0] / "figure.png").write_bytes(b"png")
    (tmp_path / "home" / ".cache" / "matplotlib").mkdir(parents=True)
    (tmp_path / "home" / ".cache" / "matplotlib" / "fontlist.json").write_text("{}")
    assert colab_check.stray_writes(tmp_path, before, folders) == []


def test_writes_elsewhere_are_reported(tmp_path):
    folders, before = _sandbox(tmp_path)
    (folders[0].parent / "stray.txt").write_text("x")                 # next to the notebooks
    (tmp_path / "home" / "results.csv").write_text("x")               # into HOME
    (folders[1] / "02_b.ipynb").write_text('{"changed": 1}')           # another notebook's file: its own folder, allowed
    stray = colab_check.stray_writes(tmp_path, before, folders)
    assert sorted(stray) == ["home/results.csv", "notebooks/part1/stray.txt"]


def test_constraints_are_the_dev_pins():
    """Read independently with packaging: each pin of the dev extra, under its normalised name."""
    import tomllib

    from packaging.requirements import Requirement

    dev = tomllib.loads((colab_check.ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]["dev"]
    expected = {Requirement(p).name.lower(): p for p in dev if str(Requirement(p).specifier).startswith("==")}
    assert colab_check.dev_pins() == expected and "torch" in expected
