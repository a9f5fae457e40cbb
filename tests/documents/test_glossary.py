"""A collection's glossary: the matcher, reading a curator's lines, replacing a glossary (audited),
whose glossary applies to whose question, the glossary page and the ``glossary`` command."""

# Over 500 lines by design: one feature's tests, from the matcher to the page, sharing one set of
# fixtures (collections, readers and curators on each side of the access line); split, each part
# would repeat them.

from __future__ import annotations

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from documents.glossary import Glossary, Term, glossary_for, glossary_forget, glossary_known, phrase_key
from documents.models import GlossaryTerm
from documents.services.glossary import (
    MAX_PHRASE_WORDS,
    MAX_TERMS,
    glossary_lines,
    glossary_parse,
    glossary_replace,
    glossary_warnings,
)
from tests import factories
from tests.conftest import signed_in

GLOSSARY_UPDATE = "curation.glossary_update"


@pytest.fixture(autouse=True)
def _fresh_glossary_cache():
    """The process's list of phrases outlives a test's rolled-back rows: each test starts without it."""
    glossary_forget()
    yield
    glossary_forget()


def keep(collection, *entries: tuple[str, str]) -> None:
    """Glossary entries written straight in, as the service stores them (key from the phrase)."""
    for phrase, means in entries:
        GlossaryTerm.objects.create(collection=collection, phrase=phrase, key=phrase_key(phrase), means=means)


def terms(glossary: Glossary) -> dict[str, tuple[str, str]]:
    """phrase key -> (means, collection) of what a glossary holds."""
    return {key: (t.means, t.collection) for key, t in glossary.terms.items()}


# --- the matcher ---------------------------------------------------------------------------------


@pytest.fixture
def glossary() -> Glossary:
    return Glossary(
        [
            Term("stick", "baton"),
            Term("memory stick", "removable media"),
            Term("sick note", "fit note"),
            Term("box", "container"),
        ]
    )


def test_phrase_key_folds_case_hyphens_and_spaces():
    assert phrase_key("  Memory-STICK ") == "memory stick"
    assert phrase_key("memory \t  stick") == "memory stick"
    assert phrase_key("memory - stick") == "memory stick"


@pytest.mark.parametrize(
    "text",
    [
        "Can I use a memory stick?",
        "Can I use a MEMORY STICK?",
        "Memory Stick use",
        "can I use a memory-stick",
        "can I use a memory\nstick",
        "two memory sticks",
        "the memory stick's lid",
        "the memory stick’s lid",
    ],
)
def test_matches_whole_words_ignoring_case_hyphens_plurals_and_possessives(glossary, text):
    """Every way of writing the phrase finds the longer entry, never the "stick" inside it."""
    assert [t.phrase for t in glossary.find(text)] == ["memory stick"]


@pytest.mark.parametrize("text", ["a sticker on it", "lipstick", "sticky notes", "nonstick pan", "a joy-stick", "sick"])
def test_no_match_inside_another_word(glossary, text):
    assert glossary.find(text) == ()
    assert glossary.apply(text) == text


def test_plural_with_es_on_the_last_word(glossary):
    assert [t.phrase for t in glossary.find("two boxes and some sick notes")] == ["box", "sick note"]


def test_longer_phrase_wins_but_the_shorter_matches_on_its_own(glossary):
    assert [t.phrase for t in glossary.find("a memory stick")] == ["memory stick"]
    assert [t.phrase for t in glossary.find("a walking stick")] == ["stick"]
    assert glossary.apply("a memory stick and a stick") == "a removable media and a baton"


def test_find_lists_each_term_once_in_the_order_first_seen(glossary):
    text = "My sick note mentions a memory stick; another Sick-Note and two memory sticks, then a stick."
    assert [t.phrase for t in glossary.find(text)] == ["sick note", "memory stick", "stick"]


