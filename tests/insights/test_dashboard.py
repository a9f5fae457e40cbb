"""Insights dashboards: hand-counted figures, collection isolation, privacy, access and audit."""

# Over 400 lines by design: one hand-counted seeded dataset (tests/insights/conftest.py) checked figure by
# figure, table by table; split, each file would re-seed it.

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlencode

import pytest
from django.test import Client

from accounts.roles import Role
from audit.models import AuditEvent
from tests.insights.conftest import ALL_QUESTIONS, ASKER_EMAILS, PARENTAL, TRAVEL_QUESTIONS

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def csv_table(client: Client, slug: str, table: str, period: int = 30) -> list[list[str]]:
    response = client.get(f"/insights/{slug}/", {"period": period, "format": "csv", "table": table})
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def last_rows(rows: list[list[str]], n: int) -> list[list[str]]:
    """The last ``n`` data rows (days are oldest first, so the last rows are the most recent days)."""
    return rows[-n:]


# --- Figures -------------------------------------------------------------------------------


def test_questions_per_day_match_hand_counts(seeded):
    """Questions per day by outcome for the last 3 days are exactly those counted in the fixture."""
    rows = csv_table(client_for(seeded.hr_curator), "hr", "questions")
    assert rows[0] == ["Date", "Questions", "Answered", "Not covered", "Failed", "Other"]
    assert len(rows) == 1 + 30  # one row per day, zeros included
    d3, d2, d1, today = last_rows(rows, 4)
    assert d3[1:] == ["4", "3", "1", "0", "0"]
    assert d2[1:] == ["4", "2", "2", "0", "0"]
    assert d1[1:] == ["9", "1", "5", "2", "1"]
    assert today[1:] == ["0", "0", "0", "0", "0"]
    assert sum(int(r[1]) for r in rows[1:]) == 17


def test_answers_with_doubted_sentences_are_counted(seeded):
    """Answers whose claim check marked a sentence (unsupported or uncited) are counted: two in 30 days;
    a checked answer with nothing marked, and answers never checked, are not."""
    from insights.selectors import Period
    from insights.tables import Dashboard

    board = Dashboard(seeded.hr, Period.last(30))
    assert board.totals["doubted"] == 2
    page = client_for(seeded.hr_curator).get("/insights/hr/", {"period": 30}).content.decode()
    assert "Answers with a sentence its sources may not support" in page


def test_answers_the_guidance_only_just_covered_are_counted(seeded):
    """One answer in 30 days said it may not answer exactly (``coverage.caution``); one that did not,
    and answers recorded before the caution existed, are not counted."""
    from insights.selectors import Period
    from insights.tables import Dashboard

    assert Dashboard(seeded.hr, Period.last(30)).totals["cautioned"] == 1
    page = client_for(seeded.hr_curator).get("/insights/hr/", {"period": 30}).content.decode()
    assert re.search(r"Answers the guidance only just covered</dt>\s*<dd[^>]*>1</dd>", page)


def test_outcome_shares_match_hand_counts(seeded):
    """17 questions in 30 days: 6 answered (35%), 8 not covered (47%), 2 failed (12%), 1 other (6%)."""
    rows = csv_table(client_for(seeded.hr_curator), "hr", "outcomes")
    assert rows[1:] == [
        ["Answered", "6", "35%"],
        ["Not covered by the guidance", "8", "47%"],
        ["Failed (error or stalled)", "2", "12%"],
        ["Stopped or refused", "1", "6%"],
        ["All questions", "17", "100%"],
    ]


def test_feedback_counts_latest_rating_of_each_answer(seeded):
    """A2 was rated up then down: only the down counts. Up 1/1/0 and down 1/1/1 over the last 3 days."""
    rows = csv_table(client_for(seeded.hr_curator), "hr", "feedback")
    d3, d2, d1 = last_rows(rows, 4)[:3]
    assert (d3[1:], d2[1:], d1[1:]) == (["1", "1"], ["1", "1"], ["0", "1"])


