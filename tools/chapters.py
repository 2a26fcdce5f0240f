"""The chapters of the book and the links that point at the course's repository.

Used by `make notebooks` (tools/sync_chapters.py), `make timings` and the tests,
so that there is one definition of "a chapter", "its notebook", "its Colab
badge" and "its install cell".
"""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
NOTEBOOKS = ROOT / "notebooks"
LIB = ROOT / "lib" / "nnbook"

# The branch that holds the rendered notebook editions (the Pages workflow rewrites it on every push to main):
# the Colab edition at its root, the student edition under student/.
EDITION_BRANCH = "colab"
BADGE_RE = re.compile(r"\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\([^)]*\)")
INSTALL_RE = re.compile(r'%pip install -q "nnbook @ git\+[^"]*"')


def config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))


def repository() -> tuple[str, str, str]:
    """``(owner, name, branch)`` of the repository named in ``_config.yml``."""
    repo = config()["repository"]
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", repo["url"])
    if not m:
        raise ValueError(f"_config.yml repository.url must be https://github.com/OWNER/NAME, got {repo['url']!r}")
    return m.group(1), m.group(2), repo.get("branch", "main")


def chapter_sources() -> list[Path]:
    """Every book page that is a notebook (has a jupytext header), sorted."""
    return sorted(p for p in BOOK.rglob("*.md") if "jupytext:" in p.read_text(encoding="utf-8")[:400])


def notebook_for(md: Path) -> Path:
    return NOTEBOOKS / md.relative_to(BOOK).with_suffix(".ipynb")


def edition_path(md: Path) -> str:
    """Where chapter ``md`` lies in the Colab edition (and on its branch): ``part2_dynamic/05_dhnn.ipynb``."""
    return md.relative_to(BOOK).with_suffix(".ipynb").as_posix()


def badge(md: Path) -> str:
    """The chapter's Colab badge: it opens the rendered Colab edition, which the Pages workflow
    publishes on the repository's ``EDITION_BRANCH`` branch (``make colab`` renders it locally)."""
    owner, name, _ = repository()
    return (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        f"(https://colab.research.google.com/github/{owner}/{name}/blob/{EDITION_BRANCH}/{edition_path(md)})"
    )


def install_line() -> str:
    owner, name, branch = repository()
    return f'%pip install -q "nnbook @ git+https://github.com/{owner}/{name}@{branch}"'


def retarget(text: str, md: Path) -> str:
    """``text`` with its badge and install cell pointing at ``_config.yml``'s repository."""
    text = BADGE_RE.sub(lambda _: badge(md), text)
    return INSTALL_RE.sub(lambda _: install_line(), text)


def chapter_title_of(md: Path) -> str:
    """The chapter's ``# title`` line."""
    for line in md.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return md.stem


# ------------------------------------------------------------------ which nnbook modules a chapter uses
CHECK_NAME_RE = re.compile(r"""check\(\s*["']([a-z_]+)\.""")


def _imported(tree: ast.AST, package_modules: set[str]) -> set[str]:
    """The ``nnbook`` modules an AST imports (``nnbook`` itself counts as ``__init__``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "nnbook":
                    found.add("__init__")
                    if len(parts) > 1:
                        found.add(parts[1])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "nnbook":
            parts = node.module.split(".")
            found.add("__init__")
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from nnbook import hopfield, glue: modules by name, the rest comes from __init__
                found |= {a.name for a in node.names if a.name in package_modules}
    return found


@lru_cache(maxsize=None)
def _module_deps(lib: Path, name: str) -> frozenset[str]:
    modules = {p.stem for p in lib.glob("*.py")}
    tree = ast.parse((lib / f"{name}.py").read_text(encoding="utf-8"))
    return frozenset(_imported(tree, modules) & modules)


def nnbook_modules(md: Path, lib: Path = LIB) -> set[str]:
    """Every ``nnbook`` module chapter ``md`` runs: those its code imports (and the checkers its
    ``check("module.name", ...)`` calls use), and, transitively, those they import (from ``lib``)."""
    import jupytext

    modules = {p.stem for p in lib.glob("*.py")}
    wanted: set[str] = set()
    for cell in jupytext.read(md).cells:
        if cell.cell_type != "code":
            continue
        code = "\n".join(  # IPython magics and shell lines are not Python: a `pass` in their place
            line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines())
        wanted |= _imported(ast.parse(code), modules)
        wanted |= {m for m in CHECK_NAME_RE.findall(cell.source) if m in modules}
    todo, seen = set(wanted & modules), set()
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= set(_module_deps(lib, name)) - seen
    return seen


EXERCISE_TAG = "exercise"  # nnbook.teaching.EXERCISE_TAG: the cells a fast grading runs


def tag_exercise_cells(text: str) -> str:
    """``text`` (a chapter) with every code cell between ``{exercise-start}`` and ``{exercise-end}`` tagged
    ``exercise`` (added to its tags), so that a grader can run a submission's exercises without its experiments."""
    lines, out, inside = text.split("\n"), [], False
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        if line.startswith("```{exercise-start}"):
            inside = True
        elif line.startswith("```{exercise-end}"):
            inside = False
        elif inside and line.startswith("```{code-cell}"):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            m = re.match(r"^:tags:\s*\[(.*)\]\s*$", nxt)
            if m:
                tags = [x.strip() for x in m.group(1).split(",") if x.strip()]
                if EXERCISE_TAG not in tags:
                    lines[i + 1] = f":tags: [{', '.join(tags + [EXERCISE_TAG])}]"
            else:
                out.append(f":tags: [{EXERCISE_TAG}]")
        i += 1
    return "\n".join(out)
