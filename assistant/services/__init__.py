"""Every write the assistant makes, and the answer pipeline the websocket consumer hands over to, one
module per room. Names are ``<entity>_<action>``. One question, end to end (``answer_start``):

1. ``assistant.intake.questions_store`` (sync, one transaction for every question arriving at that
   moment): check the session, conversation and collections through their gates, store the user's
   question and a *streaming* placeholder for the answer. Nothing later can lose the question.
2. ``pipeline``: a background task (``AnswerRun``; it outlives the socket) condenses a follow-up,
   retrieves passages the user may read at a marking the model endpoint is approved for, passes the
   evidence gate, renders the versioned prompt, streams from the chat model and resolves ``[n]``
   citations to chunk and version. Its synchronous steps are in ``steps``.
3. ``record``: ``answer_record`` (sync, ONE transaction): the assistant message, its citations and
   exactly one audit event (built by ``answer_audit``), whatever the outcome (answered, no_answer,
   stopped, stalled, error, refused).

``frames`` builds what the person sees (passage links, the frames' entries, the answer's HTML, the
"not covered" reply); ``conversations`` holds rename, hide, feedback and the retention purge.
Events are plain dicts shaped as the websocket frames in ``docs/websocket-protocol.md``.

The names below are re-exported for callers outside the app; inside it, import from the room.
"""

from __future__ import annotations

from .conversations import conversation_hide, conversation_rename, conversations_purge, feedback_record
from .frames import NOT_COVERED, answer_html, not_covered_text, passage_urls, source_frames
from .pipeline import AnswerRun, Refused, answer_start, answer_stream, answers_wait
from .record import OUTCOMES, Outcome, answer_audit, answer_record, answers_close_interrupted
from .steps import answer_evidence, answer_finish, chat_request, check_settings, gate_settings, sources_retrieve

__all__ = [
    "NOT_COVERED",
    "OUTCOMES",
    "AnswerRun",
    "Outcome",
    "Refused",
    "answer_audit",
    "answer_evidence",
    "answer_finish",
    "answer_html",
    "answer_record",
    "answer_start",
    "answer_stream",
    "answers_close_interrupted",
    "answers_wait",
    "chat_request",
    "check_settings",
    "conversation_hide",
    "conversation_rename",
    "conversations_purge",
    "feedback_record",
    "gate_settings",
    "not_covered_text",
    "passage_urls",
    "source_frames",
    "sources_retrieve",
]