def test_apply_puts_each_phrase_in_the_guidances_words(glossary):
    assert glossary.apply("Can I put my sick note on a Memory-Stick?") == "Can I put my fit note on a removable media?"
    assert glossary.apply("nothing here") == "nothing here"
    assert glossary.apply("") == ""


def test_the_first_entry_for_a_phrase_wins_and_empty_ones_are_dropped():
    glossary = Glossary([Term("holiday", "annual leave"), Term("Holiday", "vacation"), Term("leave", "  ")])
    assert list(glossary.terms) == ["holiday"]
    assert glossary.apply("holiday leave") == "annual leave leave"
    assert not Glossary([]) and Glossary([]).find("anything") == () and Glossary([]).apply("x") == "x"


def test_phrases_with_regex_characters_are_matched_literally():
    glossary = Glossary([Term("T&S", "travel and subsistence"), Term("c.v.", "curriculum vitae")])
    assert glossary.apply("claim T&S, send a c.v.") == "claim travel and subsistence, send a curriculum vitae"
    assert glossary.find("cxvx") == ()


# --- reading a curator's lines -------------------------------------------------------------------


def test_parse_reads_lines_with_every_separator_skipping_notes_and_blanks():
    parsed = glossary_parse(
        "# what people say = what the guidance says\n"
        "\n"
        "memory stick = removable media\n"
        "  sick   note  ->  fit note  \n"
        "holiday → annual leave\n"
        "e-mail => electronic mail\n"
        "   \n"
        "P45=leaving certificate = form\n"
    )
    assert parsed.errors == []
    assert parsed.entries == [
        ("memory stick", "removable media"),
        ("sick note", "fit note"),
        ("holiday", "annual leave"),
        ("e-mail", "electronic mail"),
        ("P45", "leaving certificate = form"),
    ]


def test_parse_names_the_line_of_each_error():
    long_words = " ".join(["word"] * (MAX_PHRASE_WORDS + 1))
    parsed = glossary_parse(
        "holiday = annual leave\n"  # 1: good
        "# a note\n"  # 2
        "memory stick removable media\n"  # 3: no separator
        "= annual leave\n"  # 4: no phrase
        "sick note =\n"  # 5: no meaning
        "Fit-Note = fit note\n"  # 6: the same
        "HOLIDAY -> leave\n"  # 7: already on line 1
        f"{long_words} = something\n"  # 8: too many words
        "?! = question\n"  # 9: no letter
        f"laptop = {'x' * 121}\n"  # 10: meaning too long
        "laptop = computer\n"  # 11: good (the erroneous line 10 did not claim the phrase)
    )
    assert parsed.entries == [("holiday", "annual leave"), ("laptop", "computer")]
    errors = dict(parsed.errors)
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9, 10]
    assert errors[3].startswith("Write it as") and errors[4] == errors[5] == errors[3]
    assert errors[6] == "The phrase and what it means are the same"
    assert errors[7] == "“HOLIDAY” is already on line 1"
    assert errors[8] == f"Keep the phrase to {MAX_PHRASE_WORDS} words and 80 characters"
    assert errors[9] == "The phrase needs a letter or a number"
    assert errors[10] == "Keep what the guidance calls it to 120 characters"


def test_parse_allows_as_many_words_as_the_limit_and_refuses_too_many_entries():
    just = " ".join(["word"] * MAX_PHRASE_WORDS)
    assert glossary_parse(f"{just} = something").errors == []
    many = "\n".join(f"term{i} = meaning{i}" for i in range(MAX_TERMS + 1))
    parsed = glossary_parse(many)
    assert parsed.errors == [(0, f"A glossary holds at most {MAX_TERMS} entries")]


# --- replacing a glossary ------------------------------------------------------------------------


@pytest.fixture
def hr(db):
    return factories.make_collection("hr", groups=["HR"])


