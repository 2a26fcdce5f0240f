"""Self-check quizzes: each chapter's questions live in a JSON file beside it, shown with jupyterquiz.

A quiz file (``book/<part>/<chapter>.quiz.json``) is a list of questions of two kinds::

    {"question": "…", "type": "choice",
     "answers": [{"answer": "…", "correct": true,  "feedback": "why it is right"},
                 {"answer": "…", "correct": false, "feedback": "why it is wrong"}]}

    {"question": "…", "type": "numeric", "value": 0.138, "tolerance": 0.005,
     "glue": "dhnn-capacity",            # the chapter's glued value this answer must equal
     "feedback": "shown for a right answer", "hint": "shown for a wrong one"}

:func:`show` draws the quiz in a notebook (and on the static website: its JavaScript travels inside
the output, so no kernel and no network are needed); its plain-text form is what a terminal or the
PDF shows. :func:`check_questions` enforces the rules above with messages that name the question.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

__all__ = ["load", "check_questions", "to_jupyterquiz", "as_text", "show", "texts", "translate", "with_questions"]

KINDS = ("choice", "numeric")
# the words jupyterquiz itself shows (the rest is the questions' own text), in each language of the book
LABELS = {"en": {}, "zh": {"Type numeric answer here:": "在此输入数值答案："}}


def _check_lang(lang) -> None:
    if lang not in LABELS:
        raise ValueError(f"lang must be one of {sorted(LABELS)}, got {lang!r}")


def _localised(script: str, lang: str) -> str:
    for english, translated in LABELS[lang].items():
        script = script.replace(json.dumps(english), json.dumps(translated))
    return script


def _fail(where: str, message: str):
    raise ValueError(f"{where}: {message}")


def check_questions(questions, name: str = "quiz") -> list[dict]:
    """Return ``questions`` if every question is well formed; otherwise raise ValueError naming it.

    A choice question has at least two answers, exactly one of them correct, and feedback on each;
    a numeric one has a finite ``value``, a ``tolerance`` > 0, feedback and a hint.
    """
    if not isinstance(questions, list) or not questions:
        _fail(name, f"questions must be a non-empty list, got {type(questions).__name__}")
    for i, q in enumerate(questions, 1):
        where = f"{name}, question {i}"
        if not isinstance(q, dict):
            _fail(where, f"must be an object, got {type(q).__name__}")
        if not str(q.get("question", "")).strip():
            _fail(where, "has no 'question' text")
        kind = q.get("type")
        if kind not in KINDS:
            _fail(where, f"type must be one of {KINDS}, got {kind!r}")
        if kind == "choice":
            answers = q.get("answers")
            if not isinstance(answers, list) or len(answers) < 2:
                _fail(where, "a choice question needs a list of at least two 'answers'")
            right = [a for a in answers if isinstance(a, dict) and a.get("correct") is True]
            if len(right) != 1:
                _fail(where, f"must have exactly one correct answer, has {len(right)}")
            for j, a in enumerate(answers, 1):
                if not isinstance(a, dict) or not str(a.get("answer", "")).strip():
                    _fail(where, f"answer {j} has no 'answer' text")
                if not isinstance(a.get("correct"), bool):
                    _fail(where, f"answer {j}: 'correct' must be true or false")
                if not str(a.get("feedback", "")).strip():
                    _fail(where, f"answer {j} has no 'feedback' (say why it is right or wrong)")
        else:
            value, tol = q.get("value"), q.get("tolerance")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value \
                    or abs(value) == float("inf"):
                _fail(where, f"'value' must be a finite number, got {value!r}")
            if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol > 0:
                _fail(where, f"'tolerance' must be a number > 0, got {tol!r}")
            for key in ("feedback", "hint"):
                if not str(q.get(key, "")).strip():
                    _fail(where, f"a numeric question needs a '{key}'")
        shown = [q["question"], q.get("feedback", ""), q.get("hint", "")]
        shown += [f"{a.get('answer', '')} {a.get('feedback', '')}" for a in q.get("answers", [])]
        if any("**" in str(text) or "__" in str(text) for text in shown):
            _fail(where, "has Markdown bold (** or __), which the quiz would show as it is: write plain text")
    return questions


def texts(questions) -> list[str]:
    """The texts of ``questions`` that a translation replaces (questions, answers, feedback, hints), each once,
    in the order they appear."""
    seen: dict[str, None] = {}
    for q in check_questions(questions):
        seen[q["question"]] = None
        for a in q.get("answers", []):
            seen[a["answer"]] = seen[a["feedback"]] = None
        for key in ("feedback", "hint"):
            if key in q:
                seen[q[key]] = None
    return list(seen)


def translate(questions, translations) -> list[dict]:
    """A copy of ``questions`` with each text replaced by ``translations[text]`` (a mapping); numbers, answers'
    correctness and glue names stay. ValueError naming the texts that have no translation."""
    if not hasattr(translations, "get"):
        raise TypeError(f"translations must be a mapping of text to translation, got {type(translations).__name__}")
    lacking = [t for t in texts(questions) if not translations.get(t)]
    if lacking:
        raise ValueError(f"translations: {len(lacking)} text(s) of the quiz have none, the first: {lacking[0][:80]!r}")
    out = []
    for q in questions:
        q = {k: (translations[v] if k in ("question", "feedback", "hint") else v) for k, v in q.items()}
        if "answers" in q:
            q["answers"] = [{**a, "answer": translations[a["answer"]], "feedback": translations[a["feedback"]]}
                            for a in q["answers"]]
        out.append(q)
    return check_questions(out)


_EMBEDDED_RE = re.compile(r"(var questions\w+=)(\[.*?\]);\n\nif \(typeof Question", re.S)


def with_questions(quiz_html: str, questions, lang: str = "en") -> str:
    """The HTML that :func:`show` drew, with ``questions`` (e.g. a translation) in place of those embedded in it,
    and jupyterquiz's own words in ``lang``."""
    _check_lang(lang)
    found = _EMBEDDED_RE.findall(quiz_html)
    if len(found) != 1:
        raise ValueError(f"quiz_html: expected one quiz drawn by quiz.show, found {len(found)}")
    new = json.dumps(to_jupyterquiz(questions))
    return _localised(_EMBEDDED_RE.sub(lambda m: m.group(1) + new + ";\n\nif (typeof Question", quiz_html), lang)


