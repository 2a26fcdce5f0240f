"""tools/build_chapter.py: a private build of some chapters ignores only links to pages left out of it."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from build_chapter import points_outside  # noqa: E402

CH1 = ["book/part1_static/01_principles"]


def _renderer(md: str):
    """The editions renderer of chapter ``md`` without a built page (only its link handling is tested)."""
    import editions

    renderer = object.__new__(editions.PageRenderer)
    renderer.md = editions.ROOT / md
    return renderer


def _soup(html: str):
    from bs4 import BeautifulSoup

    return BeautifulSoup(html, "html.parser")
W = "/work/book/part1_static/01_principles.md:585: WARNING: unknown document: '{}'"


def test_a_link_to_a_chapter_left_out_of_the_build_is_not_the_chapters_fault():
    assert points_outside(W.format("02_mlp_backprop"), CH1)
    assert points_outside(W.format("/book/part3_deep/06_cnn"), CH1)
    assert points_outside(W.format("../part2_dynamic/05_dhnn"), CH1)


def test_a_link_to_a_missing_page_or_another_warning_still_counts():
    assert not points_outside(W.format("02_no_such_chapter"), CH1)
    assert not points_outside("/work/book/part1_static/01_principles.md:3: WARNING: undefined label: 'x'", CH1)


def test_the_editions_of_a_partial_build_link_chapters_left_out_to_their_pages():
    renderer = _renderer("book/part1_static/01_principles.md")
    soup = _soup('<p>see <span class="xref std std-doc">02_mlp_backprop</span> and '
                 '<span class="xref std std-doc">02_none</span></p>')
    good, bad = soup.select("span.xref")
    assert renderer._link_to_chapter_outside(good, soup)
    link = soup.find("a")
    assert link["href"] == "02_mlp_backprop.html" and link.get_text().startswith("MLP and back-propagation")
    assert not renderer._link_to_chapter_outside(bad, soup)


def test_a_term_defined_in_a_chapter_left_out_is_not_the_chapters_fault():
    ch17 = ["book/part4_generative/17_diffusion"]
    w = "/work/book/part4_generative/17_diffusion.md:221: WARNING: term not in glossary: '{}'"
    assert points_outside(w.format("Boltzmann machine"), ch17)  # defined in chapter 12
    assert not points_outside(w.format("No such term"), ch17)
    assert not points_outside(w.format("Boltzmann machine"), ["book/part4_generative/12_boltzmann_rbm_dbn"])


def test_the_editions_of_a_partial_build_link_terms_left_out_to_the_glossary():
    renderer = _renderer("book/part4_generative/17_diffusion.md")
    soup = _soup('<p><span class="xref std std-term">Boltzmann machine</span> '
                 '<span class="xref std std-term">no such term</span></p>')
    good, bad = soup.select("span.xref")
    assert renderer._link_to_chapter_outside(good, soup)
    assert soup.find("a")["href"] == "../appendix/glossary.html"
    assert not renderer._link_to_chapter_outside(bad, soup)


def test_the_private_build_drops_stale_executions_before_and_records_after(monkeypatch, capsys):
    import subprocess

    import build_chapter

    calls = []
    monkeypatch.setattr(build_chapter.cache_guard, "drop", lambda cache: calls.append(("drop", cache.name)))
    monkeypatch.setattr(build_chapter.cache_guard, "record", lambda cache: calls.append(("record", cache.name)))

    def fake_build(cmd, **kwargs):
        calls.append(("build", cmd[1]))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(build_chapter.subprocess, "run", fake_build)
    assert build_chapter.main(["book/part1_static/01_principles.md"]) == 0
    assert calls == [("drop", ".jupyter_cache"), ("build", "build"), ("record", ".jupyter_cache")]


def test_a_titled_link_to_a_chapter_left_out_keeps_its_title():
    renderer = _renderer("book/part4_generative/12_boltzmann_rbm_dbn.md")
    assert "{doc}`chapter 11 <11_generative_models>`" in renderer.md.read_text(encoding="utf-8")
    soup = _soup('<p><span class="xref std std-doc">chapter 11</span></p>')
    assert renderer._link_to_chapter_outside(soup.select_one("span.xref"), soup)
    link = soup.find("a")
    assert link["href"] == "11_generative_models.html" and link.get_text() == "chapter 11"