def test_time_to_first_token_median_and_p90(seeded):
    """Median and 90th percentile (continuous) of each day's times, answers without a time left out."""
    rows = csv_table(client_for(seeded.hr_curator), "hr", "first_token")
    d3, d2, d1 = last_rows(rows, 4)[:3]
    assert d3[1:] == ["4", "150", "270"]  # 50, 100, 200, 300
    assert d2[1:] == ["4", "225", "470"]  # 50, 50, 400, 500
    assert d1[1:] == ["7", "50", "640"]  # 50 x5, 600, 700 (error and refusal untimed)


def test_cost_by_day(seeded):
    """Costs summed per day and currency: 0.061, 0.092 and 0.067 GBP."""
    rows = csv_table(client_for(seeded.hr_curator), "hr", "cost")
    assert rows[1:] == [
        [rows[1][0], "GBP", "0.061", "4"],
        [rows[2][0], "GBP", "0.092", "4"],
        [rows[3][0], "GBP", "0.067", "7"],
    ]


def test_period_selector_changes_the_window(seeded):
    """7 days counts the same 17; 90 days adds the answer of 40 days ago; 100 days ago is never counted."""
    client = client_for(seeded.hr_curator)
    for period, questions, answered in ((7, 17, 6), (30, 17, 6), (90, 18, 7)):
        rows = csv_table(client, "hr", "outcomes", period=period)
        assert rows[1][1] == str(answered)
        assert rows[-1][1] == str(questions)


def test_documents_tables_with_every_row_shown(seeded, settings):
    """With a threshold of one asker: A cited by 5 answers (2 rated down), B by 2 (1), C never, C stale."""
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 1
    client = client_for(seeded.hr_curator)
    assert csv_table(client, "hr", "most_cited")[1:] == [
        ["Annual leave policy", "5"],
        ["Shared parental leave guidance", "2"],
    ]
    assert csv_table(client, "hr", "rated_down")[1:] == [
        ["Annual leave policy", "2", "5"],
        ["Shared parental leave guidance", "1", "2"],
    ]
    never = csv_table(client, "hr", "never_cited")
    assert [row[0] for row in never[1:]] == ["Flexible working"]  # the retired D is not listed
    assert [row[0] for row in csv_table(client, "hr", "never_cited", period=90)[1:]] == []
    stale = csv_table(client, "hr", "stale")
    assert [row[0] for row in stale[1:]] == ["Flexible working"]  # 12 months after its upload: overdue
    assert int(stale[1][2]) in (399, 400)
    assert stale[1][3] == "Overdue"


def test_stale_age_is_a_setting(seeded, settings):
    """Without review dates (a collection with no review period), documents older than
    HUMPHREY_INSIGHTS_STALE_DAYS are stale: at 7 days, A and B are too. The most cited come first (A,
    cited by 5 people), then the oldest (B's 2 askers are under the threshold: ordered as uncited)."""
    settings.HUMPHREY_INSIGHTS_STALE_DAYS = 7
    seeded.hr.review_months = 0
    seeded.hr.save(update_fields=["review_months"])
    rows = csv_table(client_for(seeded.hr_curator), "hr", "stale")
    assert [row[0] for row in rows[1:]] == ["Annual leave policy", "Flexible working", "Shared parental leave guidance"]
    assert [row[3] for row in rows[1:]] == ["No review date"] * 3


def test_gap_topics_group_by_meaning(seeded, settings):
    """Parental-leave gaps form one topic of 6 (5 not covered, 1 rated down, that one also only just
    covered), nearest document B."""
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 5
    rows = csv_table(client_for(seeded.hr_curator), "hr", "topics")
    assert rows[0] == ["Topic", "Questions", "Not covered", "Rated down", "Only just covered", "Nearest documents"]
    assert len(rows) == 2  # the mileage topic (2 askers) and the single questions are held back
    label, size, not_covered, rated_down, only_just, nearest = rows[1]
    assert set(label.split(", ")) == {"shared", "parental", "leave", "pay", "entitlement"}
    assert (size, not_covered, rated_down, only_just) == ("6", "5", "1", "1")
    # Nearest first, and only hr's documents: travel's T is worded exactly like the questions.
    assert nearest.split("; ")[0] == "Shared parental leave guidance"
    assert "Overseas travel" not in nearest


