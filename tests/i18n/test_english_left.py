"""No English prose left on the pages of the Chinese edition (tools/i18n_audit.py), after `make test-build-zh`."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import i18n_audit as audit  # noqa: E402

ZH = ROOT / "_build" / "zh" / "_build" / "html"


def test_no_english_prose_is_left_on_a_chinese_page():
    """Each book page has at most MAX_ENGLISH_WORDS English function words in its prose (names, terms, units,
    code, math and citations do not count); the pages closest to that are printed, with what was counted."""
    report = audit.english_report(ZH)
    assert report, f"no Chinese edition in {ZH}: run `make test-build-zh`"
    print(audit.closest(report))
    over = {page: count for page, (count, _) in report.items() if count > audit.MAX_ENGLISH_WORDS}
    assert not over, (f"English prose on {len(over)} Chinese page(s) (more than {audit.MAX_ENGLISH_WORDS} English "
                      f"function words): {over}\n" + audit.closest(report, n=len(over)))
