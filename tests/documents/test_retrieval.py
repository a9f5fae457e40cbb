"""Hybrid retrieval: what a user gets back, what they never get back, and both vector plans.

Chunks are written directly here (ingestion has its own tests); embeddings come from the fake
hashed bag-of-words embedder, so shared words mean nearby vectors.
"""

# Over 400 lines by design: one library of collections and passages, every access rule and plan checked
# against it; the Hypothesis oracle lives in test_retrieval_properties.py.

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.db import DataError, connection

from documents.models import Chunk, Collection, Document, Marking
from documents.retrieval import (
    PLAN_EMPTY,
    PLAN_EXACT,
    PLAN_HNSW,
    PLAN_HNSW_FALLBACK,
    Passage,
    RetrievalParams,
    allowed_markings,
    passages_for_user,
    retrieve,
    supports_iterative_scans,
)
from tests.factories import FAKE, add_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_embeddings(settings):
    """Questions are embedded by the fake embedder: no model loads in these tests."""
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}


def make_collection(slug: str, *, groups=(), marking=Marking.OFFICIAL, active=True) -> Collection:
    collection = Collection.objects.create(name=slug.title(), slug=slug, marking=marking, is_active=active)
    for name in groups:
        collection.reader_groups.add(Group.objects.get_or_create(name=name)[0])
    return collection


@pytest.fixture
def library(make_user):
    """Two readable collections for HR staff, one for finance only, one retired, one sensitive."""
    hr = make_collection("hr", groups=["HR"])
    travel = make_collection("travel", groups=["HR"])
    finance = make_collection("finance", groups=["Finance"])
    retired = make_collection("retired", groups=["HR"], active=False)
    sensitive = make_collection("sensitive", groups=["HR"], marking=Marking.OFFICIAL_SENSITIVE)
    add_document(
        hr,
        [
            "Annual leave is 25 days a year rising to 30 days after five years of service.",
            "Sick leave must be reported to your line manager before 10am on the first day.",
            "Flexible working requests are answered within three months.",
        ],
        title="Leave policy",
        headings=["Leave > Annual", "Leave > Sickness", "Working patterns"],
    )
    add_document(travel, ["Claim T&S expenses within 28 days using form MPM A.4 after travel."], title="Travel")
    add_document(finance, ["Annual leave purchase scheme: finance approves buying extra annual leave days."])
    add_document(retired, ["Annual leave was 20 days a year under the old retired scheme."])
    add_document(sensitive, ["Annual leave for staff on sensitive postings is negotiated locally."])
    user = make_user("hr@example.gov.uk", groups=["HR"])
    return {"user": user, "hr": hr, "travel": travel, "finance": finance, "retired": retired, "sensitive": sensitive}


def test_best_passage_first_with_full_provenance(library):
    """The chunk that answers the question comes first, carrying document, version, place and both scores."""
    passages = passages_for_user(user=library["user"], query="how many days of annual leave a year", k=3)
    assert passages, "expected results"
    top = passages[0]
    assert isinstance(top, Passage)
    assert top.text.startswith("Annual leave is 25 days")
    assert top.document_title == "Leave policy"
    assert top.collection_slug == "hr"
    assert top.heading_path == "Leave > Annual"
    assert top.anchor == "section 1"
    assert top.version_number == 1 and len(top.version_sha256) == 64
    document = Document.objects.get(pk=top.document_id)
    assert document.current_version_id == top.version_id
    assert top.source_name == document.source_name
    assert top.text == Chunk.objects.get(pk=top.chunk_id).text
    assert top.vector_score is not None and top.vector_score > 0
    assert top.keyword_score is not None and top.keyword_score > 0
    assert [p.rank for p in passages] == list(range(1, len(passages) + 1))
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)


def test_never_returns_unreadable_retired_or_too_sensitive_passages(library):
    """Finance's, the retired collection's and (for an OFFICIAL caller) sensitive passages never appear."""
    passages = passages_for_user(user=library["user"], query="annual leave days", k=20, max_marking="OFFICIAL")
    slugs = {p.collection_slug for p in passages}
    assert slugs <= {"hr", "travel"}
    assert "hr" in slugs
    everything = passages_for_user(user=library["user"], query="annual leave days", k=20)
    assert {p.collection_slug for p in everything} <= {"hr", "travel", "sensitive"}
    assert "sensitive" in {p.collection_slug for p in everything}


