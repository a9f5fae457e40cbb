"""The glossary page as a curator opens it: warnings about the saved entries, checked in a fixed
number of queries however many there are; how many answers applied each entry in the last 90 days,
told from the answers' audit events; and a phrase that is another line's plural refused."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from assistant.services.record import answer_audit
from assistant.services.steps import question_searched
from audit.models import AuditEvent
from documents.glossary import glossary_for, glossary_forget, phrase_key
from documents.models import GlossaryTerm
from documents.services.glossary import glossary_parse, glossary_warnings
from tests import factories
from tests.conftest import signed_in

GLOSSARY_UPDATE = "curation.glossary_update"
_ids = itertools.count(1000)


@pytest.fixture(autouse=True)
def _fresh_glossary_cache():
    """The process's list of phrases outlives a test's rolled-back rows: each test starts without it."""
    glossary_forget()
    yield
    glossary_forget()


@pytest.fixture
def guidance(make_collection):
    """A collection the ``curator`` looks after, read by HR, holding one passage about leave."""
    collection = make_collection("hr", groups=["HR"])
    factories.add_document(collection, ["You may carry over up to 5 days of unused annual leave."])
    return collection


def keep(collection, *entries: tuple[str, str]) -> None:
    """Glossary entries written straight in, as the service stores them (key from the phrase)."""
    GlossaryTerm.objects.bulk_create(
        GlossaryTerm(collection=collection, phrase=phrase, key=phrase_key(phrase), means=means)
        for phrase, means in entries
    )
    glossary_forget()


def glossary_url(collection) -> str:
    return reverse("documents:collection_glossary", args=[collection.slug])


def opened(client, collection) -> str:
    response = client.get(glossary_url(collection))
    assert response.status_code == 200
    return response.content.decode()


def warnings(text: str) -> list[str]:
    return re.findall(r'<strong class="govuk-warning-text__text">(.*?)</strong>', text, re.S)


_ROW = re.compile(
    r'<th scope="row" class="govuk-table__header">(.*?)</th>\s*<td class="govuk-table__cell">(.*?)</td>\s*'
    r'<td class="govuk-table__cell govuk-table__cell--numeric">(\d+)</td>',
    re.S,
)


def usage_rows(text: str) -> list[tuple[str, str, int]]:
    """The page's table of entries: (phrase, what the guidance calls it, answers)."""
    table = text.split('id="glossary-usage"', 1)[1].split("</table>", 1)[0]
    return [(phrase, means, int(n)) for phrase, means, n in _ROW.findall(table)]


def answered(user, question: str, collections: list[str] | None = None, *, days_ago: float = 0) -> AuditEvent:
    """The answer event chat records for ``question``: the glossary entries applied as the pipeline
    finds them (``glossary_for``, ``question_searched``), written by ``answer_audit`` as
    ``days_ago`` days ago."""
    from documents.access import readable_collections

    searched = list(collections or sorted(readable_collections(user).values_list("slug", flat=True)))
    terms = question_searched(question, [], glossary_for(user, collections, question)).terms
    data = {"collections": searched, "chosen_collections": collections or []}
    if terms:
        data["glossary"] = [t.as_dict() for t in terms]
    message_id = next(_ids)
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - dt.timedelta(days=days_ago)):
        answer_audit(
            actor=user,
            outcome="answered",
            conversation_id=next(_ids),
            message_id=message_id,
            question_message_id=message_id - 1,
            question=question,
            answer="An answer [1].",
            data=data,
        )
    return AuditEvent.objects.filter(action="answer").order_by("-seq").first()


# --- warnings when the page is opened ------------------------------------------------------------


def test_opening_the_page_warns_about_the_saved_entries(client, curator, guidance):
    keep(
        guidance,
        ("holiday", "annual leave"),  # fine: the guidance says "annual leave", never "holiday"
        ("memory stick", "removable media"),  # no passage holds what it means
        ("carry over", "unused annual leave"),  # the guidance itself says "carry over"
    )
    signed_in(client, curator)
    shown = warnings(opened(client, guidance))
    assert len(shown) == 2
    assert "No passage of this collection holds “removable media”, so searching for it finds nothing" in shown[0]
    assert "Your guidance itself uses “carry over”." in shown[1]
    assert "holiday" not in "".join(shown) and "Saved, but" not in "".join(shown)