def test_an_answer_the_guidance_only_just_covered_is_a_gap(seeded):
    """Answered, not rated down, but only just covered (``coverage.caution``): among the gaps, marked
    so; an answered question that was covered well is not."""
    from insights.selectors import Period, gap_rows
    from tests.insights.conftest import _answer

    asker = seeded.askers[2]
    thin = _answer("T1", asker, question="Can I take my dog to the office", outcome="answered", days_ago=1,
                   minute=30, cites=[seeded.docs["A"]], caution=True)  # fmt: skip
    clear = _answer("T2", asker, question="How many days of leave", outcome="answered", days_ago=1, minute=31,
                    cites=[seeded.docs["A"]], caution=False)  # fmt: skip
    rows, total = gap_rows(seeded.hr, Period.last(30), limit=100)
    by_event = {r.event_id: r for r in rows}
    assert by_event[thin.pk].only_just and not by_event[thin.pk].not_covered and not by_event[thin.pk].rated_down
    assert clear.pk not in by_event
    assert total == len(rows)


def test_small_topics_hidden_until_threshold_met(seeded, settings):
    """At a threshold of 2 askers the mileage topic (3 questions, 2 askers) appears; at 5 it is hidden."""
    client = client_for(seeded.hr_curator)
    page = client.get("/insights/hr/").content.decode()
    assert "mileage" not in page.lower()
    assert "3 smaller topics (5 questions) not shown: fewer than 5 people are behind each." in page
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 2
    rows = csv_table(client, "hr", "topics")
    mileage = [row for row in rows[1:] if "mileage" in row[0]]
    assert len(mileage) == 1
    assert mileage[0][1:4] == ["3", "3", "0"]


def test_rows_from_few_askers_are_hidden_in_document_tables(seeded):
    """At the default threshold (5), B (2 askers) is not in "most cited", and no rated-down row shows."""
    client = client_for(seeded.hr_curator)
    assert csv_table(client, "hr", "most_cited")[1:] == [["Annual leave policy", "5"]]
    assert csv_table(client, "hr", "rated_down")[1:] == []
    page = client.get("/insights/hr/").content.decode()
    assert "1 cited document not shown: fewer than 5 people are behind it." in page


# --- Privacy -------------------------------------------------------------------------------


def test_no_question_text_when_setting_is_off(seeded):
    """With HUMPHREY_INSIGHTS_SHOW_QUESTIONS off, no question appears in the page or any CSV."""
    client = client_for(seeded.hr_curator)
    page = client.get("/insights/hr/").content.decode()
    exports = "".join(
        "\n".join(",".join(row) for row in csv_table(client, "hr", table))
        for table in ("topics", "questions", "most_cited")
    )
    for text in ALL_QUESTIONS.values():
        assert text not in page
        assert text not in exports
    assert "Example questions" not in page


def test_examples_shown_when_allowed_never_with_personal_data(seeded, settings):
    """With the setting on, up to 3 parental questions (one per asker) appear; never the one with an NI number."""
    settings.HUMPHREY_INSIGHTS_SHOW_QUESTIONS = True
    client = client_for(seeded.hr_curator)
    rows = csv_table(client, "hr", "topics")
    assert rows[0][5] == "Example questions"
    examples = rows[1][5].split("; ")
    assert 1 <= len(examples) <= 3
    assert set(examples) <= set(PARENTAL.values()) - {PARENTAL["N2"]}
    page = client.get("/insights/hr/").content.decode()
    assert examples[0] in page
    # each example opens the collection's "Try a question" page on it: what chat answers now, and why
    assert f'href="/curate/c/hr/try/?{urlencode({"q": examples[0]})}"' in page
    assert "AB123456C" not in page
    assert PARENTAL["N2"] not in page


def test_no_user_emails_anywhere(seeded, settings):
    """Curators never see who asked: no asker's email in the page or any CSV, questions shown or not."""
    settings.HUMPHREY_INSIGHTS_SHOW_QUESTIONS = True
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 1
    client = client_for(seeded.hr_curator)
    texts = [client.get(f"/insights/hr/?period={p}").content.decode() for p in (7, 30, 90)]
    from insights.tables import TABLES

    for table in TABLES:
        texts.append("\n".join(",".join(row) for row in csv_table(client, "hr", table)))
    for text in texts:
        for email in ASKER_EMAILS:
            assert email not in text
        assert "asker" not in text