def test_replace_adds_changes_and_removes_in_one_audited_event(hr, curator):
    glossary_replace(
        collection=hr,
        user=curator,
        entries=[("holiday", "annual leave"), ("sick note", "fit note"), ("memory stick", "removable media")],
    )
    first = AuditEvent.objects.get(action=GLOSSARY_UPDATE)
    assert first.actor_id == curator.pk and first.subject == f"collection:{hr.pk}"
    assert first.data["terms"] == 3 and first.data["collection_id"] == hr.pk
    assert sorted(first.data["added"]) == [
        "holiday = annual leave",
        "memory stick = removable media",
        "sick note = fit note",
    ]
    assert first.data["changed"] == first.data["removed"] == []

    summary = glossary_replace(
        collection=hr,
        user=curator,
        entries=[("holiday", "annual leave"), ("Memory-Stick", "USB storage"), ("P45", "leaving certificate")],
    )
    assert summary == {
        "added": ["P45 = leaving certificate"],
        "changed": ["Memory-Stick = USB storage (was removable media)"],
        "removed": ["sick note = fit note"],
    }
    events = AuditEvent.objects.filter(action=GLOSSARY_UPDATE).order_by("seq")
    assert events.count() == 2
    second = events.last()
    assert second.data["terms"] == 3
    assert {k: second.data[k] for k in ("added", "changed", "removed")} == summary
    stored = {(t.key, t.phrase, t.means) for t in hr.glossary.all()}
    assert stored == {
        ("holiday", "holiday", "annual leave"),
        ("memory stick", "Memory-Stick", "USB storage"),
        ("p45", "P45", "leaving certificate"),
    }
    assert glossary_lines(hr) == "holiday = annual leave\nMemory-Stick = USB storage\nP45 = leaving certificate"


def test_replace_with_no_change_records_nothing(hr, curator):
    entries = [("holiday", "annual leave"), ("sick note", "fit note")]
    glossary_replace(collection=hr, user=curator, entries=entries)
    assert glossary_replace(collection=hr, user=curator, entries=list(reversed(entries))) == {
        "added": [],
        "changed": [],
        "removed": [],
    }
    assert AuditEvent.objects.filter(action=GLOSSARY_UPDATE).count() == 1


def test_replace_with_nothing_empties_the_glossary(hr, curator):
    glossary_replace(collection=hr, user=curator, entries=[("holiday", "annual leave")])
    summary = glossary_replace(collection=hr, user=curator, entries=[])
    assert summary["removed"] == ["holiday = annual leave"] and not hr.glossary.exists()
    assert AuditEvent.objects.filter(action=GLOSSARY_UPDATE).order_by("seq").last().data["terms"] == 0


def test_replace_refuses_too_many_entries(hr, curator):
    with pytest.raises(ValidationError):
        glossary_replace(collection=hr, user=curator, entries=[(f"t{i}", f"m{i}") for i in range(MAX_TERMS + 1)])
    assert not hr.glossary.exists() and not AuditEvent.objects.filter(action=GLOSSARY_UPDATE).exists()


def test_a_saved_glossary_is_known_to_this_process_once_committed(
    hr, curator, civil_servant, django_capture_on_commit_callbacks
):
    civil_servant.groups.add(hr.reader_groups.get())
    assert not glossary_known()  # the process remembers: no phrases
    with django_capture_on_commit_callbacks(execute=True):
        glossary_replace(collection=hr, user=curator, entries=[("holiday", "annual leave")])
    assert glossary_for(civil_servant, None, "my holiday").apply("my holiday") == "my annual leave"


def test_one_entry_per_phrase_in_a_collection(hr):
    finance = factories.make_collection("finance")
    keep(hr, ("holiday", "annual leave"))
    keep(finance, ("holiday", "leave of absence"))  # another collection may say otherwise
    with pytest.raises(IntegrityError), transaction.atomic():
        GlossaryTerm.objects.create(collection=hr, phrase="Holiday", key="holiday", means="vacation")
    assert GlossaryTerm.objects.filter(key="holiday").count() == 2


# --- whose glossary applies to whose question ----------------------------------------------------