def test_a_sound_glossary_opens_without_warnings(client, curator, guidance):
    keep(guidance, ("holiday", "annual leave"), ("spare days", "unused annual leave"))
    signed_in(client, curator)
    text = opened(client, guidance)
    assert warnings(text) == []
    assert ">holiday = annual leave\nspare days = unused annual leave</textarea>" in text


def test_saving_still_says_the_warnings_are_about_what_was_just_saved(client, curator, guidance):
    keep(guidance, ("memory stick", "removable media"))
    signed_in(client, curator)
    response = client.post(glossary_url(guidance), {"terms": "holiday = annual leave\nleave = time off"})
    assert response.status_code == 200
    shown = warnings(response.content.decode())
    assert len(shown) == 2
    assert shown[0].startswith('<span class="govuk-visually-hidden">Warning</span>Saved, but no passage')
    assert "“time off”" in shown[0] and "removable media" not in shown[0]  # the entry replaced is gone
    assert "Saved, but your guidance itself uses “leave”." in shown[1]


def test_the_check_is_one_query_for_every_text(guidance):
    entries = [("holiday", "annual leave"), ("carry over", "keep")] + [(f"term{i}", f"meaning{i}") for i in range(40)]
    with CaptureQueriesContext(connection) as captured:
        unused, in_guidance = glossary_warnings(guidance, entries)
    assert len(captured.captured_queries) == 1
    assert unused == ["keep"] + [f"meaning{i}" for i in range(40)]
    assert in_guidance == ["carry over"]


def page_queries(client, collection) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        opened(client, collection)
    return [q["sql"] for q in captured.captured_queries]


def test_opening_the_page_makes_as_many_queries_for_40_entries_as_for_2(client, curator, make_user, guidance):
    reader = make_user("rea@example.gov.uk", groups=["HR"])
    keep(guidance, ("holiday", "annual leave"), ("memory stick", "removable media"))
    answered(reader, "How much holiday do I get?", ["hr"])
    signed_in(client, curator)
    opened(client, guidance)  # caches filled on first use count for neither
    two = page_queries(client, guidance)

    keep(guidance, *[(f"word{i}", f"meaning{i}") for i in range(38)])
    answered(reader, "Is word7 the same as word8?", ["hr"])
    many = page_queries(client, guidance)
    assert len(many) == len(two), "queries grew with the entries:\n" + "\n".join(many)
    text = opened(client, guidance)
    assert "meaning37" in warnings(text)[0]  # every entry was checked
    assert len(usage_rows(text)) == 40 and ("word7", "meaning7", 1) in usage_rows(text)


# --- how often each entry was used ---------------------------------------------------------------


def test_the_page_counts_the_answers_of_the_last_90_days_that_applied_each_entry(
    client, curator, make_user, guidance, make_collection
):
    finance = make_collection("finance", groups=["HR"])
    keep(guidance, ("holiday", "annual leave"), ("Memory-Stick", "removable media"), ("sick note", "fit note"))
    keep(finance, ("holiday", "leave of absence"), ("expenses", "claims"))
    alice = make_user("alice@example.gov.uk", groups=["HR"])

    answered(alice, "How much holiday do I get?", ["hr"])
    answered(alice, "Can I take memory sticks on holiday?", ["hr"], days_ago=89)
    answered(alice, "A memory stick for my holiday?", None, days_ago=3)  # both glossaries define holiday
    answered(alice, "Holiday in the last year?", ["hr"], days_ago=91)  # too long ago
    answered(alice, "How much holiday do I get?", ["finance"])  # finance's entry, not this one
    answered(alice, "How many days of annual leave?", ["hr"])  # no entry applied
    events = AuditEvent.objects.filter(action="answer").order_by("seq")
    assert events[2].data["glossary"][0] == {
        "phrase": "Memory-Stick",
        "means": "removable media",
        "collection": "hr",
    }, "recorded as the pipeline records it"
    assert events[2].data["glossary"][1]["collection"] == "finance, hr"

    signed_in(client, curator)
    text = opened(client, guidance)
    assert usage_rows(text) == [
        ("holiday", "annual leave", 3),
        ("Memory-Stick", "removable media", 2),
        ("sick note", "fit note", 0),
    ]
    assert "In the last 90 days, 3 answers applied this glossary." in text
    assert "No answer applied 1 of its 3 entries" in text


