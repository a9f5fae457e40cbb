"""A seeded audit trail for the insights tests, with every figure counted by hand below.

Two collections, "hr" (curated by cara@) and "travel" (curated by tomas@). Answer and feedback
events are written with ``audit_record`` exactly as the chat pipeline writes them, at local noon
``d`` days ago (the clock is moved for each write, oldest first, so the chain's time never runs
backwards).

HR, within the last 30 (and 7) days; askers u1..u7; ttft = time to first token (ms):

| d | event | asker | outcome | ttft | cost | cites | latest feedback |
|---|-------|-------|---------|------|------|-------|-----------------|
| 3 | A1 | u1 | answered | 100 | 0.01 | A | up |
| 3 | A2 | u2 | answered | 200 | 0.02 | A | down (after an up) |
| 3 | A3 | u3 | answered | 300 | 0.03 | A, B | - |
| 3 | N1 | u1 | no_answer (parental) | 50 | 0.001 | - | - |
| 2 | A4 | u4 | answered | 400 | 0.04 | A | up |
| 2 | A5 | u5 | answered (parental) | 500 | 0.05 | A, B | down |
| 2 | N2 | u2 | no_answer (parental, holds an NI number) | 50 | 0.001 | - | - |
| 2 | N3 | u3 | no_answer (parental) | 50 | 0.001 | - | - |
| 1 | N4 | u4 | no_answer (parental) | 50 | 0.001 | - | - |
| 1 | N5 | u1 | no_answer (parental) | 50 | 0.001 | - | - |
| 1 | M1 | u6 | no_answer (mileage) | 50 | 0.001 | - | - |
| 1 | M2 | u7 | no_answer (mileage) | 50 | 0.001 | - | - |
| 1 | M3 | u6 | no_answer (mileage) | 50 | 0.001 | - | - |
| 1 | F1 | u5 | error | - | - | - | - |
| 1 | F2 | u6 | stalled | 700 | 0.002 | - | - |
| 1 | R1 | u7 | refused | - | - | - | - |
| 1 | X1 | u7 | answered, searched hr AND travel | 600 | 0.06 | T (travel's) | down |

Outside 30 days: O1 (d=40, u1, answered, cites C, ttft 1000). Outside 90: O2 (d=100).
Travel only: six no_answer questions about embassy postings (u1..u6) and one answer citing T.
Documents of hr: A "Annual leave policy", B "Shared parental leave guidance", C "Flexible working"
(current version 400 days old), D "Old car scheme" (retired). Travel: T "Overseas travel", whose
only passage is worded exactly like the parental questions, to catch any cross-collection leak.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from unittest import mock

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.services import audit_record
from documents.embeddings import FakeEmbeddings
from documents.models import Chunk, Collection, Document, DocumentVersion

PARENTAL = {
    "N1": "What is my shared parental leave pay entitlement",
    "N2": "Shared parental leave pay entitlement for AB123456C please",
    "N3": "How is shared parental leave pay entitlement calculated",
    "N4": "Does part time work change shared parental leave pay entitlement",
    "N5": "Explain shared parental leave pay entitlement again",
    "A5": "Is shared parental leave pay entitlement different for adoption",
}
MILEAGE = {
    "M1": "What mileage allowance rate applies for business travel by car",
    "M2": "Mileage allowance rate for business travel by bicycle",
    "M3": "Is the mileage allowance rate for business travel taxed",
}
OTHER_QUESTIONS = {
    "A1": "How many days of annual leave do I get",
    "A2": "Can I carry annual leave over into next year",
    "A3": "Does annual leave include bank holidays",
    "A4": "How do I book annual leave",
    "F1": "Who approves overtime",
    "F2": "Who signs off overtime claims",
    "R1": "Tell me something secret",
    "X1": "Can I claim costs for a conference abroad",
    "O1": "Can I work flexible hours",
    "O2": "Ancient question about lunch breaks",
}
TRAVEL_QUESTIONS = [
    "Overseas subsistence rates for embassy postings in Paris",
    "Overseas subsistence rates for embassy postings in Lima",
    "What are overseas subsistence rates for embassy postings",
    "Overseas subsistence rates for embassy postings and children",
    "Are overseas subsistence rates for embassy postings taxed",
    "Overseas subsistence rates for embassy postings this year",
]
ALL_QUESTIONS = {**PARENTAL, **MILEAGE, **OTHER_QUESTIONS}
ASKER_EMAILS = [f"asker{n}@example.gov.uk" for n in range(1, 8)]

_ids = itertools.count(5000)


def local_noon(days_ago: int, minute: int = 0) -> dt.datetime:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(12, minute % 60, minute // 60)))


@dataclass
class Seeded:
    hr: Collection
    travel: Collection
    docs: dict[str, Document]
    askers: list
    hr_curator: object
    travel_curator: object
    events: dict[str, object] = field(default_factory=dict)


def _document(collection: Collection, title: str, text: str, *, uploaded_days_ago: int, active: bool = True):
    document = Document.objects.create(
        collection=collection, title=title, source_name=f"{title.lower().replace(' ', '-')}.md", is_active=active
    )
    version = DocumentVersion.objects.create(
        document=document,
        number=1,
        file=f"documents/{document.source_name}",
        original_filename=document.source_name,
        sha256=f"{document.pk:064x}",
        size_bytes=len(text),
        content_type="text/markdown",
        status="ready",
        uploaded_at=timezone.now() - dt.timedelta(days=uploaded_days_ago),
        title=title,
    )
    document.current_version = version
    document.save()
    fake = FakeEmbeddings()
    Chunk.objects.create(
        version=version,
        collection=collection,
        searchable=active,
        ordinal=0,
        text=text,
        char_start=0,
        char_end=len(text),
        embedding=fake.embed_query(text),
        embedding_model=fake.model_id,
    )
    return document


def _answer(
    key: str,
    user,
    *,
    question: str,
    outcome: str,
    days_ago: int,
    minute: int,
    collections=("hr",),
    ttft=None,
    cost=None,
    cites=(),
    personal_data=(),
    claims=None,
    searched=None,
    caution=None,
    missing=None,
    missing_in_data=False,
):
    """One answer event; ``collections`` as the asker chose them (() for everything they may read),
    ``searched`` what that covered (default: the same)."""
    conversation_id, message_id = next(_ids), next(_ids)
    passages = [
        {
            "n": n,
            "chunk_id": doc.current_version.chunks.first().pk,
            "version_id": doc.current_version_id,
            "version_sha256": doc.current_version.sha256,
            "document_id": doc.pk,
            "collection": doc.collection.slug,
            "vector_score": 0.7,
            "keyword_score": 0.2,
            "score": 1 / (60 + n),
        }
        for n, doc in enumerate(cites, start=1)
    ]
    data = {
        "conversation_id": conversation_id,
        "message_id": message_id,
        "question_message_id": message_id - 1,
        "user_groups": ["All staff"],
        "collections": list(collections) if searched is None else list(searched),
        "chosen_collections": list(collections),
        "prompt_version": "answer_v1",
        "model": {"endpoint": "http://127.0.0.1:9/v1", "name": "fake-model", "params": {"temperature": 0.0}},
        "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100},
        "cost": {"currency": "GBP", "amount": cost} if cost is not None else {},
        "timings_ms": {"retrieval": 20.0, "first_token": ttft, "total": (ttft or 0) + 900},
        "error_code": "model_unavailable" if outcome == "error" else "",
        "citations": [{"n": p["n"], "chunk_id": p["chunk_id"], "version_id": p["version_id"]} for p in passages],
        "passages": passages,
        "personal_data": list(personal_data),
        **({"claims": claims} if claims is not None else {}),
    }
    coverage = {"caution": caution} if caution is not None else {}
    if missing is not None:  # the stems of the question's words no close passage held: content, as recorded
        coverage["missing_count"] = len(missing)
        if missing_in_data:  # as events recorded them before 2026-12-05
            coverage["missing"] = list(missing)
    if coverage:
        data["coverage"] = {"covered": outcome == "answered", **coverage}
    content = {
        "question": question,
        "condensed_question": question,
        "messages": [{"role": "user", "content": question}],
        "passages": [],
        "answer": "" if outcome != "answered" else "An answer [1].",
        **({"coverage_missing": list(missing)} if missing is not None and not missing_in_data else {}),
    }
    with mock.patch("django.utils.timezone.now", return_value=local_noon(days_ago, minute)):
        return audit_record(
            action="answer",
            actor=user,
            outcome=outcome,
            subject=f"conversation:{conversation_id}",
            data=data,
            content=content,
        )


def _feedback(answer, user, rating: str, *, days_ago: int, minute: int):
    with mock.patch("django.utils.timezone.now", return_value=local_noon(days_ago, minute)):
        return audit_record(
            action="feedback",
            actor=user,
            outcome=rating,
            subject=f"message:{answer.data['message_id']}",
            data={"message_id": answer.data["message_id"], "conversation_id": answer.data["conversation_id"]},
            content={"comment": f"comment from {user.email}"},
        )


@pytest.fixture
def insights_settings(settings):
    """The documented defaults, set explicitly (an environment variable must not change a test)."""
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}
    settings.HUMPHREY_INSIGHTS_SHOW_QUESTIONS = False
    settings.HUMPHREY_INSIGHTS_MIN_ASKERS = 5
    settings.HUMPHREY_INSIGHTS_STALE_DAYS = 365
    settings.HUMPHREY_INSIGHTS_TOPIC_DISTANCE = 0.55
    settings.HUMPHREY_INSIGHTS_MAX_GAP_QUESTIONS = 2000
    return settings


def seed(make_user) -> Seeded:
    """Write the trail described in the module docstring; works under db and transactional_db."""
    askers = [make_user(email) for email in ASKER_EMAILS]
    u = {f"u{n}": askers[n - 1] for n in range(1, 8)}
    cara = make_user("cara@example.gov.uk", roles=[Role.CURATOR])
    tomas = make_user("tomas@example.gov.uk", roles=[Role.CURATOR])
    hr = Collection.objects.create(name="HR policies", slug="hr", owner=cara)
    travel = Collection.objects.create(name="Travel", slug="travel", owner=tomas)
    docs = {
        "A": _document(hr, "Annual leave policy", "Annual leave is 25 days a year.", uploaded_days_ago=10),
        "B": _document(
            hr,
            "Shared parental leave guidance",
            "Shared parental leave pay entitlement is calculated from your salary.",
            uploaded_days_ago=10,
        ),
        "C": _document(hr, "Flexible working", "You may ask to work flexible hours.", uploaded_days_ago=400),
        "D": _document(hr, "Old car scheme", "The car scheme closed.", uploaded_days_ago=900, active=False),
        "T": _document(
            travel, "Overseas travel", "What is my shared parental leave pay entitlement", uploaded_days_ago=5
        ),
    }
    A, B, C, T = docs["A"], docs["B"], docs["C"], docs["T"]
    seeded = Seeded(hr=hr, travel=travel, docs=docs, askers=askers, hr_curator=cara, travel_curator=tomas)
    ev = seeded.events

    def answer(key, user, outcome, days_ago, minute, **kw):
        question = ALL_QUESTIONS.get(key) or kw.pop("question")
        ev[key] = _answer(key, user, question=question, outcome=outcome, days_ago=days_ago, minute=minute, **kw)
        return ev[key]

    answer("O2", u["u1"], "answered", 100, 0, ttft=900, cost=0.5, cites=[A])
    answer("O1", u["u1"], "answered", 40, 0, ttft=1000, cost=0.2, cites=[C])
    # d = 3
    answer(
        "A1", u["u1"], "answered", 3, 0, ttft=100, cost=0.01, cites=[A],
        claims={"checked": 2, "unsupported": 0, "uncited": 0},
    )  # fmt: skip
    _feedback(ev["A1"], u["u1"], "up", days_ago=3, minute=1)
    answer("A2", u["u2"], "answered", 3, 2, ttft=200, cost=0.02, cites=[A], caution=False)
    _feedback(ev["A2"], u["u2"], "up", days_ago=3, minute=3)
    _feedback(ev["A2"], u["u2"], "down", days_ago=3, minute=4)
    answer(
        "A3", u["u3"], "answered", 3, 5, ttft=300, cost=0.03, cites=[A, B],
        claims={"checked": 3, "unsupported": 1, "uncited": 0},
    )  # fmt: skip
    answer("N1", u["u1"], "no_answer", 3, 6, ttft=50, cost=0.001)
    # d = 2
    answer("A4", u["u4"], "answered", 2, 0, ttft=400, cost=0.04, cites=[A])
    _feedback(ev["A4"], u["u4"], "up", days_ago=2, minute=1)
    answer(
        "A5", u["u5"], "answered", 2, 2, ttft=500, cost=0.05, cites=[A, B],
        claims={"checked": 2, "unsupported": 0, "uncited": 1}, caution=True,
    )  # fmt: skip

    _feedback(ev["A5"], u["u5"], "down", days_ago=2, minute=3)
    answer("N2", u["u2"], "no_answer", 2, 4, ttft=50, cost=0.001, personal_data=["ni_number"])
    answer("N3", u["u3"], "no_answer", 2, 5, ttft=50, cost=0.001)
    # d = 1
    answer("N4", u["u4"], "no_answer", 1, 0, ttft=50, cost=0.001)
    answer("N5", u["u1"], "no_answer", 1, 1, ttft=50, cost=0.001)
    answer("M1", u["u6"], "no_answer", 1, 2, ttft=50, cost=0.001)
    answer("M2", u["u7"], "no_answer", 1, 3, ttft=50, cost=0.001)
    answer("M3", u["u6"], "no_answer", 1, 4, ttft=50, cost=0.001)
    answer("F1", u["u5"], "error", 1, 5)
    answer("F2", u["u6"], "stalled", 1, 6, ttft=700, cost=0.002)
    answer("R1", u["u7"], "refused", 1, 7)
    answer("X1", u["u7"], "answered", 1, 8, ttft=600, cost=0.06, cites=[T], collections=("hr", "travel"))
    _feedback(ev["X1"], u["u7"], "down", days_ago=1, minute=9)
    # Travel only.
    for n, question in enumerate(TRAVEL_QUESTIONS):
        answer(
            f"T{n}", askers[n], "no_answer", 2, 20 + n, question=question, ttft=80, cost=0.3, collections=("travel",)
        )
    answer(
        "TA",
        u["u1"],
        "answered",
        2,
        30,
        question="Travel booking",
        ttft=90,
        cost=0.3,
        cites=[T],
        collections=("travel",),
    )
    return seeded


@pytest.fixture
def seeded(db, make_user, insights_settings) -> Seeded:
    # Nine users' passwords hashed at full strength take most of a test's time; these tests sign
    # in with force_login, so a fast hasher loses nothing (the browser test keeps the real one).
    insights_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return seed(make_user)


def purge_everything_as_if_old() -> None:
    """Run the retention purge as if every event were 400 days old (the database refuses one dated in
    the future), then put each back on its day, so a dashboard's period still holds them."""
    from audit.retention import retention_purge
    from tests.audit.conftest import tampering

    with tampering() as cursor:
        cursor.execute("UPDATE audit_auditevent SET created_at = created_at - interval '400 days'")
    retention_purge()
    with tampering() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET created_at = created_at + interval '400 days' "
            "WHERE action <> 'retention.purge'"
        )
