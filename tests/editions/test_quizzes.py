"""Each numeric quiz answer equals the value its chapter computes, read from the build (`make book`)."""
import pytest

import quiz_check
from chapters import chapter_sources

CHAPTERS = chapter_sources()


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda md: md.stem)
def test_numeric_answers_are_the_values_the_chapter_glued(md):
    assert quiz_check.static_problems(md) == []
    assert quiz_check.numeric_problems(md) == []