@pytest.fixture
def finance(db):
    return factories.make_collection("finance", groups=["Finance"])


@pytest.fixture
def alice(make_user):
    """Reads HR only."""
    return make_user("alice@example.gov.uk", groups=["HR"])


@pytest.fixture
def bob(make_user):
    """Reads Finance only."""
    return make_user("bob@example.gov.uk", groups=["Finance"])


QUESTION = "Can I claim for a memory stick?"


def test_an_unreadable_collections_entry_does_not_apply(hr, finance, alice, bob):
    keep(hr, ("holiday", "annual leave"))
    keep(finance, ("memory stick", "removable media"))
    for collections in (None, ["finance"], ["hr", "finance"]):
        got = glossary_for(alice, collections, QUESTION)
        assert not got and got.apply(QUESTION) == QUESTION, collections
    got = glossary_for(bob, None, QUESTION)
    assert terms(got) == {"memory stick": ("removable media", "finance")}
    assert got.apply(QUESTION) == "Can I claim for a removable media?"


def test_no_one_signed_out_gets_any_entry(hr):
    from django.contrib.auth.models import AnonymousUser

    keep(hr, ("memory stick", "removable media"))
    assert not glossary_for(AnonymousUser(), None, QUESTION)
    assert not glossary_for(None, ["hr"], QUESTION)


def test_an_unreadable_collections_longer_phrase_does_not_hide_a_readable_entry(hr, finance, alice):
    """What Alice gets must not depend on a glossary she may not read. HR's "stick" applies to her
    question; Finance (which she cannot read) defining "memory stick" must change nothing."""
    keep(hr, ("stick", "removable media"))
    alone = glossary_for(alice, None, QUESTION)
    assert terms(alone) == {"stick": ("removable media", "hr")}
    keep(finance, ("memory stick", "USB device"))
    glossary_forget()
    assert terms(glossary_for(alice, None, QUESTION)) == terms(alone)


def test_an_entry_of_a_retired_collection_does_not_apply(hr, alice):
    keep(hr, ("memory stick", "removable media"))
    assert terms(glossary_for(alice, None, QUESTION)) == {"memory stick": ("removable media", "hr")}
    hr.is_active = False
    hr.save(update_fields=["is_active"])
    assert not glossary_for(alice, None, QUESTION)  # even while the process still knows the phrase
    glossary_forget()
    assert not glossary_for(alice, ["hr"], QUESTION)


def test_an_entry_above_the_deployments_marking_does_not_apply(settings, alice):
    from documents.models import Marking

    secret = factories.make_collection("secret", groups=["HR"], marking=Marking.OFFICIAL_SENSITIVE)
    keep(secret, ("memory stick", "removable media"))
    assert glossary_for(alice, None, QUESTION)
    settings.HUMPHREY_MAX_MARKING = "OFFICIAL"
    assert not glossary_for(alice, None, QUESTION)


def test_naming_collections_limits_the_glossaries_used(hr, alice):
    travel = factories.make_collection("travel", groups=["HR"])
    keep(hr, ("holiday", "annual leave"))
    keep(travel, ("memory stick", "removable media"))
    text = "Can I take a memory stick on holiday?"
    assert set(terms(glossary_for(alice, None, text))) == {"holiday", "memory stick"}
    assert set(terms(glossary_for(alice, ["hr"], text))) == {"holiday"}
    assert set(terms(glossary_for(alice, ["travel"], text))) == {"memory stick"}
    assert glossary_for(alice, ["hr"], text).apply(text) == "Can I take a memory stick on annual leave?"


def test_a_phrase_two_readable_collections_define_differently_is_searched_as_both(hr, alice):
    travel = factories.make_collection("travel", groups=["HR"])
    keep(hr, ("memory stick", "removable media"))
    keep(travel, ("Memory-Stick", "portable storage device"))
    got = glossary_for(alice, None, "I lost a memory-stick")
    assert terms(got) == {"memory stick": ("removable media portable storage device", "hr, travel")}
    assert got.apply("I lost a memory-stick") == "I lost a removable media portable storage device"
    assert terms(glossary_for(alice, ["travel"], "I lost a memory stick")) == {
        "memory stick": ("portable storage device", "travel")
    }