def test_deployment_marking_caps_the_caller(library, settings):
    """A deployment limited to OFFICIAL never serves OFFICIAL-SENSITIVE, whatever the caller allows."""
    settings.HUMPHREY_MAX_MARKING = "OFFICIAL"
    passages = passages_for_user(
        user=library["user"], query="annual leave sensitive postings", k=20, max_marking="OFFICIAL-SENSITIVE"
    )
    assert passages
    assert "sensitive" not in {p.collection_slug for p in passages}
    assert allowed_markings("OFFICIAL-SENSITIVE") == ["OFFICIAL"]


def test_bad_marking_is_a_clear_error(library):
    """An unknown max_marking is refused, not treated as 'no limit'."""
    with pytest.raises(ValueError, match="max_marking"):
        passages_for_user(user=library["user"], query="leave", max_marking="SECRET")


def test_user_without_groups_sees_nothing(library, make_user):
    """Someone in no reader group gets no passages at all, even for words that match."""
    outsider = make_user("outsider@example.gov.uk")
    assert passages_for_user(user=outsider, query="annual leave", k=10) == []


def test_finance_user_sees_only_finance(library, make_user):
    """From the other side: a finance reader never sees HR's leave policy."""
    finance_user = make_user("fin@example.gov.uk", groups=["Finance"])
    passages = passages_for_user(user=finance_user, query="annual leave days a year", k=10)
    assert passages
    assert {p.collection_slug for p in passages} == {"finance"}


def test_inactive_and_anonymous_users_see_nothing(library):
    """A deactivated account, or no account, retrieves nothing."""
    from django.contrib.auth.models import AnonymousUser

    user = library["user"]
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert passages_for_user(user=user, query="annual leave", k=5) == []
    assert passages_for_user(user=AnonymousUser(), query="annual leave", k=5) == []
    assert passages_for_user(user=None, query="annual leave", k=5) == []


def test_an_account_deactivated_mid_conversation_sees_nothing_at_once(library):
    """The check is in the SQL too: a caller still holding the active user object (a socket opened
    before the account was switched off) gets nothing once the row says inactive."""
    from django.contrib.auth import get_user_model

    user = library["user"]
    assert passages_for_user(user=user, query="annual leave", k=5)
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert user.is_active and passages_for_user(user=user, query="annual leave", k=5) == []


def test_losing_a_group_takes_effect_at_once(library):
    """Access is computed in the query, so removing a user from a group hides its passages immediately."""
    user = library["user"]
    assert passages_for_user(user=user, query="annual leave", k=5)
    user.groups.clear()
    assert passages_for_user(user=user, query="annual leave", k=5) == []


def test_collections_restrict_and_unknown_slugs_reveal_nothing(library):
    """Restricting to slugs narrows the search; a slug the user cannot read behaves like one that doesn't exist."""
    only_travel = passages_for_user(user=library["user"], query="annual leave expenses", collections=["travel"])
    assert only_travel and {p.collection_slug for p in only_travel} == {"travel"}
    assert passages_for_user(user=library["user"], query="annual leave", collections=["finance"]) == []
    assert passages_for_user(user=library["user"], query="annual leave", collections=["no-such"]) == []
    assert passages_for_user(user=library["user"], query="annual leave", collections=[]) == []


def test_unsearchable_and_superseded_chunks_are_skipped(library):
    """Chunks not flagged searchable, or of a retired document, are never returned."""
    hidden = add_document(library["hr"], ["Annual leave carry over is five days."], searchable=False)
    retired = add_document(library["hr"], ["Annual leave carry over was ten days."])
    retired.is_active = False  # retired without the flags copied down: the final join still refuses it
    retired.save(update_fields=["is_active"])
    passages = passages_for_user(user=library["user"], query="annual leave carry over days", k=20)
    document_ids = {p.document_id for p in passages}
    assert hidden.pk not in document_ids
    assert retired.pk not in document_ids
    assert passages


def test_keyword_channel_finds_form_codes(library):
    """Codes and acronyms ('T&S', 'MPM A.4') are found by the words channel."""
    for query in ("T&S", "MPM A.4", "form MPM A.4"):
        passages = retrieve(user=library["user"], query=query, k=3, mode="keyword").passages
        assert passages, query
        assert passages[0].document_title == "Travel", query


