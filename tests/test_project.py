"""Book-level checks: pairing, badges, install cells, table of contents, glossary, exercises, citations.

Rules about the set-up (pins, CI, devices, seeding, the Pages workflow) are in tools/lint.py (`make lint`)."""
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from chapters import BOOK, NOTEBOOKS, ROOT, badge, chapter_sources, install_line, notebook_for
import exercise_index
import glossary
import quiz_check

CHAPTERS = chapter_sources()
IDS = [md.relative_to(BOOK).as_posix() for md in CHAPTERS]


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc["parts"]:
        files += [c["file"] for c in part["chapters"]]
    return files


def test_there_are_chapters():
    assert len(CHAPTERS) >= 2


def test_every_notebook_has_its_source_and_every_source_its_notebook():
    expected = {notebook_for(md) for md in CHAPTERS}
    present = {p for p in NOTEBOOKS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert present == expected, "run `make notebooks` (orphans or missing pairs)"


def cell_view(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_pair_has_identical_cells(md):
    nb_path = notebook_for(md)
    assert nb_path.exists(), f"{nb_path} missing: run `make notebooks`"
    ipynb = nbformat.read(nb_path, as_version=4)
    assert cell_view(jupytext.read(md)) == cell_view(ipynb), f"{md.name} and its notebook differ: run `make notebooks`"
    assert all(not c.get("outputs") for c in ipynb.cells if c.cell_type == "code"), "notebooks are stored without outputs"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_badge_and_install_cell_point_at_config_repository(md):
    text = md.read_text(encoding="utf-8")
    assert text.count("colab-badge.svg") == 1 and badge(md) in text, f"{md.name}: badge stale, run `make notebooks`"
    first_code = next(c for c in jupytext.read(md).cells if c.cell_type == "code")
    assert install_line() in first_code.source, f"{md.name}: first code cell must install nnbook from _config.yml's URL"
    assert 'if "google.colab" in sys.modules:' in first_code.source


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    files = toc_files()
    for md in CHAPTERS:
        assert md.relative_to(ROOT).with_suffix("").as_posix() in files, f"{md} is not in _toc.yml"
    for f in files:
        assert (ROOT / f"{f}.md").exists(), f"_toc.yml names {f}, which does not exist"


def test_glossary_page_is_generated_from_the_chapters():
    page = (BOOK / "appendix" / "glossary.md").read_text(encoding="utf-8")
    assert page == glossary.render(), "glossary.md is stale: run `make notebooks`"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_glossary_term_has_english_and_chinese(md):
    terms = glossary.chapter_terms(md)
    assert terms, f"{md.name} has no Key terms glossary block"
    for en, zh in terms:
        assert re.search(r"[\u4e00-\u9fff]", zh), f"{md.name}: term {en!r} lacks its Chinese form (got {zh!r})"


EX_BLOCK = re.compile(r"```\{exercise-start\}.*?```\{exercise-end\}", re.S)
SOL_BLOCK = re.compile(r"```\{solution-start\}.*?```\{solution-end\}", re.S)


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_chapter_sums_up_with_glued_numbers_before_its_exercises(md):
    """A "Key takeaways (本章要点)" section of 5–8 bullets right before the exercises, quoting measured
    numbers through glue (the strict build checks that every glued name exists)."""
    text = md.read_text(encoding="utf-8")
    m = re.search(r"^## Key takeaways \(本章要点\)\n(.*?)^## ([^\n]*)$", text, re.M | re.S)
    assert m, f"{md.name}: no '## Key takeaways (本章要点)' section"
    assert m.group(2).strip() == "Self-check quiz (自测题)", \
        f"{md.name}: the takeaways are followed by {m.group(2)!r}, not the self-check quiz"
    after = re.search(r"^## Self-check quiz \(自测题\)\n.*?^## ([^\n]*)$", text, re.M | re.S)
    assert after and after.group(1).strip() == "Exercises", f"{md.name}: the quiz is not followed by the exercises"
    bullets = [line for line in m.group(1).splitlines() if line.startswith("- ")]
    assert 5 <= len(bullets) <= 8, f"{md.name}: {len(bullets)} takeaways (5–8 wanted)"
    assert len(re.findall(r"\{glue(?::\w+)?\}`", m.group(1))) >= 3, f"{md.name}: the takeaways glue fewer than 3 numbers"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_chapter_has_its_quiz(md):
    """The quiz file beside the chapter is well formed (one right answer per choice question, feedback on
    every answer, 6–10 questions, numeric answers tied to glued values), and the chapter shows it. That
    each numeric answer equals the value the chapter computes is checked after the build
    (tests/editions/test_quizzes.py)."""
    assert quiz_check.static_problems(md) == []


EXAM_POINT = re.compile(r"^::::\{admonition\} (?P<title>[^\n]*)\n:class: (?P<cls>[^\n]*)\n(?P<body>.*?)^::::$", re.M | re.S)
# The notes' exam points (考点, 易考点, 考试高频考点, 考点重点, 深度考点) and their comparison tables, each in the
# chapter that teaches it; a chapter may have more.
REQUIRED_EXAM_POINTS = {
    "02_mlp_backprop": ["the defects of BP and their fixes"],
    "03_rbf_em_vb": ["RBF network vs MLP", "RBF vs PRBF"],
    "04_lyapunov_chnn": ["static vs dynamic networks"],
    "05_dhnn": ["CHNN vs DHNN", "properties and limits of the DHNN"],
    "07_rnn_bptt": ["LSTM vs GRU"],
    "08_transformers": ["RNN vs Transformer", "GPT vs BERT", "the six components of a Transformer"],
    "09_large_models": ["strengths and limits of the Transformer"],
    "10_gnn": ["transductive vs inductive learning", "GCN, GAT, GraphSAGE and GGNN", "DeepWalk vs node2vec"],
    "11_generative_models": ["generative vs discriminative models", "explicit vs implicit density"],
    "12_boltzmann_rbm_dbn": ["the RBM and contrastive divergence"],
    "15_gans": ["the GAN variants"],
    "18_comparison": ["DBN, GAN, VAE and diffusion compared"],
}


def exam_points(md: Path) -> dict[str, str]:
    """``{title after "Exam point (考点): ": body}`` of the chapter's exam-point boxes."""
    return {m["title"].removeprefix("Exam point (考点): "): m["body"]
            for m in EXAM_POINT.finditer(md.read_text(encoding="utf-8")) if "exam-point" in m["cls"].split()}


def test_every_exam_point_of_the_notes_has_its_box():
    chapters = {md.stem: md for md in CHAPTERS}
    assert set(REQUIRED_EXAM_POINTS) <= set(chapters)
    missing = [f"{stem}: {title}" for stem, titles in REQUIRED_EXAM_POINTS.items()
               for title in titles if title not in exam_points(chapters[stem])]
    assert missing == []


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_exam_point_boxes_ask_a_question_and_fold_a_model_answer(md):
    text = md.read_text(encoding="utf-8")
    boxes = exam_points(md)
    assert boxes, f"{md.name}: no exam-point box"
    assert text.count(":class: exam-point") == len(boxes), f"{md.name}: an exam-point box is not in the house form"
    for title, body in boxes.items():
        assert re.search(r"^\*\*Question\.\*\* \S", body, re.M), f"{md.name}: {title}: no '**Question.**'"
        answer = re.search(r"^:::\{admonition\} Model answer\n:class: dropdown exam-answer\n(.*?)^:::$", body, re.M | re.S)
        assert answer and answer.group(1).strip(), f"{md.name}: {title}: no folded model answer"
        assert body.split("**Question.**")[0].strip(), f"{md.name}: {title}: says nothing before its question"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_every_chapter_has_enough_exercises(md):
    text = md.read_text(encoding="utf-8")
    coding = [b for b in EX_BLOCK.findall(text) if re.search(r'check\("[\w.]+"', b)]
    conceptual = re.findall(r"```\{exercise\}", text)
    assert len(coding) >= 2, f"{md.name}: needs >= 2 coding exercises with a checker"
    assert len(coding) + len(conceptual) >= 4, f"{md.name}: needs >= 4 exercises"
    assert len(SOL_BLOCK.findall(text)) >= len(coding), f"{md.name}: every coding exercise needs a solution"
    for block in SOL_BLOCK.findall(text):
        for cell in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", block, re.S):
            assert re.search(r":tags: \[.*solution.*\]", cell), f"{md.name}: a solution code cell is not tagged `solution`"


def test_every_citation_resolves():
    bib = (ROOT / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    for md in BOOK.rglob("*.md"):
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", md.read_text(encoding="utf-8")):
            for key in group.split(","):
                assert key.strip() in keys, f"{md.name} cites {key!r}, which is not in references.bib"


def test_exercise_index_is_generated_from_the_chapters():
    page = exercise_index.INDEX_PAGE.read_text(encoding="utf-8")
    assert page == exercise_index.render(), "book/part0/exercise_index.md is stale: run `make notebooks`"
    for md in CHAPTERS:
        kinds = [k for k, _, _ in exercise_index.chapter_exercises(md)]
        assert kinds.count("coding") >= 2 and len(kinds) >= 4, f"{md.name}: the index sees too few exercises"


def test_every_term_is_defined_once_and_listed_with_its_chinese_and_chapter():
    page = (BOOK / "appendix" / "glossary.md").read_text(encoding="utf-8")
    seen, others = {}, glossary.notes_names()
    for md in CHAPTERS:
        doc = "/" + md.relative_to(ROOT).with_suffix("").as_posix()
        for en, zh in glossary.chapter_terms(md):
            assert en.lower() not in seen, f"{en!r} is defined in {seen.get(en.lower())} and again in {md.name}"
            seen[en.lower()] = md.name
            also = f" (notes: {'、'.join(others[en])})" if en in others else ""  # the lecture notes' other names
            assert f"| {{term}}`{en}` | {zh}{also} | " in page and f"<{doc}>`" in page, f"{en!r} missing from the glossary page"


@pytest.mark.parametrize("md", CHAPTERS, ids=IDS)
def test_display_math_stands_apart_from_text(md):
    """`$$` glued to a line of text makes MyST pair the dollars wrongly: the formula shows as raw TeX."""
    lines = md.read_text(encoding="utf-8").split("\n")
    opening, in_code = True, False
    for n, ln in enumerate(lines):
        s = ln.strip()
        if s.startswith("```{code-cell") or (s == "```" and in_code):
            in_code = not in_code
        if in_code or s != "$$":
            continue
        other = lines[n - 1] if opening else (lines[n + 1] if n + 1 < len(lines) else "")
        fine = not other.strip() or other.strip().startswith((":::", "```", ":label:"))
        assert fine, f"{md.name}:{n + 1}: put a blank line {'before' if opening else 'after'} this `$$`"
        opening = not opening
