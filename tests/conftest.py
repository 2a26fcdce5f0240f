import os
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import pytest
import torch
from hypothesis import settings

# The same examples on every run and machine: a CI failure reproduces here, and what passes
# here passes in CI. `HYPOTHESIS_PROFILE=explore pytest ...` searches new examples.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# Folders of tests that need the built book (`make book`): `pytest tests` (`make test-lib`) skips
# them; they run only when asked for by path (`make test-browser`, `make test-editions`, `make test-build-zh`).
NEEDS_A_BUILD = [Path(__file__).resolve().parent / name for name in ("browser", "editions", "i18n")]


def _asked_for(folder: Path, config) -> bool:
    for arg in config.args:
        path = Path(str(arg).split("::")[0]).resolve()
        if path == folder or folder in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path).resolve()
    for folder in NEEDS_A_BUILD:
        if (path == folder or folder in path.parents) and not _asked_for(folder, config):
            return True
    return None


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests train tiny models, two xdist workers share two cores: one torch thread each
    avoids OpenMP contention (measured: 2-50x slower otherwise). Restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def argument_checks(monkeypatch):
    """``watch(module)`` counts every declared rule applied (``nnbook.validate.Rule``) and every ``check_*``
    function ``module`` calls directly, and returns ``per_run(run)``: the counts of ``run(1)`` and ``run(4)``
    (a training loop given 1 and 4 steps). A loop whose count grows with its steps re-checks its arguments
    inside the loop."""
    from nnbook.validate import Rule

    def watch(module):
        seen = []
        for owner, fn in [(Rule, "__call__")] + [(module, f) for f in dir(module) if f.startswith("check_")]:
            real = getattr(owner, fn)
            monkeypatch.setattr(owner, fn, lambda *a, _real=real, **k: (seen.append(a[:2]), _real(*a, **k))[1])

        def per_run(run) -> list[int]:
            counts = []
            for steps in (1, 4):
                seen.clear()
                run(steps)
                counts.append(len(seen))
            return counts

        return per_run

    return watch
