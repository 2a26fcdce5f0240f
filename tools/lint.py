"""`make lint`: the project's policies, each printed with its verdict (exit 1 on a violation).

These are rules about how the repository is set up, not tests of behaviour: they read files
and need neither the package nor a build, so they run in seconds, first in `make test`.

    python tools/lint.py
"""
from __future__ import annotations

import re
import sys
import tomllib

import nbformat
import yaml

from chapters import EDITION_BRANCH, LIB, ROOT, chapter_sources, notebook_for


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].strip().lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def environment_pins_are_the_dev_pins() -> list[str]:
    """environment.yml's pip pins are pyproject.toml's `dev` extra, exactly."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda = {p for p in pip if "==" in p}
    dev = set(_pyproject()["optional-dependencies"]["dev"])
    return ([f"environment.yml has {p}, pyproject's dev extra does not" for p in sorted(conda - dev)]
            + [f"pyproject's dev extra has {p}, environment.yml does not" for p in sorted(dev - conda)])


def runtime_takes_ranges_and_dev_pins_them() -> list[str]:
    """The package's dependencies (and its `teach` extra) are ranges (Colab brings its own torch and
    numpy); the `dev` extra pins each of them with ==."""
    project = _pyproject()
    dev = {_name(p): p for p in project["optional-dependencies"]["dev"]}
    problems = []
    for req in project["dependencies"] + project["optional-dependencies"]["teach"]:
        if "==" in req or ">=" not in req:
            problems.append(f"dependency {req!r} is not a range (>=)")
        if "==" not in dev.get(_name(req), ""):
            problems.append(f"dependency {_name(req)!r} is not pinned (==) in the dev extra")
    if "torch" not in {_name(r) for r in project["dependencies"]}:
        problems.append("torch is not a dependency of the package")
    return problems


def ci_runs_the_readme_test_command() -> list[str]:
    """.ci/run runs `make test`, the command the README gives for testing."""
    problems = []
    if not re.search(r"^make test\s*(#.*)?$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M):
        problems.append("README.md gives no `make test` command line")
    if not re.search(r"^\s*make test\s*$", (ROOT / ".ci" / "run").read_text(encoding="utf-8"), re.M):
        problems.append(".ci/run does not run `make test`")
    return problems


HAND_PLACED_DEVICE = re.compile(r"\.cuda\(|\.to\(\s*['\"]cuda|device\s*=\s*['\"]cuda")


def no_device_is_hard_coded() -> list[str]:
    """Chapters and nnbook run unchanged on CPU and GPU: the device comes from nnbook.get_device()."""
    problems = []
    for path in chapter_sources() + sorted(LIB.glob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if HAND_PLACED_DEVICE.search(line):
                problems.append(f"{path.relative_to(ROOT)}:{n} places a tensor on CUDA by hand: {line.strip()}")
    return problems


def every_chapter_seeds_in_a_code_cell() -> list[str]:
    """Each chapter calls nnbook.seed_everything(...) in a code cell that is not a solution."""
    problems = []
    for md in chapter_sources():
        nb = nbformat.read(notebook_for(md), as_version=4) if notebook_for(md).exists() else None
        code = "" if nb is None else "\n".join(
            c.source for c in nb.cells if c.cell_type == "code" and "solution" not in c.metadata.get("tags", []))
        if not re.search(r"\bseed_everything\(", code):
            problems.append(f"{md.relative_to(ROOT)}: no seed_everything(...) call in its code cells")
    return problems


def no_unseeded_generator_in_nnbook() -> list[str]:
    """nnbook makes no unseeded generator (`np.random.default_rng()`, `torch.Generator()` without manual_seed)."""
    problems = []
    for path in sorted(LIB.glob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"default_rng\(\s*\)", code) or (
                    re.search(r"torch\.Generator\([^)]*\)", code) and "manual_seed" not in code):
                problems.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return problems


def no_library_function_seeds_the_global_generators() -> list[str]:
    """No nnbook function reseeds the caller's global random state (`torch.manual_seed`, `np.random.seed`,
    `random.seed`): it takes a seed or generator and uses `nnbook.utils.seeded` or its own generator."""
    problems = []
    for path in sorted(LIB.glob("*.py")):
        if path.name == "utils.py":  # seed_everything is the one function whose job this is
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"(?<![\w.])(torch\.manual_seed|torch\.cuda\.manual_seed(_all)?|np\.random\.seed|random\.seed)\(",
                         line.split("#")[0]):
                problems.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return problems


def pages_workflow_publishes_the_badges_branch() -> list[str]:
    """The badges open blob/EDITION_BRANCH/...: the Pages workflow force-pushes that branch."""
    text = (ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8")
    if not re.search(rf"git push -f \S+ {re.escape(EDITION_BRANCH)}\s*$", text, re.M):
        return [f"pages.yml does not push the branch {EDITION_BRANCH!r} (chapters.EDITION_BRANCH) that the badges open"]
    return []


def chapter_cells_are_formatted_and_short() -> list[str]:
    """The chapters' code cells are as `ruff format` writes them (no `;` chains, no packed long lines) and at
    most 25 lines each (`python tools/format_cells.py` formats them and lists the long ones)."""
    import format_cells

    return [p for md in chapter_sources() for p in format_cells.format_chapter(md, check=True)]


def no_statement_chains_in_chapters() -> list[str]:
    """No chapter code line chains statements with `;` (a trailing `;` that hides a plot call's value is fine)."""
    import jupytext

    problems = []
    for md in chapter_sources():
        for cell in jupytext.read(md).cells:
            if cell.cell_type != "code":
                continue
            for line in cell.source.splitlines():
                code = re.sub(r"(\"[^\"]*\"|'[^']*')", "", line).split("#")[0]
                if re.search(r";\s*\S", code) and not code.lstrip().startswith(("%", "!")):
                    problems.append(f"{md.relative_to(ROOT)}: {line.strip()[:100]}")
    return problems


def exercise_cells_are_tagged() -> list[str]:
    """Every code cell of a coding exercise (between `{exercise-start}` and `{exercise-end}`) is tagged
    `exercise`, the cells a fast grading runs (`make notebooks` adds the tag)."""
    from chapters import tag_exercise_cells

    return [f"{md.relative_to(ROOT)}: an exercise's code cell is not tagged exercise (run make notebooks)"
            for md in chapter_sources() if tag_exercise_cells(md.read_text(encoding="utf-8")) != md.read_text(encoding="utf-8")]


POLICIES = [
    environment_pins_are_the_dev_pins,
    runtime_takes_ranges_and_dev_pins_them,
    ci_runs_the_readme_test_command,
    no_device_is_hard_coded,
    every_chapter_seeds_in_a_code_cell,
    no_unseeded_generator_in_nnbook,
    no_library_function_seeds_the_global_generators,
    pages_workflow_publishes_the_badges_branch,
    chapter_cells_are_formatted_and_short,
    no_statement_chains_in_chapters,
    exercise_cells_are_tagged,
]


def main() -> int:
    failed = 0
    for policy in POLICIES:
        problems = policy()
        summary = " ".join(policy.__doc__.split())
        print(f"{'ok  ' if not problems else 'FAIL'} {summary}")
        for p in problems:
            print(f"       {p}")
        failed += bool(problems)
    print(f"make lint: {len(POLICIES) - failed}/{len(POLICIES)} policies hold")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