def test_the_same_meaning_in_two_collections_is_not_repeated(hr, alice):
    travel = factories.make_collection("travel", groups=["HR"])
    keep(hr, ("memory stick", "removable media"))
    keep(travel, ("memory stick", "Removable Media"))
    assert glossary_for(alice, None, QUESTION).apply(QUESTION) == "Can I claim for a removable media?"
    assert terms(glossary_for(alice, None, QUESTION)) == {"memory stick": ("removable media", "hr, travel")}, (
        "both glossaries gave it: both collections' pages count the answer"
    )


def test_a_new_entry_applies_once_the_process_forgets_its_list(hr, alice):
    keep(hr, ("holiday", "annual leave"))
    assert glossary_for(alice, None, "my holiday")  # the process now remembers the phrases
    keep(hr, ("memory stick", "removable media"))
    assert not glossary_for(alice, None, QUESTION)  # not yet: the remembered list lacks it
    glossary_forget()
    assert terms(glossary_for(alice, None, QUESTION)) == {"memory stick": ("removable media", "hr")}


def test_known_phrases_are_those_of_active_collections_only(hr):
    retired = factories.make_collection("old", active=False)
    keep(hr, ("holiday", "annual leave"))
    keep(retired, ("memory stick", "removable media"))
    assert set(glossary_known().terms) == {"holiday"}
    assert glossary_known(fresh_only=True) is not None
    glossary_forget()
    assert glossary_known(fresh_only=True) is None


# --- what no passage holds -----------------------------------------------------------------------


def test_unused_names_a_meaning_no_searchable_passage_holds(hr):
    factories.add_document(hr, ["You get 25 days of annual leave a year.", "Fit notes come from your GP."])
    factories.add_document(hr, ["Removable media must be encrypted."], searchable=False)
    other = factories.make_collection("security")
    factories.add_document(other, ["Removable media must be encrypted."])
    entries = [
        ("holiday", "annual leave"),
        ("sick note", "fit note"),  # held as "Fit notes": matched as search matches words
        ("memory stick", "removable media"),  # only in a passage that is not searchable, or elsewhere
        ("vacation", "annual leave"),  # named once
        ("sick pay", "leave annual"),  # the words, not as a phrase
    ]
    assert glossary_warnings(hr, entries)[0] == ["removable media", "leave annual"]


# --- the glossary page ---------------------------------------------------------------------------


@pytest.fixture
def guidance(make_collection):
    """A collection the ``curator`` looks after, read by HR, holding one passage about leave."""
    collection = make_collection("hr", groups=["HR"])
    factories.add_document(collection, ["You may carry over up to 5 days of unused annual leave."])
    return collection


def glossary_url(collection) -> str:
    return reverse("documents:collection_glossary", args=[collection.slug])


def test_glossary_url():
    assert reverse("documents:collection_glossary", args=["hr"]) == "/curate/c/hr/glossary/"


def test_the_collection_page_links_to_its_glossary(client, curator, guidance):
    signed_in(client, curator)
    page = client.get(reverse("documents:collection", args=[guidance.slug]))
    assert page.status_code == 200
    assert f'href="{glossary_url(guidance)}"'.encode() in page.content


