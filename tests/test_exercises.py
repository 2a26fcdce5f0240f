"""The checker machinery, and every registered exercise's checker."""
import pytest

from nnbook import exercises as E


@E.exercise("selftest.square", reference=lambda x: x * x, wrong=[lambda x: 2 * x], hint="multiply x by itself", timeout=5)
def _check_square(f):
    for x in [0.0, 1.5, -3.0]:
        E.expect_close(f(x), x * x, f"f({x})")


def test_reference_passes_and_wrong_fails_with_hint():
    assert E.run_check("selftest.square", lambda x: x * x).passed
    r = E.run_check("selftest.square", lambda x: 2 * x)
    assert not r.passed and "f(1.5)" in r.message and "multiply" in r.message and r.score == 0


def test_checker_survives_bad_student_code():
    def raises(x):
        raise KeyError("boom")

    def stub(x):
        raise NotImplementedError

    def loops(x):
        while True:
            pass

    assert "raised KeyError" in E.run_check("selftest.square", raises).message
    assert "not implemented" in E.run_check("selftest.square", stub).message
    assert "within 1 s" in E.run_check("selftest.square", loops, timeout=1).message
    assert "expected numbers" in E.run_check("selftest.square", lambda x: "nine").message
    assert "expected a function" in E.run_check("selftest.square", 3).message


def test_printing_passed_does_not_pass():
    def liar(x):
        print("✅ selftest.square: passed — well done.")
        return 0.0

    assert not E.run_check("selftest.square", liar).passed


def test_check_prints_verdict(capsys):
    E.check("selftest.square", lambda x: x * x)
    assert "✅ selftest.square: passed" in capsys.readouterr().out


def test_unknown_exercise_and_duplicate_names():
    with pytest.raises(ValueError, match="not a registered exercise"):
        E.get("no.such.exercise")
    with pytest.raises(ValueError, match="registered twice"):
        E.exercise("selftest.square", reference=abs)(lambda f: None)


# The one test of each registered checker (a module's own tests need not repeat it); `make check`
# selects those of a chapter's modules by their id, `[<module>.`. selftest.square is tested above.
@pytest.mark.parametrize("name", [n for n in E.all_exercises() if not n.startswith("selftest.")])
def test_every_checker_accepts_its_reference_and_rejects_wrong_answers(name):
    ex = E.get(name)
    ok = E.run_check(name, ex.reference)
    assert ok.passed, f"{name} rejects its own reference solution: {ok.message}"
    assert ex.wrong, f"{name} registers no plausible wrong answer"
    for wrong in ex.wrong:
        assert not E.run_check(name, wrong).passed, f"{name} accepts a wrong answer {wrong}"