def _find(path: Path) -> Path:
    """``path``, or for a bare file name run from ``notebooks/<part>/`` of a clone, ``book/<part>/<name>``."""
    if path.is_absolute() or path.exists():
        return path
    cwd = Path.cwd()
    for base in cwd.parents:
        candidate = base / "book" / cwd.name / path
        if candidate.is_file():
            return candidate
    return path


def load(source) -> list[dict]:
    """The questions of ``source``: a quiz file's path, or the list itself; checked."""
    if isinstance(source, (str, Path)):
        path = _find(Path(source))
        if not path.is_file():
            raise FileNotFoundError(f"source: no quiz file at {path.resolve()}")
        try:
            questions = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"source: {path.name} is not valid JSON ({err})") from None
        return check_questions(questions, path.name)
    if isinstance(source, list):
        return check_questions(source)
    raise TypeError(f"source must be a quiz file's path or a list of questions, got {type(source).__name__}")


def to_jupyterquiz(questions) -> list[dict]:
    """The questions in jupyterquiz's format (a numeric answer is right within ± tolerance)."""
    out = []
    for q in check_questions(questions):
        if q["type"] == "choice":
            out.append({"question": _html(q["question"]), "type": "multiple_choice",
                        "answers": [{"answer": _html(a["answer"]), "correct": a["correct"], "feedback": _html(a["feedback"])}
                                    for a in q["answers"]]})
        else:
            lo, hi = q["value"] - q["tolerance"], q["value"] + q["tolerance"]
            out.append({"question": _html(q["question"]), "type": "numeric",
                        "answers": [{"type": "range", "range": [lo, hi], "correct": True, "feedback": _html(q["feedback"])},
                                    {"type": "default", "feedback": _html(q["hint"])}]})
    return out


def _html(text: str) -> str:
    """Text as jupyterquiz puts it into the page (as HTML): <, > and & escaped, so that math such as
    $x_{<d}$ reaches MathJax intact."""
    return html.escape(text, quote=False)


