"""The plain-Python parts of insights: topic grouping, privacy of keywords, chart geometry."""

from __future__ import annotations

import numpy as np
import pytest

from documents.embeddings import FakeEmbeddings
from insights import charts, gaps


def questions(*rows):
    return [
        gaps.GapQuestion(key=n, text=text, asker=asker, not_covered=True, rated_down=False)
        for n, (text, asker) in enumerate(rows)
    ]


def group(qs, *, min_askers=1, threshold=0.55):
    fake = FakeEmbeddings()
    return gaps.group_topics(
        qs, fake.embed_documents([q.text for q in qs]), distance_threshold=threshold, min_askers=min_askers
    )


def test_similar_questions_share_a_topic_and_others_do_not():
    """Questions sharing most of their words form one topic; an unrelated one stands alone; largest first."""
    qs = questions(
        ("shared parental leave pay entitlement now", 1),
        ("shared parental leave pay entitlement again", 2),
        ("shared parental leave pay entitlement please", 3),
        ("mileage allowance for a bicycle", 4),
    )
    topics = group(qs)
    assert [t.size for t in topics] == [3, 1]
    assert {q.key for q in topics[0].members} == {0, 1, 2}
    assert topics[0].asker_count == 3


def test_keywords_need_enough_askers_and_are_never_numbers():
    """A word used by one asker (a name, a place) never names a topic; nor does a number."""
    qs = questions(
        ("parental leave for Priyanka 07700900123", 1),
        ("parental leave pay", 2),
        ("parental leave twins", 3),
        ("parental leave rules", 3),
    )
    topics = group(qs, min_askers=3, threshold=1.5)
    assert len(topics) == 1
    assert set(topics[0].keywords) == {"parental", "leave"}
    everything = group(qs, min_askers=1, threshold=1.5)[0].keywords
    assert "priyanka" in everything  # so the threshold, not chance, kept it out above
    assert not any(ch.isdigit() for word in everything for ch in word)


def test_unknown_askers_never_count_towards_the_threshold():
    """Questions without a known asker do not make a topic look like it has more people behind it."""
    qs = questions(("parental leave", None), ("parental leave", None), ("parental leave", 1))
    assert group(qs)[0].asker_count == 1


def test_examples_skip_personal_data_and_repeat_askers():
    """Examples: nearest the centroid first, one per asker, never a question flagged as personal data."""
    qs = [
        gaps.GapQuestion(0, "parental leave pay", 1, True, False),
        gaps.GapQuestion(1, "parental leave pay again", 1, True, False),
        gaps.GapQuestion(2, "parental leave pay AB123456C", 2, True, False, personal_data=True),
        gaps.GapQuestion(3, "parental leave pay rules", 3, True, False),
    ]
    topic = group(qs, threshold=1.5)[0]
    examples = topic.examples(3)
    assert "parental leave pay AB123456C" not in examples
    assert len(examples) == 2  # asker 1 once, asker 3 once


def test_one_or_no_question():
    """One question is one topic; none is none; mismatched inputs are an error."""
    assert gaps.group_topics([], [], distance_threshold=0.5, min_askers=1) == []
    assert [t.size for t in group(questions(("alone here", 1)))] == [1]
    with pytest.raises(ValueError):
        gaps.group_topics(questions(("a b", 1)), [], distance_threshold=0.5, min_askers=1)


def test_stacked_bars_scale_to_the_tallest_column():
    """Stacked bars sit on each other and the tallest column reaches the top tick exactly."""
    chart = charts.bar_chart(
        chart_id="c",
        title="t",
        table_id="x",
        labels=["a", "b"],
        stacked=True,
        series=[charts.Series("one", "answered", [2, 4]), charts.Series("two", "failed", [2, 0])],
    )
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    a_one, a_two, b_one = chart.bars
    assert a_two.y + a_two.height == pytest.approx(a_one.y, abs=0.2)
    assert b_one.y == pytest.approx(chart.plot_top, abs=0.2)
    assert b_one.title == "b: one 4"


def test_empty_and_missing_values_draw_nothing():
    """Days without data draw no bar; a chart with no data says so."""
    chart = charts.bar_chart(
        chart_id="c", title="t", table_id="x", labels=["a", "b"], series=[charts.Series("s", "up", [None, 0])]
    )
    assert chart.empty
    with pytest.raises(ValueError):
        charts.bar_chart(chart_id="c", title="t", table_id="x", labels=["a"], series=[charts.Series("s", "up", [])])


@pytest.mark.parametrize(("peak", "step"), [(0, 1), (3, 1), (7, 2), (17, 5), (640, 200), (0.067, 0.02)])
def test_nice_steps(peak, step):
    """Axis steps are 1, 2 or 5 times a power of ten, at most four to the top."""
    assert charts.nice_step(peak) == pytest.approx(step)
    assert np.ceil(peak / step) <= 4 if peak else True


@pytest.mark.slow
def test_real_embedder_groups_paraphrases_at_the_default_distance():
    """With the real MiniLM model and the default 0.55, paraphrases group together and topics stay apart."""
    from documents.local_embedder import LocalMiniLM

    texts = [
        ("Can I carry over unused annual leave to next year?", 1),
        ("How many holiday days can I roll over into the next leave year?", 2),
        ("Is it possible to move untaken annual leave into next year?", 3),
        ("What is the mileage rate for using my own car on business?", 4),
        ("How much can I claim per mile when driving my car for work?", 5),
        ("What allowance do I get for business miles in a private car?", 6),
    ]
    qs = questions(*texts)
    vectors = LocalMiniLM(threads=1).embed_documents([q.text for q in qs])
    default = 0.55  # HUMPHREY_INSIGHTS_TOPIC_DISTANCE's documented default (docs/insights.md)
    topics = gaps.group_topics(qs, vectors, distance_threshold=default, min_askers=1)
    assert sorted(sorted(q.key for q in t.members) for t in topics) == [[0, 1, 2], [3, 4, 5]]
