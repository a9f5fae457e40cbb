"""What the audit trail vouches for beyond itself. An answer's event holds the answer as shown, who
asked, what it cited and the passages the model was given; a feedback event, the rating given. The
stored conversation, citations, passages and ratings must still say the same: someone with the
database alone could change an answer a person rereads, or a passage every citation opens, and the
chain of events would still verify. Registered with ``audit.integrity`` and run by every verification
(``verify_audit``, the auditors' Verify page); a difference is a ``record_altered`` problem naming the
event that vouches for the record.

Stored records the retention purge emptied (``Message.purged_at``), or whose event's content was purged,
are not compared: there is nothing left to compare.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.db.models.fields.json import KeyTransform

from assistant.models import Citation, Feedback, Message
from audit.actions import Action
from audit.models import AuditEvent
from documents.models import Chunk

Report = Callable[..., bool]
_BATCH = 2000
_SHOWN = 60  # characters of a changed text quoted in a problem


def _whole(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value) -> dict:
    """A recorded JSON object, or {} for anything else (a forged row may hold anything)."""
    return value if isinstance(value, dict) else {}


def _quoted(text: str) -> str:
    text = " ".join(str(text or "").split())
    return f"“{text if len(text) <= _SHOWN else text[: _SHOWN - 1] + '…'}”"


def _answer_events() -> Iterator[list[dict]]:
    last = 0
    while True:
        rows = list(
            AuditEvent.objects.filter(action=Action.ANSWER, seq__gt=last, content__isnull=False)
            .order_by("seq")
            # The answer and the passages only: not the prompt, the bulk of each event's content.
            .values(
                "seq",
                "actor_id",
                "data",
                answer=KeyTransform("answer", "content__body"),
                passages=KeyTransform("passages", "content__body"),
            )[:_BATCH]
        )
        if not rows:
            return
        yield rows
        last = rows[-1]["seq"]


def answers_against_trail(report: Report) -> None:
    """Each answer event with its content against the stored answer, its conversation's owner, its
    citations and the passages it was given."""
    for rows in _answer_events():
        ids = {_whole(_dict(row["data"]).get("message_id")) for row in rows} - {None}
        messages = {
            m["pk"]: m
            for m in Message.objects.filter(pk__in=ids).values("pk", "text", "purged_at", "conversation__owner_id")
        }
        cited: dict[int, set] = {}
        for c in Citation.objects.filter(message_id__in=ids).values_list("message_id", "n", "chunk_id", "version_id"):
            cited.setdefault(c[0], set()).add(c[1:])
        shown = {
            (row["seq"], _whole(p.get("chunk_id"))): p.get("text")
            for row in rows
            for p in (row["passages"] if isinstance(row["passages"], list) else [])
            if isinstance(p, dict)
        }
        chunks = dict(Chunk.objects.filter(pk__in={chunk for _, chunk in shown} - {None}).values_list("pk", "text"))
        for row in rows:
            _answer_against(report, row, messages, cited, set(chunks))
        for (seq, chunk), text in shown.items():
            if chunk in chunks and isinstance(text, str) and chunks[chunk] != text:
                report(
                    seq,
                    "record_altered",
                    f"Passage {chunk} was changed since event #{seq} showed it: it held {_quoted(text)}, "
                    f"it now holds {_quoted(chunks[chunk])}.",
                )


def _answer_against(report: Report, row: dict, messages: dict, cited: dict, chunk_ids: set) -> None:
    seq, data = row["seq"], _dict(row["data"])
    message = messages.get(_whole(data.get("message_id")))
    if message is None or message["purged_at"] is not None:
        return
    pk = message["pk"]
    answer = row["answer"]
    if isinstance(answer, str) and message["text"] != answer:
        report(
            seq,
            "record_altered",
            f"Answer message {pk} was changed since event #{seq} recorded it: it said {_quoted(answer)}, "
            f"it now says {_quoted(message['text'])}.",
        )
    if row["actor_id"] is not None and message["conversation__owner_id"] != row["actor_id"]:
        report(
            seq,
            "record_altered",
            f"The conversation of answer message {pk} now belongs to user {message['conversation__owner_id']}; "
            f"event #{seq} records user {row['actor_id']} asking.",
        )
    recorded = {
        (_whole(c.get("n")), _whole(c.get("chunk_id")), _whole(c.get("version_id")))
        for c in (data.get("citations") if isinstance(data.get("citations"), list) else [])
        if isinstance(c, dict)
    }
    stored = cited.get(pk, set())
    # A citation of a passage deleted while the answer was written is recorded but never stored.
    lost = {c for c in recorded - stored if c[1] in chunk_ids}
    if "citations" in data and (stored - recorded or lost):
        report(seq, "record_altered", f"The citations of answer message {pk} differ from those event #{seq} records.")


def feedback_against_trail(report: Report) -> None:
    """Each stored rating against the last feedback event its giver recorded for that answer."""
    latest: dict[tuple[int, int], tuple[int, str]] = {}
    for seq, actor, data, outcome in (
        AuditEvent.objects.filter(action=Action.FEEDBACK)
        .order_by("seq")
        .values_list("seq", "actor_id", "data", "outcome")
    ).iterator(chunk_size=_BATCH):
        message = _whole(_dict(data).get("message_id"))
        if message is not None and actor is not None:
            latest[(message, actor)] = (seq, outcome)
    for message, user, rating in Feedback.objects.values_list("message_id", "user_id", "rating").iterator(
        chunk_size=_BATCH
    ):
        seq, outcome = latest.get((message, user), (0, None))
        if outcome != rating:
            vouched = f"its last feedback event, #{seq}, records {outcome!r}" if seq else "no feedback event records it"
            report(
                seq, "record_altered", f"User {user}'s rating of answer message {message} is {rating!r}, but {vouched}."
            )


def records_against_trail(report: Report) -> None:
    answers_against_trail(report)
    feedback_against_trail(report)