# --- Isolation and access -------------------------------------------------------------------


def test_curator_of_one_collection_sees_nothing_of_another(seeded):
    """The hr curator gets 404 for travel (page and CSV), and nothing of travel's reaches the hr dashboard."""
    client = client_for(seeded.hr_curator)
    assert client.get("/insights/travel/").status_code == 404
    assert client.get("/insights/travel/", {"format": "csv", "table": "questions"}).status_code == 404
    assert client.get("/insights/no-such-collection/").status_code == 404
    index = client.get("/insights/").content.decode()
    assert "/insights/hr/" in index
    assert "/insights/travel/" not in index
    page = client.get("/insights/hr/").content.decode()
    for text in TRAVEL_QUESTIONS:
        assert text not in page
    assert "Overseas travel" not in page  # travel's document, cited by X1 which also searched hr
    assert "embassy" not in page.lower()
    # Travel's own curator sees travel's figures: 6 not covered + 1 answered + X1 = 8 questions.
    rows = csv_table(client_for(seeded.travel_curator), "travel", "outcomes")
    assert rows[-1] == ["All questions", "8", "100%"]


def test_auditor_sees_every_collection(seeded, auditor):
    """Auditors see every collection's dashboard, with the same figures as its curator."""
    client = client_for(auditor)
    assert client.get("/insights/hr/").status_code == 200
    assert client.get("/insights/travel/").status_code == 200
    assert csv_table(client, "hr", "outcomes")[-1] == ["All questions", "17", "100%"]
    index = client.get("/insights/").content.decode()
    assert "/insights/hr/" in index and "/insights/travel/" in index


def test_civil_servant_and_strangers_get_404(seeded, civil_servant, make_user):
    """A civil servant, or a curator of no collection, cannot tell a collection exists; anonymous must sign in."""
    plain = client_for(civil_servant)
    assert plain.get("/insights/").status_code == 404
    assert plain.get("/insights/hr/").status_code == 404
    assert plain.get("/insights/hr/", {"format": "csv", "table": "questions"}).status_code == 404
    other = client_for(make_user("other-curator@example.gov.uk", roles=[Role.CURATOR]))
    assert other.get("/insights/hr/").status_code == 404
    assert other.get("/insights/").status_code == 200
    anonymous = Client().get("/insights/hr/")
    assert anonymous.status_code == 302
    assert "/accounts/login/" in anonymous["Location"]


def test_named_curator_who_is_not_owner_has_access(seeded, make_user):
    """A curator named on the collection (not its owner) sees its dashboard."""
    helper = make_user("helper@example.gov.uk", roles=[Role.CURATOR])
    seeded.hr.curators.add(helper)
    assert client_for(helper).get("/insights/hr/").status_code == 200


# --- Audit and bad input --------------------------------------------------------------------


def test_every_view_and_export_is_audited(seeded):
    """Each dashboard view and each CSV export writes one audit event naming the collection and filters."""
    client = client_for(seeded.hr_curator)
    before = AuditEvent.objects.filter(action__startswith="insights.").count()
    client.get("/insights/hr/?period=7")
    csv_table(client, "hr", "topics", period=90)
    events = list(AuditEvent.objects.filter(action__startswith="insights.").order_by("seq"))
    assert len(events) == before + 2
    view, export = events[-2:]
    assert (view.action, view.actor_id, view.subject) == ("insights.view", seeded.hr_curator.pk, "collection:hr")
    assert view.data["period_days"] == 7
    assert (export.action, export.subject) == ("insights.export", "collection:hr")
    assert export.data["table"] == "topics" and export.data["period_days"] == 90