def test_or_in_a_question_is_english_not_search_syntax(library):
    """ "days or weeks" asks about either: the words are ORed as in any question (PostgreSQL's
    websearch reading would AND the words on each side and find nothing here); a quoted phrase or an
    excluded -word is still taken as search syntax."""
    words_only = RetrievalParams(vector_weight=0.0, code_weight=0.0)
    found = retrieve(user=library["user"], query="how many days or weeks of annual leave", k=3, params=words_only)
    assert found.passages and found.passages[0].text.startswith("Annual leave is 25 days")
    quoted = retrieve(user=library["user"], query='"sick leave" -annual', k=3, params=words_only).passages
    assert [p.text[:10] for p in quoted] == ["Sick leave"]


def test_modes_vector_and_keyword_only(library):
    """Vector-only results carry no fused keyword contribution; keyword-only need a word match."""
    vector_only = retrieve(user=library["user"], query="annual leave", k=5, mode="vector").passages
    assert vector_only and all(p.vector_score is not None for p in vector_only)
    keyword_only = retrieve(user=library["user"], query="zebra crossing", k=5, mode="keyword").passages
    assert keyword_only == []
    with pytest.raises(ValueError, match="mode"):
        retrieve(user=library["user"], query="x", mode="fuzzy")


def test_empty_or_control_character_queries(library):
    """Blank questions retrieve nothing; NUL and control characters are stripped, not sent to PostgreSQL."""
    assert passages_for_user(user=library["user"], query="   ") == []
    passages = passages_for_user(user=library["user"], query="annual\x00 leave\x07")
    assert passages


def test_precomputed_query_vector_is_used_and_checked(library):
    """A caller's precomputed vector is used as given; one of the wrong size is refused."""
    vector = FAKE.embed_query("sick leave line manager")
    passages = retrieve(user=library["user"], query="zzz", query_vector=vector, k=1, mode="vector").passages
    assert passages[0].text.startswith("Sick leave")
    with pytest.raises(ValueError, match="dimensions"):
        passages_for_user(user=library["user"], query="leave", query_vector=[0.1, 0.2])


# --- the two vector plans -------------------------------------------------------------------


@pytest.fixture
def crowded(make_user):
    """A selective filter: the user may read 5 chunks among 300 that look alike."""
    shared = make_collection("shared", groups=["Everyone"])
    mine = make_collection("mine", groups=["Few"])
    add_document(shared, [f"Guidance on procurement thresholds and contract value number {i}" for i in range(300)])
    add_document(mine, [f"Guidance on procurement rules for team {i} in my unit" for i in range(5)])
    user = make_user("few@example.gov.uk", groups=["Few"])
    return user