def test_usage_counts_an_entry_by_its_phrase_as_compared(client, curator, make_user, guidance):
    """An answer that applied "holiday" counts for the entry since rewritten "Holiday"."""
    reader = make_user("rea@example.gov.uk", groups=["HR"])
    keep(guidance, ("holiday", "annual leave"))
    answered(reader, "How much holiday do I get?", ["hr"])
    GlossaryTerm.objects.filter(collection=guidance).update(phrase="Holiday", means="leave")
    signed_in(client, curator)
    text = opened(client, guidance)
    assert usage_rows(text) == [("Holiday", "leave", 1)]
    assert "In the last 90 days, 1 answer applied this glossary." in text and "No answer applied" not in text


def test_a_glossary_with_no_entries_says_so(client, curator, guidance):
    signed_in(client, curator)
    text = opened(client, guidance)
    assert "No entries are saved yet" in text and 'id="glossary-usage"' not in text


# --- a plural is the same entry ------------------------------------------------------------------


def test_a_plural_of_another_line_is_refused_naming_both_lines(client, curator, guidance):
    signed_in(client, curator)
    posted = "memory stick = removable media\nholiday = annual leave\nMemory Sticks = removable media"
    response = client.post(glossary_url(guidance), {"terms": posted})
    assert response.status_code == 400
    text = response.content.decode()
    message = "Line 3: “Memory Sticks” is already on line 1 as “memory stick”: a plural ending matches either"
    assert "There is a problem" in text and message in text
    assert not guidance.glossary.exists() and not AuditEvent.objects.filter(action=GLOSSARY_UPDATE).exists()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("memory sticks", "memory stick"),  # the singular after the plural
        ("box", "boxes"),
        ("sick-note", "Sick Notes"),
        ("manager", "manager's"),
        ("manager", "manager’s"),
    ],
)
def test_parse_refuses_a_phrase_that_differs_only_by_a_plural_ending(first, second):
    parsed = glossary_parse(f"{first} = one thing\n# a note\n{second} = another thing")
    assert parsed.entries == [(first, "one thing")]
    assert parsed.errors == [(3, f"“{second}” is already on line 1 as “{first}”: a plural ending matches either")]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("stick", "sticker"),
        ("box", "boxed"),
        ("memory", "memory stick"),
        ("stick", "sticks of rock"),
        ("memory sticks", "memory stickers"),
    ],
)
def test_parse_keeps_phrases_that_differ_otherwise(first, second):
    for one, other in ((first, second), (second, first)):
        parsed = glossary_parse(f"{one} = one thing\n{other} = another thing")
        assert parsed.errors == [] and len(parsed.entries) == 2, (one, other)


@pytest.mark.parametrize(
    "text",
    [
        "annual leave",
        "Annual-Leave",
        "unused annual",
        "leave annual",  # the words, not as a phrase
        "days",  # stemmed: "day"
        "carrying over",
        "the",  # stop words alone match nothing
        "5 days of unused",
        "T&S",
        "it's annual leave",
        "removable media",
        "",
    ],
)
def test_the_one_query_check_matches_as_search_matches_words(guidance, text):
    """The statement testing every text at once says what ``SearchQuery(text, search_type="phrase")``
    says of each on its own."""
    from django.contrib.postgres.search import SearchQuery

    from documents.models import Chunk

    chunks = Chunk.objects.filter(collection=guidance, searchable=True)
    held = chunks.filter(search_vector=SearchQuery(text, search_type="phrase", config="english")).exists()
    unused, in_guidance = glossary_warnings(guidance, [(text, text)])
    assert (unused, in_guidance) == (([], [text]) if held else ([text], []))