def test_bad_input_gets_a_clear_error(seeded):
    """An unknown period or table is a 400 with an error summary, recorded as an invalid view."""
    client = client_for(seeded.hr_curator)
    response = client.get("/insights/hr/", {"period": "12"})
    assert response.status_code == 400
    assert "Choose the last 7, 30 or 90 days" in response.content.decode()
    response = client.get("/insights/hr/", {"format": "csv", "table": "users"})
    assert response.status_code == 400
    assert "Choose a table to export" in response.content.decode()
    assert client.get("/insights/hr/", {"format": "csv"}).status_code == 400
    assert client.get("/insights/hr/", {"format": "xml"}).status_code == 400
    last = AuditEvent.objects.filter(action="insights.view").order_by("-seq").first()
    assert last.outcome == "invalid"


def test_page_has_charts_and_accessible_tables(seeded):
    """Five SVG charts, each beside a table with a caption and scoped headers; no inline style or script."""
    page = client_for(seeded.hr_curator).get("/insights/hr/").content.decode()
    assert page.count('<svg class="app-chart__svg"') == 5
    assert page.count("<caption") == 11
    assert 'scope="col"' in page and 'scope="row"' in page
    assert "style=" not in page
    assert "<script>" not in page and "<script " not in page.replace('<script src="', "").replace(
        '<script type="module" src="', ""
    )


# --- Links, embedding cache, retention ------------------------------------------------------


def test_documents_link_to_their_versions_page(seeded, settings):
    """Each document row links to the document's curation page, which lists its versions."""
    from django.urls import reverse

    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 1
    page = client_for(seeded.hr_curator).get("/insights/hr/").content.decode()
    for key in ("A", "B", "C"):
        assert f'href="{reverse("documents:document", args=[seeded.docs[key].pk])}"' in page
    assert reverse("documents:document", args=[seeded.docs["T"].pk]) not in page
    assert f'href="{reverse("documents:collection_glossary", args=["hr"])}"' in page, "gaps point to the glossary"


def test_auditor_who_is_not_curator_gets_plain_titles(seeded, auditor, settings):
    """The curation pages are for curators: an auditor sees document titles without links to them."""
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 1
    page = client_for(auditor).get("/insights/hr/").content.decode()
    assert "Annual leave policy" in page
    assert "/curate/documents/" not in page
    assert "/glossary/" not in page


def test_question_embeddings_are_cached_by_event(seeded, monkeypatch):
    """The 11 gap questions with text are embedded once; a second view embeds nothing new."""
    from documents.embeddings import FakeEmbeddings
    from insights.models import QuestionEmbedding

    client = client_for(seeded.hr_curator)
    client.get("/insights/hr/")
    gap_keys = ["N1", "N2", "N3", "N4", "N5", "M1", "M2", "M3", "A2", "A5", "X1"]
    cached = set(QuestionEmbedding.objects.values_list("event_id", flat=True))
    assert cached == {seeded.events[key].pk for key in gap_keys}

    def refuse(self, texts):
        raise AssertionError(f"re-embedded {len(texts)} questions")

    monkeypatch.setattr(FakeEmbeddings, "embed_documents", refuse)
    assert "entitlement" in client.get("/insights/hr/").content.decode()


def test_retention_purge_removes_cached_embeddings(seeded):
    """When the purge removes question text, the cached embeddings go in the same transaction; counts remain."""
    from insights.models import QuestionEmbedding
    from tests.insights.conftest import purge_everything_as_if_old

    client = client_for(seeded.hr_curator)
    client.get("/insights/hr/")
    assert QuestionEmbedding.objects.count() == 11
    purge_everything_as_if_old()
    assert QuestionEmbedding.objects.count() == 0
    page = client.get("/insights/hr/").content.decode()
    assert "11 questions are counted but not grouped: their text was purged." in page
    assert csv_table(client, "hr", "outcomes")[-1] == ["All questions", "17", "100%"]