def analyze_chunks() -> None:
    """Planner statistics for the chunks as they are now (the test database is never auto-analysed)."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE documents_chunk")


def force_index_scans() -> None:
    """Make the planner use indexes wherever it can (this transaction only), as it would at scale."""
    with connection.cursor() as cursor:
        for knob in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {knob} = off")


def test_exact_plan_below_threshold(crowded):
    """A small readable population is searched exactly: every readable chunk can be found."""
    result = retrieve(user=crowded, query="procurement guidance", k=5, mode="vector")
    assert result.plan == PLAN_EXACT
    assert len(result.passages) == 5
    assert {p.collection_slug for p in result.passages} == {"mine"}


def test_hnsw_plan_selective_filter_still_returns_k_without_iterative_scans(crowded):
    """On a pgvector without iterative scans (0.6/0.7, here switched off) the HNSW index visits
    ef_search candidates and a 5-in-305 filter comes back short; the exact fallback fills it to k."""
    force_index_scans()
    params = RetrievalParams(exact_below=1, ef_search=10, ef_search_min=10, vector_depth=5, iterative_scan=False)
    result = retrieve(user=crowded, query="procurement guidance", k=5, mode="vector", params=params)
    assert result.notes["iterative_scan"] is False
    assert result.plan == PLAN_HNSW_FALLBACK
    assert len(result.passages) == 5
    assert {p.collection_slug for p in result.passages} == {"mine"}


def test_hnsw_plan_selective_filter_returns_k_by_iterative_scan(crowded):
    """pgvector 0.8 (the embedded server's): the index scan itself goes on past ef_search until the
    filter has let k rows through, so the same 5-in-305 search is answered by the index alone."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        assert supports_iterative_scans(cursor.fetchone()[0]), "the test database's pgvector must be 0.8+"
    force_index_scans()
    params = RetrievalParams(exact_below=1, ef_search=10, ef_search_min=10, vector_depth=5)
    result = retrieve(user=crowded, query="procurement guidance", k=5, mode="vector", params=params)
    assert result.notes == {"ef_search": 10, "iterative_scan": True}
    assert result.plan == PLAN_HNSW
    assert len(result.passages) == 5
    assert {p.collection_slug for p in result.passages} == {"mine"}


def test_hnsw_plan_uses_the_index_when_unfiltered(make_user):
    """A user who reads everything gets the HNSW plan, and the index is what answers it."""
    everyone = make_collection("open", groups=["Everyone"])
    add_document(everyone, [f"Guidance on procurement thresholds and contract value number {i}" for i in range(60)])
    user = make_user("all@example.gov.uk", groups=["Everyone"])
    force_index_scans()
    params = RetrievalParams(exact_below=10, ef_search=40, vector_depth=10)
    result = retrieve(user=user, query="procurement thresholds", k=5, mode="vector", params=params)
    assert result.plan == PLAN_HNSW
    assert len(result.passages) == 5
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN SELECT id FROM documents_chunk WHERE searchable AND collection_id = ANY(%s) "
            "ORDER BY embedding <=> %s::vector LIMIT 10",
            [[everyone.pk], "[" + ",".join(["0.05"] * 384) + "]"],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "chunk_embedding_hnsw" in plan


def test_empty_plan_when_nothing_readable(crowded, make_user):
    """No readable chunks: no query work and an empty answer."""
    result = retrieve(user=make_user("none@example.gov.uk"), query="procurement", k=5)
    assert result.plan == PLAN_EMPTY and result.passages == []


def test_iterative_scan_detection():
    """Iterative HNSW scans are used only on pgvector 0.8 and later."""
    assert not supports_iterative_scans("0.6.2")
    assert not supports_iterative_scans("0.7.4")
    assert supports_iterative_scans("0.8.0")
    assert supports_iterative_scans("1.0")


def test_code_spans_pick_out_codes_and_numbered_sections():
    """Form codes, acronyms and 'section 21'-style references become phrases for the unstemmed channel."""
    from documents.retrieval import code_spans

    assert code_spans("Can I claim T&S under MPM A.4 or section 21?") == ["T&S", "MPM A.4", "section 21"]
    assert code_spans("What does point 12 of the Service Standard say?") == ["point 12"]
    assert code_spans("how do I book leave") == []
    # A hyphen alone is a word ("sign-on"), found by the English channel; digits or capitals make a code.
    assert code_spans("Which single sign-on do third-party tools use?") == []
    assert code_spans("Is COVID-19 guidance OFFICIAL-SENSITIVE?") == ["COVID-19", "OFFICIAL-SENSITIVE"]
    # A number after a function word is prose ("or 3", "within 28"), not a reference like "point 12".
    assert code_spans("Who is told about category 1, 2 or 3 incidents within 28 days?") == ["category 1 2"]


@pytest.mark.parametrize(
    ("exact_below", "way_in"),
    [(2_000, "the user's own chunks, each tested"), (1, "the full-text and collection indexes intersected")],
)
def test_the_words_channel_finds_only_readable_matches_whichever_way_in(crowded, make_user, exact_below, way_in):
    """A 5-in-305 reader: as a small population (exact plan) or, with the threshold lowered, as a
    middling share (bitmap AND of the two indexes): the same matches, all from what they may read.
    A reader of everything (the broad way in: full-text index, then the access filter) finds the
    same five first, though a word of the question is in all 305 chunks."""
    force_index_scans()
    params = RetrievalParams(exact_below=exact_below, vector_weight=0.0, code_weight=0.0)
    few = retrieve(user=crowded, query="procurement rules team", k=8, params=params)
    assert len(few.passages) == 5, way_in
    assert {p.collection_slug for p in few.passages} == {"mine"}
    everyone = make_user("both@example.gov.uk", groups=["Everyone", "Few"])
    # The broad way in searches the rarest words only, by the statistics (as a table big enough to be
    # searched that way has them): "procurement", in every chunk, must not crowd out "rules team".
    analyze_chunks()
    broad = retrieve(user=everyone, query="procurement rules team", k=8, params=params)
    assert [p.collection_slug for p in broad.passages[:5]] == ["mine"] * 5
    assert {p.chunk_id for p in few.passages} == {p.chunk_id for p in broad.passages[:5]}


def test_plan_from_planner_statistics_on_a_big_table(crowded, make_user):
    """Once the table is analysed and bigger than the threshold, the population is estimated from
    pg_stats (no counting scan): a 5-chunk reader still gets the exact plan, an all-reader the index."""
    analyze_chunks()
    params = RetrievalParams(exact_below=100, vector_depth=5)
    selective = retrieve(user=crowded, query="procurement guidance", k=5, mode="vector", params=params)
    assert selective.plan == PLAN_EXACT
    assert 1 <= selective.population < 100
    assert len(selective.passages) == 5 and {p.collection_slug for p in selective.passages} == {"mine"}
    everyone = make_user("every@example.gov.uk", groups=["Everyone", "Few"])
    broad = retrieve(user=everyone, query="procurement guidance", k=5, mode="vector", params=params)
    assert broad.plan in (PLAN_HNSW, PLAN_HNSW_FALLBACK)
    assert broad.population >= 100
    assert len(broad.passages) == 5


def test_a_code_in_too_many_chunks_is_no_signal(make_user):
    """The codes channel ranks at most code_scan_limit matches: a 'code' in more chunks than that
    ("AI" in guidance about AI) is skipped, a rare one is still found."""
    everyone = make_collection("codes", groups=["Everyone"])
    add_document(everyone, [f"ABC guidance note {i} for the team." for i in range(5)] + ["Form XYZ 9 is for claims."])
    user = make_user("codes@example.gov.uk", groups=["Everyone"])
    only_codes = RetrievalParams(vector_weight=0.0, keyword_weight=0.0, code_weight=0.5, code_scan_limit=3)
    assert retrieve(user=user, query="ABC", k=5, params=only_codes).passages == []
    rare = retrieve(user=user, query="XYZ 9", k=5, params=only_codes).passages
    assert [p.text for p in rare] == ["Form XYZ 9 is for claims."]
    roomy = RetrievalParams(vector_weight=0.0, keyword_weight=0.0, code_weight=0.5, code_scan_limit=10)
    assert len(retrieve(user=user, query="ABC", k=5, params=roomy).passages) == 5


def test_ef_search_follows_the_share_the_user_can_read(crowded, make_user):
    """Unknown share: the ceiling. Someone who reads everything: the floor. A 1-in-60 reader: the ceiling."""
    from documents.retrieval.tuning import ef_search as _ef_search

    params = RetrievalParams(ef_search=400, ef_search_min=100, vector_depth=40)
    now = time.monotonic()
    assert _ef_search(params, 40, None) == 400
    assert _ef_search(params, 40, (1.0, now)) == 100
    assert _ef_search(params, 40, (0.5, now)) == 200
    assert _ef_search(params, 40, (1 / 60, now)) == 400
    assert _ef_search(params, 40, (1.0, now - 3600)) == 400  # stale: the safe choice
    # A table bigger than the 100,000 chunks the defaults were chosen at: both bounds grow with its
    # size to the power 2/3 (8 times the rows: 4 times the search), never past pgvector's maximum of 1,000.
    assert _ef_search(params, 40, (1.0, now), 100_000) == 100
    assert _ef_search(params, 40, (1.0, now), 800_000) == 400
    assert _ef_search(params, 40, (1 / 60, now), 800_000) == 1000
    assert _ef_search(RetrievalParams(ef_search_min=160), 20, None, 1_000_000, iterative=True) == 743
    assert _ef_search(params, 40, None, 4_000_000) == 1000
    # Iterative scans: the filter no longer needs a wider search (the scan goes on by itself); the
    # table's size still widens it.
    assert _ef_search(params, 40, None, iterative=True) == 100
    assert _ef_search(params, 40, (1.0, now), iterative=True) == 100
    assert _ef_search(params, 40, (1 / 60, now), iterative=True) == 100
    assert _ef_search(params, 40, None, 800_000, iterative=True) == 400
    assert _ef_search(params, 400, None, iterative=True) == 400  # never below the depth
    reader = make_user("everything@example.gov.uk", groups=["Everyone", "Few"])
    without = RetrievalParams(ef_search=400, ef_search_min=100, vector_depth=40, iterative_scan=False)
    first = retrieve(user=reader, query="procurement guidance", k=5, params=without)
    again = retrieve(user=reader, query="procurement guidance", k=5, params=without)
    assert first.notes["ef_search"] == 400 and again.notes["ef_search"] == 100
    assert retrieve(user=reader, query="procurement guidance", k=5, params=params).notes["ef_search"] == 100
    assert [p.chunk_id for p in first.passages] == [p.chunk_id for p in again.passages]


@pytest.mark.parametrize(
    ("codes_chunks", "found_if_common_means_over_60_percent"),
    [
        # 40 of 41 readable chunks: expected in more than the scan limit (10) of what the user reads.
        pytest.param([f"ABC guidance note {i} for the team." for i in range(40)], 0, id="over-the-scan-limit"),
        # 5 of 10: under the scan limit for this small reader, but in more than 20% of all chunks
        # (finding its matches would mean reading its whole posting list).
        pytest.param([f"ABC note {i}." for i in range(5)] + ["Other."] * 4, 5, id="in-a-large-share-of-all-chunks"),
    ],
)
def test_a_code_the_statistics_call_common_is_dropped_before_reading_rows(
    make_user, codes_chunks, found_if_common_means_over_60_percent
):
    """Once analysed, a code the statistics call common is dropped from them alone (no matches read),
    as a word would be; a rare code in the same question is still searched."""
    collection = make_collection("common-codes", groups=["Everyone"])
    add_document(collection, [*codes_chunks, "Form XYZ 9 is for claims."])
    user = make_user("stats@example.gov.uk", groups=["Everyone"])
    analyze_chunks()
    only_codes = RetrievalParams(vector_weight=0.0, keyword_weight=0.0, code_weight=0.5, code_scan_limit=10)
    assert retrieve(user=user, query="ABC", k=5, params=only_codes).passages == []
    both = retrieve(user=user, query="ABC or XYZ 9", k=5, params=only_codes).passages
    assert [p.text for p in both] == ["Form XYZ 9 is for claims."]
    relaxed = RetrievalParams(**{**only_codes.__dict__, "common_term_freq": 0.6})
    found = retrieve(user=user, query="ABC", k=5, params=relaxed).passages
    assert len(found) == found_if_common_means_over_60_percent


def test_a_new_analyze_is_seen_by_the_next_question(make_user):
    """The statistics are kept per process, but the next question after an ANALYZE is ranked on the
    new ones: a word that was rare when the copy was read and is common now is no longer searched."""
    collection = make_collection("growing-words", groups=["Everyone"])
    add_document(collection, ["Zebra crossing rules.", "Guidance note on leave."] + [f"Form {i}." for i in range(40)])
    user = make_user("analyse@example.gov.uk", groups=["Everyone"])
    words_only = RetrievalParams(vector_weight=0.0, code_weight=0.0)
    analyze_chunks()
    found = retrieve(user=user, query="zebra note", k=5, params=words_only).passages
    assert {p.text for p in found} == {"Zebra crossing rules.", "Guidance note on leave."}
    add_document(collection, [f"Another note {i}." for i in range(40)])
    analyze_chunks()  # "note" is now in half the chunks: no signal
    found = retrieve(user=user, query="zebra note", k=5, params=words_only).passages
    assert [p.text for p in found] == ["Zebra crossing rules."]


def test_every_frequent_word_is_found_in_the_sorted_statistics(make_user):
    """The frequent words are sent sorted and looked up by binary search under COLLATE "C": Python's
    order must be the server's, for words beyond ASCII too, or a common word would pass for a rare
    one and be searched (and matched) again."""
    collection = make_collection("sorted-words", groups=["Everyone"])
    add_document(
        collection,
        ["Zebra crossing rules.", "Naïve zebra."]
        + [f"Café {i} menu Ångström." for i in range(40)]
        + [f"Œuvre {i} zeal." for i in range(40)],
    )
    user = make_user("sorted@example.gov.uk", groups=["Everyone"])
    words_only = RetrievalParams(vector_weight=0.0, code_weight=0.0)
    analyze_chunks()
    for common in ("café", "ångström", "œuvre", "menu", "zeal"):
        found = retrieve(user=user, query=f"zebra {common}", k=5, params=words_only).passages
        assert {p.text for p in found} == {"Zebra crossing rules.", "Naïve zebra."}, common


def test_the_statement_runs_on_its_generic_plan_from_the_first_question(library):
    """Planned once per connection, not once per question."""
    for _ in range(3):
        passages_for_user(user=library["user"], query="how many days of annual leave a year", k=3)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%%WITH readable AS MATERIALIZED%%'"
        )
        rows = cursor.fetchall()
    assert rows and all(custom == 0 for _, custom in rows) and sum(generic for generic, _ in rows) >= 3