def test_a_curator_sees_and_saves_the_glossary(client, curator, guidance):
    signed_in(client, curator)
    empty = client.get(glossary_url(guidance))
    assert empty.status_code == 200
    assert b'<h1 class="govuk-heading-l">Glossary</h1>' in empty.content
    assert b'name="terms"' in empty.content and b"Entries (0 of at most 500)" in empty.content

    response = client.post(glossary_url(guidance), {"terms": "# leave\nholiday = annual leave\n"})
    assert response.status_code == 302 and response["Location"] == glossary_url(guidance)
    assert [(t.phrase, t.means) for t in guidance.glossary.all()] == [("holiday", "annual leave")]
    event = AuditEvent.objects.get(action=GLOSSARY_UPDATE)
    assert event.actor_id == curator.pk and event.data["added"] == ["holiday = annual leave"]

    shown = client.get(response["Location"])
    text = shown.content.decode()
    assert "Glossary saved: 1 added." in text
    assert ">holiday = annual leave</textarea>" in text and "Entries (1 of at most 500)" in text

    again = client.post(glossary_url(guidance), {"terms": "holiday = annual leave"}, follow=True)
    assert "Nothing was changed." in again.content.decode()
    assert AuditEvent.objects.filter(action=GLOSSARY_UPDATE).count() == 1


def test_errors_show_the_page_again_with_the_text_and_store_nothing(client, curator, guidance):
    keep(guidance, ("sick note", "fit note"))
    signed_in(client, curator)
    posted = "holiday annual leave\nholiday = annual leave\nHoliday = leave\nmemory stick = removable media"
    response = client.post(glossary_url(guidance), {"terms": posted})
    assert response.status_code == 400
    text = response.content.decode()
    assert "<title>Error: Glossary" in text and "There is a problem" in text
    assert "Line 1: Write it as: what people ask with = what the guidance calls it" in text
    assert "Line 3: “Holiday” is already on line 2" in text
    assert f">{posted}</textarea>" in text
    assert [(t.phrase, t.means) for t in guidance.glossary.all()] == [("sick note", "fit note")]
    assert not AuditEvent.objects.filter(action=GLOSSARY_UPDATE).exists()


def test_a_meaning_no_passage_holds_is_saved_with_a_warning(client, curator, guidance):
    signed_in(client, curator)
    posted = "holiday = annual leave\nmemory stick = removable media"
    response = client.post(glossary_url(guidance), {"terms": posted})
    assert response.status_code == 200
    assert {t.key for t in guidance.glossary.all()} == {"holiday", "memory stick"}
    text = response.content.decode()
    assert "Glossary saved: 2 added." in text
    assert "no passage of this collection holds “removable media”, so searching for it finds nothing" in text
    assert "“annual leave”" not in text
    assert f">{posted}</textarea>" in text and "Entries (2 of at most 500)" in text


def test_another_curators_collection_is_not_found(client, curator, make_user, make_collection):
    other = make_user("olu@example.gov.uk", roles=[Role.CURATOR])
    theirs = make_collection("finance", owner=other)
    keep(theirs, ("holiday", "annual leave"))
    signed_in(client, curator)
    assert client.get(glossary_url(theirs)).status_code == 404
    assert client.post(glossary_url(theirs), {"terms": "memory stick = removable media"}).status_code == 404
    assert client.get("/curate/c/no-such-collection/glossary/").status_code == 404
    assert [t.key for t in theirs.glossary.all()] == ["holiday"]
    assert not AuditEvent.objects.filter(action=GLOSSARY_UPDATE).exists()


def test_a_co_curator_may_edit_the_glossary(client, curator, make_user, guidance):
    colleague = make_user("cole@example.gov.uk", roles=[Role.CURATOR])
    guidance.curators.add(colleague)
    signed_in(client, colleague)
    assert client.post(glossary_url(guidance), {"terms": "holiday = annual leave"}).status_code == 302
    assert guidance.glossary.count() == 1


def test_readers_and_the_signed_out_are_refused(client, make_user, guidance):
    reader = make_user("rea@example.gov.uk", groups=["HR"])
    url = glossary_url(guidance)
    signed_out = client.get(url)
    assert signed_out.status_code == 302 and "/accounts/login/" in signed_out["Location"]
    assert client.post(url, {"terms": "holiday = annual leave"}).status_code == 302
    signed_in(client, reader)
    assert client.get(url).status_code == 403
    assert client.post(url, {"terms": "holiday = annual leave"}).status_code == 403
    assert not guidance.glossary.exists()


