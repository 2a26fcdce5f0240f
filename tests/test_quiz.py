"""nnbook.quiz (the self-check quizzes) and tools/quiz_check.py (the chapters' quiz files)."""
import copy
import json
import sys
from pathlib import Path

import pytest

from nnbook import quiz

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import quiz_check  # noqa: E402

CHOICE = {"question": "Which?", "type": "choice",
          "answers": [{"answer": "a", "correct": True, "feedback": "right, because"},
                      {"answer": "b", "correct": False, "feedback": "wrong, because"}]}
NUMERIC = {"question": "How many?", "type": "numeric", "value": 12.0, "tolerance": 0.5, "glue": "n",
           "feedback": "yes", "hint": "count again"}


def test_a_well_formed_quiz_is_returned_as_it_is():
    assert quiz.check_questions([CHOICE, NUMERIC]) == [CHOICE, NUMERIC]


@pytest.mark.parametrize("change, message", [
    (lambda q: q["answers"][1].update(correct=True), "exactly one correct answer, has 2"),
    (lambda q: q["answers"][0].update(correct=False), "exactly one correct answer, has 0"),
    (lambda q: q["answers"][1].pop("feedback"), "answer 2 has no 'feedback'"),
    (lambda q: q["answers"].pop(), "at least two 'answers'"),
    (lambda q: q.update(type="essay"), "type must be one of"),
    (lambda q: q.update(question=" "), "no 'question' text"),
    (lambda q: q["answers"][1].update(correct="yes"), "'correct' must be true or false"),
])
def test_a_malformed_choice_question_is_named(change, message):
    bad = copy.deepcopy(CHOICE)
    change(bad)
    with pytest.raises(ValueError, match=f"quiz, question 2: .*{message}"):
        quiz.check_questions([NUMERIC, bad])


@pytest.mark.parametrize("change, message", [
    ({"value": float("nan")}, "'value' must be a finite number"),
    ({"value": "12"}, "'value' must be a finite number"),
    ({"tolerance": 0}, "'tolerance' must be a number > 0"),
    ({"hint": ""}, "needs a 'hint'"),
])
def test_a_malformed_numeric_question_is_named(change, message):
    with pytest.raises(ValueError, match=f"question 1: .*{message}"):
        quiz.check_questions([{**NUMERIC, **change}])


def test_load_reads_a_file_and_names_bad_json(tmp_path):
    good = tmp_path / "x.quiz.json"
    good.write_text(json.dumps([CHOICE]), encoding="utf-8")
    assert quiz.load(good) == [CHOICE]
    bad = tmp_path / "y.quiz.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(ValueError, match="source: y.quiz.json is not valid JSON"):
        quiz.load(bad)
    with pytest.raises(FileNotFoundError, match="source: no quiz file"):
        quiz.load(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="source must be"):
        quiz.load(3)


def test_load_finds_the_file_beside_the_chapter_from_the_paired_notebook(tmp_path, monkeypatch):
    (tmp_path / "book" / "part1").mkdir(parents=True)
    (tmp_path / "notebooks" / "part1").mkdir(parents=True)
    (tmp_path / "book" / "part1" / "c.quiz.json").write_text(json.dumps([CHOICE]), encoding="utf-8")
    monkeypatch.chdir(tmp_path / "notebooks" / "part1")
    assert quiz.load("c.quiz.json") == [CHOICE]


def test_jupyterquiz_form_accepts_exactly_the_tolerance_band():
    choice, numeric = quiz.to_jupyterquiz([CHOICE, NUMERIC])
    assert choice["type"] == "multiple_choice" and [a["correct"] for a in choice["answers"]] == [True, False]
    right, default = numeric["answers"]
    assert right == {"type": "range", "range": [11.5, 12.5], "correct": True, "feedback": "yes"}
    assert default == {"type": "default", "feedback": "count again"}


def test_plain_text_lists_questions_and_choices_but_not_the_answers():
    text = quiz.as_text([CHOICE, NUMERIC])
    assert "1. Which?" in text and "(a) a" in text and "(b) b" in text and "2. How many?" in text
    assert "right, because" not in text and "12" not in text


def test_show_draws_one_output_with_html_script_and_text():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()  # display() publishes outputs as in a kernel

    with capture_output() as captured:
        quiz.show([CHOICE, NUMERIC])
    (out,) = captured.outputs
    html = out.data["text/html"]
    assert 'class="nnbook-quiz"' in html and "<script>" in html and "show_questions" in html
    assert '"feedback": "wrong, because"' in html  # the questions travel with the page: no kernel needed
    assert out.data["text/plain"] == quiz.as_text([CHOICE, NUMERIC])
    with pytest.raises(ValueError, match="max_width must be a positive int"):
        quiz.show([CHOICE], max_width=0)