@pytest.mark.django_db
def test_what_every_search_reads_is_kept_in_the_chunks_row():
    """The embedding (exact distances) and the English tsvector (the words channel ranks hundreds of
    matches) stay in the row; fetching each from the TOAST table was most of a question's time at
    100,000 chunks. The text and the codes tsvector, read for the few chunks returned, may go aside."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attname, attstorage FROM pg_attribute WHERE attrelid = 'documents_chunk'::regclass "
            "AND attname IN ('embedding', 'search_vector', 'search_vector_simple', 'text')"
        )
        storage = dict(cursor.fetchall())
    assert storage == {"embedding": "p", "search_vector": "m", "search_vector_simple": "x", "text": "x"}


def test_without_prepared_statements_the_answer_is_the_same(library):
    """A deployment behind a pooler that cannot keep prepared statements
    (HUMPHREY_DB_PREPARE_THRESHOLD=0) runs the same statement unprepared, with the same result."""
    question = "how many days of annual leave a year"
    prepared = passages_for_user(user=library["user"], query=question, k=3)
    connection.ensure_connection()
    raw = connection.connection
    threshold = raw.prepare_threshold
    raw.prepare_threshold = None
    try:
        unprepared = passages_for_user(user=library["user"], query=question, k=3)
    finally:
        raw.prepare_threshold = threshold
    assert prepared and unprepared == prepared


def test_the_query_vector_reaches_the_server_exactly(library):
    """The query vector travels in pgvector's binary format: the vector scores it gives are the
    cosine similarities the server computes from the same vector written out as text."""
    vector = FAKE.embed_query("sick leave line manager")
    passages = retrieve(user=library["user"], query="sick leave", query_vector=vector, k=3).passages
    literal = "[" + ",".join(repr(float(x)) for x in vector) + "]"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, 1 - (embedding <=> %s::vector) FROM documents_chunk WHERE id = ANY(%s)",
            [literal, [p.chunk_id for p in passages]],
        )
        expected = dict(cursor.fetchall())
    assert passages and all(p.vector_score == pytest.approx(expected[p.chunk_id], abs=1e-6) for p in passages)


def test_a_numpy_query_vector_is_sent_the_same_as_a_list():
    import numpy as np

    from documents.retrieval.wire import BinaryVector as _BinaryVector

    values = [0.25, -1.5, 3.0e-8, 1.0]
    assert _BinaryVector(np.asarray(values, dtype=np.float32)).data == _BinaryVector(values).data
    text = str(_BinaryVector(values))  # the text form, for a driver without binary parameters
    assert text.startswith("[0.25,-1.5,") and np.array_equal(
        np.asarray(text[1:-1].split(","), dtype=np.float32), np.asarray(values, dtype=np.float32)
    )


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_statement_gets_its_own_and_leaves_nothing_set(library):
    """In autocommit (as in chat) the search runs in its own transaction, opened and committed with
    it in one round trip; its SET LOCAL settings end with it."""
    passages_for_user(user=library["user"], query="how many days of annual leave a year", k=3)
    assert connection.connection.info.transaction_status.name == "IDLE"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('hnsw.ef_search'), current_setting('plan_cache_mode')")
        assert cursor.fetchone() == ("40", "auto")


@pytest.mark.django_db(transaction=True)
def test_a_failing_search_is_rolled_back_and_the_connection_still_works(library, monkeypatch):
    from documents.retrieval import sql

    question = "how many days of annual leave a year"
    expected = passages_for_user(user=library["user"], query=question, k=3)
    monkeypatch.setattr(sql, "statement", lambda sizes: "SELECT 1 / 0")
    with pytest.raises(DataError, match="division by zero"):
        passages_for_user(user=library["user"], query=question, k=3)
    assert connection.connection.info.transaction_status.name == "IDLE"
    monkeypatch.undo()
    assert passages_for_user(user=library["user"], query=question, k=3) == expected