def as_text(questions) -> str:
    """The quiz as plain text: numbered questions, lettered choices (no answers given away)."""
    lines = ["Self-check quiz"]
    for i, q in enumerate(check_questions(questions), 1):
        lines.append(f"\n{i}. {q['question']}")
        if q["type"] == "choice":
            lines += [f"   ({chr(97 + j)}) {a['answer']}" for j, a in enumerate(q["answers"])]
        else:
            lines.append("   (a number)")
    return "\n".join(lines)


def _after_mathjax(script: str, div_id: str) -> str:
    """jupyterquiz's script, started once the page's MathJax (if any) has started, so that the quiz's math is
    typeset by it (jupyterquiz would otherwise fetch MathJax from the web if it came first). A watcher then
    typesets each feedback's formulas where jupyterquiz's own call fails (JupyterLab's MathJax refuses to
    typeset one element while it remembers formulas JupyterLab has since removed)."""
    return f"""(function () {{
  function typesetFeedback(root) {{
    var tried = new WeakMap();
    new MutationObserver(function () {{
      var mj = window.MathJax;
      if (!mj || !mj.typeset || !mj.typesetClear) return;
      root.querySelectorAll(".Feedback").forEach(function (fb) {{
        var text = fb.textContent;
        if (!/\\\\[(\\[]/.test(text) || tried.get(fb) === text) return;
        tried.set(fb, text);
        try {{ mj.typesetClear(); mj.typeset([fb]); }} catch (e) {{ console.log("nnbook quiz: " + e); }}
      }});
    }}).observe(root, {{childList: true, subtree: true, characterData: true}});
  }}
  function nnbookQuiz() {{
{script}
    var root = document.getElementById("{div_id}");
    if (root) typesetFeedback(root);
  }}
  function whenMathJaxIsReady() {{
    var mj = window.MathJax;
    (mj && mj.startup && mj.startup.promise ? mj.startup.promise : Promise.resolve()).then(nnbookQuiz);
  }}
  if (window.MathJax && !window.MathJax.version && document.readyState !== "complete") {{
    window.addEventListener("load", whenMathJaxIsReady);  // a static page still loading its MathJax
  }} else {{
    whenMathJaxIsReady();
  }}
  if (!window.MathJax && !document.querySelector('script[src*="mathjax" i]')) {{
    // a notebook front-end whose MathJax is not global (JupyterLab, Colab): one for the formulas of the
    // feedback, which appear after the front-end typeset the output (online only; the website has its own)
    window.MathJax = {{tex: {{inlineMath: [["\\\\(", "\\\\)"]]}}, startup: {{typeset: false}}}};
    var s = document.createElement("script");
    s.src = "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js";
    s.async = true;
    document.head.appendChild(s);
  }}
}})();"""


def show(source, max_width: int = 720, lang: str = "en") -> None:
    """Draw the quiz of ``source`` (a quiz file or a list of questions) as one notebook output; ``lang`` ("en",
    "zh"): the language of the words jupyterquiz adds (the label of a number's input box).

    The output holds the HTML, jupyterquiz's JavaScript in a <script> and the plain-text form, so it
    works in Jupyter, Colab and on the static website, and prints as text where HTML cannot show.
    """
    questions = load(source)
    if not isinstance(max_width, int) or isinstance(max_width, bool) or max_width <= 0:
        raise ValueError(f"max_width must be a positive int, got {max_width!r}")
    _check_lang(lang)
    from IPython.display import display
    from IPython.utils.capture import capture_output
    from jupyterquiz import display_quiz

    with capture_output(stdout=False, stderr=False) as captured:
        display_quiz(to_jupyterquiz(questions), shuffle_answers=False, max_width=max_width)
    html = script = None
    for out in captured.outputs:
        html = out.data.get("text/html", html)
        script = out.data.get("application/javascript", script)
    if html is None or script is None:
        raise RuntimeError("jupyterquiz produced no quiz (is jupyterquiz >= 2.9.6 installed?)")
    div_id = re.match(r'<div id="(\w+)"', html).group(1)
    bundle = {"text/html": f'<div class="nnbook-quiz">{html}</div></div>\n<script>\n{_after_mathjax(_localised(script, lang), div_id)}\n</script>',
              "text/plain": as_text(questions)}
    display(bundle, raw=True)