# --- the command ---------------------------------------------------------------------------------


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_prints_the_glossary(hr):
    assert run("glossary", "hr")[0].strip() == "(no entries)"
    keep(hr, ("sick note", "fit note"), ("holiday", "annual leave"))
    assert run("glossary", "hr")[0].splitlines() == ["holiday = annual leave", "sick note = fit note"]


def test_command_loads_a_text_file(hr, curator, tmp_path):
    factories.add_document(hr, ["Fit notes come from your GP."])
    keep(hr, ("holiday", "annual leave"))
    path = tmp_path / "hr.txt"
    path.write_text("# from the helpdesk\nsick note = fit note\nmemory stick -> removable media\n", encoding="utf-8")
    out, err = run("glossary", "hr", "--load", str(path), "--as", curator.email.upper())
    assert "2 entries (2 added, 0 changed, 1 removed)" in out
    assert "no passage holds 'removable media'" in err and "fit note" not in err
    assert sorted((t.phrase, t.means) for t in hr.glossary.all()) == [
        ("memory stick", "removable media"),
        ("sick note", "fit note"),
    ]
    assert AuditEvent.objects.get(action=GLOSSARY_UPDATE).actor_id == curator.pk


def test_command_loads_json_lines(hr, tmp_path):
    path = tmp_path / "hr.jsonl"
    rows = [{"phrase": "holiday", "means": "annual leave"}, {"phrase": "sick note", "means": "fit note"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out, _ = run("glossary", "hr", "--load", str(path))
    assert "2 entries (2 added" in out
    assert glossary_lines(hr) == "holiday = annual leave\nsick note = fit note"
    assert AuditEvent.objects.get(action=GLOSSARY_UPDATE).actor_id is None


def test_command_refuses_a_bad_text_file_naming_the_line(hr, tmp_path):
    keep(hr, ("holiday", "annual leave"))
    path = tmp_path / "bad.txt"
    path.write_text("sick note = fit note\n\nmemory stick removable media\n", encoding="utf-8")
    with pytest.raises(CommandError, match="line 3: Write it as"):
        run("glossary", "hr", "--load", str(path))
    assert [t.key for t in hr.glossary.all()] == ["holiday"]


def test_command_refuses_a_bad_json_line_naming_it(hr, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"phrase": "holiday", "means": "annual leave"}\n{"phrase": "sick note"}\n', encoding="utf-8")
    with pytest.raises(CommandError, match="line 2: not an object with phrase and means"):
        run("glossary", "hr", "--load", str(path))
    assert not hr.glossary.exists()


def test_command_names_the_files_own_line_in_json_lines(hr, tmp_path):
    """Blank lines are allowed in a JSON lines file: an error is still reported at the file's line."""
    path = tmp_path / "dup.jsonl"
    path.write_text(
        '{"phrase": "holiday", "means": "annual leave"}\n\n{"phrase": "Holiday", "means": "leave"}\n', encoding="utf-8"
    )
    with pytest.raises(CommandError) as error:
        run("glossary", "hr", "--load", str(path))
    assert "line 3: “Holiday” is already on line 1" in str(error.value)


def test_command_refuses_an_unknown_collection_account_or_file(hr, tmp_path):
    path = tmp_path / "hr.txt"
    path.write_text("holiday = annual leave\n", encoding="utf-8")
    with pytest.raises(CommandError, match="No collection 'nope'"):
        run("glossary", "nope")
    with pytest.raises(CommandError, match="No collection 'nope'"):
        run("glossary", "nope", "--load", str(path))
    with pytest.raises(CommandError, match="No account"):
        run("glossary", "hr", "--load", str(path), "--as", "nobody@example.gov.uk")
    with pytest.raises(CommandError, match="Cannot read"):
        run("glossary", "hr", "--load", str(tmp_path / "missing.txt"))
    assert not hr.glossary.exists()
