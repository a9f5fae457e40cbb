"""The "not covered" reply says why, in the person's terms: the words the closest passages never use,
or else the kind of detail the question asks for that they do not give."""

from __future__ import annotations

import pytest

from assistant.services.frames import not_covered_text


@pytest.mark.django_db
def test_the_reply_says_which_detail_the_passages_lack():
    text = not_covered_text([], None, "money")
    assert "The closest passages do not give an amount of money for what you asked." in text


@pytest.mark.django_db
def test_words_the_passages_never_use_come_first():
    text = not_covered_text([], ["jury"], "duration")
    assert "do not mention “jury”" in text and "length of time" not in text