def test_questions_asked_of_everything_count_where_their_passages_came_from(seeded):
    """With no collection chosen (collections []), an answer counts for the collections of its passages only."""
    from tests.insights.conftest import _answer

    hr_asker, travel_asker = seeded.askers[0], seeded.askers[1]
    _answer("Y1", hr_asker, question="Leave?", outcome="answered", days_ago=5, minute=0, collections=(),
            ttft=10, cost=0.001, cites=[seeded.docs["A"]])  # fmt: skip
    _answer("Y2", travel_asker, question="Trains?", outcome="answered", days_ago=5, minute=1, collections=(),
            ttft=10, cost=0.001, cites=[seeded.docs["T"]])  # fmt: skip
    _answer("Y3", travel_asker, question="Nothing found", outcome="no_answer", days_ago=5, minute=2,
            collections=())  # fmt: skip
    hr = csv_table(client_for(seeded.hr_curator), "hr", "questions")
    travel = csv_table(client_for(seeded.travel_curator), "travel", "questions")
    assert hr[-6][1:3] == ["1", "1"]  # 5 days ago: Y1 only
    assert travel[-6][1:3] == ["1", "1"]  # Y2 only
    assert csv_table(client_for(seeded.hr_curator), "hr", "outcomes")[-1] == ["All questions", "18", "100%"]


def test_a_question_asked_of_everything_is_not_counted_where_no_passage_came_from(seeded, settings):
    """Measured before: a question asked of everything the asker may read counted for every collection
    they may read, so a curator saw gaps (and, with the setting, questions) from collections they do
    not curate. Now: counted only where its passages came from; an explicit choice still counts."""
    from tests.insights.conftest import _answer

    settings.HUMPHREY_INSIGHTS_SHOW_QUESTIONS = True
    asker = seeded.askers[0]
    _answer("E1", asker, question="Secret travel budget for the minister", outcome="no_answer", days_ago=5,
            minute=0, collections=(), searched=("hr", "travel"), cites=[seeded.docs["T"]])  # fmt: skip
    _answer("E2", asker, question="Nothing anywhere", outcome="no_answer", days_ago=5, minute=1,
            collections=(), searched=("hr", "travel"))  # fmt: skip
    _answer("E3", asker, question="Chosen and not found", outcome="no_answer", days_ago=5, minute=2,
            collections=("hr",))  # fmt: skip
    hr = csv_table(client_for(seeded.hr_curator), "hr", "questions")
    travel = csv_table(client_for(seeded.travel_curator), "travel", "questions")
    assert hr[-6][1:4] == ["1", "0", "1"]  # 5 days ago: E3 only (chosen), not E1 nor E2
    assert travel[-6][1:4] == ["1", "0", "1"]  # E1 (its passages), not E2
    gaps = client_for(seeded.hr_curator).get("/insights/hr/").content.decode()
    assert "Secret travel budget" not in gaps


def test_only_the_most_recent_gaps_are_grouped_beyond_the_cap(seeded, settings):
    """With a cap of 4, the 4 most recent gap questions are grouped and the page says 11 were found."""
    settings.HUMPHREY_INSIGHTS_MAX_GAP_QUESTIONS = 4
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 1
    client = client_for(seeded.hr_curator)
    page = client.get("/insights/hr/").content.decode()
    assert "Only the most recent 4 of 11 were grouped." in page
    rows = csv_table(client, "hr", "topics")
    assert sum(int(row[1]) for row in rows[1:]) == 4


class OfficialOnlyEmbeddings:
    """The fake embedder as if it were a remote endpoint approved up to OFFICIAL."""

    def __new__(cls, **config):
        from documents.embeddings import FakeEmbeddings

        embedder = FakeEmbeddings()
        embedder.max_marking = "OFFICIAL"
        return embedder


def test_questions_are_not_sent_to_an_embedder_not_approved_for_every_marking(seeded, settings):
    """Grouping gaps into topics embeds the questions' text; a question may have been asked of any
    collection its asker reads, so an embedder approved below the site's highest marking gets none:
    the topics table says why instead."""
    from insights.models import QuestionEmbedding

    settings.HUMPHREY_EMBEDDINGS = {"CLASS": f"{__name__}.OfficialOnlyEmbeddings", "CONFIG": {}}
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 5
    page = client_for(seeded.hr_curator).get("/insights/hr/").content.decode()
    assert "counted but not grouped into topics" in page
    assert "approved up to OFFICIAL; this site serves OFFICIAL-SENSITIVE" in page
    assert QuestionEmbedding.objects.count() == 0
    assert len(csv_table(client_for(seeded.hr_curator), "hr", "topics")) == 1  # the header only