@pytest.mark.parametrize("text, number", [("12", 12.0), ("0.138", 0.138), ("'96.7'", 96.7), ("-3e-05", -3e-05),
                                          ("np.float64(2.5)", 2.5), ("1,250", 1250.0), ("'abc'", None)])
def test_glued_number_reads_what_the_page_shows(text, number):
    assert quiz_check.glued_number(text) == number


def test_numeric_answers_are_compared_with_the_glued_values(monkeypatch, tmp_path):
    md = ROOT / "book" / "part1_static" / "01_principles.md"
    questions = [{**NUMERIC, "value": 12.0, "tolerance": 0.5, "glue": "n"}]
    monkeypatch.setattr(quiz_check.quiz, "load", lambda path: questions)
    for glued, ok in [("12.2", True), ("12.3", False), ("'x'", False)]:
        monkeypatch.setattr(quiz_check.editions, "glue_values", lambda md, g=glued: {"n": g})
        assert (quiz_check.numeric_problems(md) == []) is ok, glued
    monkeypatch.setattr(quiz_check.editions, "glue_values", lambda md: {})
    assert "glues no value named 'n'" in quiz_check.numeric_problems(md)[0]


def test_text_reaches_the_page_as_text_not_html():
    question = {**CHOICE, "question": "Is $x_{<d}$ < 1 & > 0?"}
    (out,) = quiz.to_jupyterquiz([question])
    assert out["question"] == "Is $x_{&lt;d}$ &lt; 1 &amp; &gt; 0?"


ZH = {"Which?": "哪一个？", "a": "甲", "b": "乙", "right, because": "对，因为", "wrong, because": "错，因为",
      "How many?": "多少个？", "yes": "是", "count again": "再数一遍"}


def test_markdown_bold_which_the_quiz_would_show_raw_is_refused():
    with pytest.raises(ValueError, match="question 1: has Markdown bold"):
        quiz.check_questions([{**CHOICE, "question": "With **synchronous** updates?"}])


def test_translation_replaces_every_text_and_keeps_numbers_and_answers():
    assert quiz.texts([CHOICE, NUMERIC]) == ["Which?", "a", "right, because", "b", "wrong, because", "How many?",
                                             "yes", "count again"]
    zh = quiz.translate([CHOICE, NUMERIC], ZH)
    assert zh[0]["question"] == "哪一个？" and [a["answer"] for a in zh[0]["answers"]] == ["甲", "乙"]
    assert [a["correct"] for a in zh[0]["answers"]] == [True, False]
    assert {k: zh[1][k] for k in ("value", "tolerance", "glue", "hint")} == {"value": 12.0, "tolerance": 0.5,
                                                                              "glue": "n", "hint": "再数一遍"}
    assert CHOICE["question"] == "Which?"  # the English questions are left as they were
    with pytest.raises(ValueError, match="translations: 1 text.*'count again'"):
        quiz.translate([CHOICE, NUMERIC], {k: v for k, v in ZH.items() if k != "count again"})
    with pytest.raises(TypeError, match="translations must be a mapping"):
        quiz.translate([CHOICE], ["甲"])


def test_a_drawn_quiz_gets_the_translated_questions():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    with capture_output() as captured:
        quiz.show([CHOICE, NUMERIC])
    html = captured.outputs[0].data["text/html"]
    zh = quiz.with_questions(html, quiz.translate([CHOICE, NUMERIC], ZH))
    assert '"feedback": "wrong, because"' not in zh and json.dumps("错，因为") in zh
    assert zh.replace(json.dumps(quiz.to_jupyterquiz(quiz.translate([CHOICE, NUMERIC], ZH))), "") == \
        html.replace(json.dumps(quiz.to_jupyterquiz([CHOICE, NUMERIC])), "")  # only the questions changed
    with pytest.raises(ValueError, match="quiz_html: expected one quiz"):
        quiz.with_questions("<div>no quiz</div>", [CHOICE])
    assert "Type numeric answer here:" in html and "Type numeric answer here:" in zh  # jupyterquiz's words stay…
    zh_words = quiz.with_questions(html, quiz.translate([CHOICE, NUMERIC], ZH), lang="zh")
    assert "Type numeric answer here:" not in zh_words and json.dumps("在此输入数值答案：") in zh_words  # …unless asked
    with pytest.raises(ValueError, match="lang must be one of"):
        quiz.with_questions(html, [CHOICE], lang="fr")
