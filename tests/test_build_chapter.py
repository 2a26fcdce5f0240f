"""tools/build_chapter.py: a private build of some chapters ignores only links to pages left out of it."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from build_chapter import points_outside  # noqa: E402

CH1 = ["book/part1_static/01_principles"]
W = "/work/book/part1_static/01_principles.md:585: WARNING: unknown document: '{}'"


def test_a_link_to_a_chapter_left_out_of_the_build_is_not_the_chapters_fault():
    assert points_outside(W.format("02_mlp_backprop"), CH1)
    assert points_outside(W.format("/book/part3_deep/06_cnn"), CH1)
    assert points_outside(W.format("../part2_dynamic/05_dhnn"), CH1)


def test_a_link_to_a_missing_page_or_another_warning_still_counts():
    assert not points_outside(W.format("02_no_such_chapter"), CH1)
    assert not points_outside("/work/book/part1_static/01_principles.md:3: WARNING: undefined label: 'x'", CH1)
