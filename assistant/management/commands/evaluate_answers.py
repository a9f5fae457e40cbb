"""Measure answers on a question set: ``manage.py evaluate_answers QUESTIONS.jsonl --collection SLUG``.

Each line of the file is JSON with ``question``, ``doc`` (the source file's name as ingested, or null
for a question the guidance does not cover) and ``answer_quote`` (words of that document that answer
it). A line may carry ``previous``: an earlier question of the same conversation, asked and answered
first, so the line's question is a follow-up. Every question goes through the steps chat uses
(``assistant.services.steps``: condense, embed, retrieve with access control, the coverage gate, the chat
model configured (``--model``: an alias of ``HUMPHREY_CHAT_MODELS``), the finishing checks) as a
temporary reader created in a transaction that is rolled back. Nothing is stored or audited.

The questions file defaults to the shared corpus's ``dev-questions.jsonl`` (``HUMPHREY_CORPUS_DIR``,
else ``../shared/corpus``); a relative name not found here is looked for in the corpus too.

Prints each miss, then one line of JSON:

- ``answered``: share of answerable questions answered (not "not covered");
- ``quote_in_answer``: share of answerable questions whose answer holds the ``answer_quote``
  (case, whitespace, quotation marks and Markdown quoting folded);
- ``doc_cited``: share of answerable questions whose answer cites the right document;
- ``negatives_refused``: share of questions with ``"doc": null`` answered "not covered";
- ``unsupported_sentences`` / ``uncited_sentences`` (model answers): share of an answer's cited
  sentences a citation does not support, and of factual sentences citing nothing.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from assistant.core.types import Turn
from assistant.models import Status
from assistant.providers import get_chat_model
from assistant.services.trial import answer_one
from documents.management.commands.evaluate_retrieval import fold, questions_path, temporary_reader
from documents.management.commands.evaluate_retrieval import read_questions as read_retrieval_questions
from documents.models import Collection, Document


class _Rollback(Exception):
    """Raised to undo the temporary reader once the run is over."""


_QUOTING = re.compile(r"^\s*>\s?", re.MULTILINE)
_CITATION = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")


def answer_holds(answer: str, quote: str) -> bool:
    """Whether ``answer`` holds ``quote``, Markdown quoting, emphasis and citations aside."""
    plain = _CITATION.sub("", _QUOTING.sub("", answer)).replace("**", "")
    return fold(quote) in fold(plain)


def read_questions(path: Path) -> list[dict]:
    questions, _ = read_retrieval_questions(path, keep_uncovered=True)
    if not questions:
        raise CommandError(f"{path} has no questions")
    return questions


class Command(BaseCommand):
    help = "Measure answers (coverage gate, quotes, citations) on a JSONL question set; last line is JSON."

    def add_arguments(self, parser):
        parser.add_argument(
            "questions",
            type=Path,
            nargs="?",
            help="JSONL: question, doc (or null), answer_quote[, previous] (default: the corpus's dev-questions.jsonl)",
        )
        parser.add_argument("--collection", required=True, help="slug of the collection to search")
        parser.add_argument("--model", help="chat model alias (default: the one chat uses)")
        parser.add_argument("--quiet", action="store_true", help="print only the JSON line")
        parser.add_argument("--show", action="store_true", help="print every answer, not only the misses")
        parser.add_argument(
            "--words-only",
            action="store_true",
            help="answer as chat does when the embedder is down: nothing embedded, the question's words alone",
        )

    def handle(
        self,
        *args,
        questions: Path | None,
        collection: str,
        model: str | None,
        quiet: bool,
        show: bool,
        words_only: bool = False,
        **options,
    ):
        records = read_questions(questions_path(questions))
        try:
            target = Collection.objects.get(slug=collection)
        except Collection.DoesNotExist:
            raise CommandError(f"No collection with the short name {collection!r}") from None
        chat_model = get_chat_model(model)
        names = dict(Document.objects.filter(collection=target).values_list("pk", "source_name"))
        results = []
        try:
            with transaction.atomic():
                reader = self._reader(target)
                for record in records:
                    turns: list[Turn] = []
                    if record.get("previous"):
                        first, _ = answer_one(
                            user=reader,
                            model=chat_model,
                            question=record["previous"],
                            turns=[],
                            collection=target.slug,
                            words_only=words_only,
                        )
                        turns = [Turn("user", record["previous"]), Turn("assistant", first.text)]
                    out, evidence_ms = answer_one(
                        user=reader,
                        model=chat_model,
                        question=record["question"],
                        turns=turns,
                        collection=target.slug,
                        words_only=words_only,
                    )
                    results.append((record, out, evidence_ms))
                raise _Rollback
        except _Rollback:
            pass
        metrics, lines = self._score(results, names, show)
        if not quiet:
            for line in lines:
                self.stdout.write(line)
        metrics |= {"collection": target.slug, "model": chat_model.info.name, "words_only": words_only}
        self.stdout.write(json.dumps(metrics))

    def _score(self, results, names: dict, show: bool) -> tuple[dict, list[str]]:
        answerable = [(r, o) for r, o, _ in results if r.get("doc") is not None]
        negatives = [(r, o) for r, o, _ in results if r.get("doc") is None]
        answered = quoted = cited_doc = refused = cautioned = wrong = wrong_cautioned = 0
        claims = unsupported = uncited = 0
        lines = []
        for record, out in answerable:
            ok = out.status == Status.COMPLETE
            docs = {names.get(s.document_id) for s in out.sources if s.n in out.cited}
            holds = ok and answer_holds(out.text, record["answer_quote"])
            right_doc = ok and record["doc"] in docs
            answered += ok
            cautioned += ok and bool(out.coverage.get("caution"))
            quoted += holds
            cited_doc += right_doc
            for check in out.checks:
                claims += bool(check["cited"])
                unsupported += bool(check["unsupported"])
                uncited += bool(check["uncited"])
            if not holds or show:
                why = "not covered" if not ok else ("quote missing" if right_doc else "wrong document")
                lines.append(f"{'MISS' if not holds else 'OK'} {record['id']} ({why}): {record['question']}")
                lines.append(f"    evidence {json.dumps(out.coverage)}")
                if show or ok:
                    lines.append("    " + out.text.replace("\n", "\n    ")[:1500])
        for record, out in negatives:
            ok = out.status != Status.COMPLETE
            refused += ok
            wrong += not ok
            wrong_cautioned += not ok and bool(out.coverage.get("caution"))
            if not ok or show:
                lines.append(
                    f"{'MISS' if not ok else 'OK'} {record['id']} (answered, not covered): {record['question']}"
                )
                lines.append(f"    evidence {json.dumps(out.coverage)}")
        n, m = len(answerable), len(negatives)
        timings = [ms for _, _, ms in results]
        metrics = {
            "n": len(results),
            "answerable": n,
            "negatives": m,
            "answered": round(answered / n, 4) if n else None,
            "quote_in_answer": round(quoted / n, 4) if n else None,
            "doc_cited": round(cited_doc / n, 4) if n else None,
            "negatives_refused": round(refused / m, 4) if m else None,
            # Of the answers given, the share that said they may not answer exactly (Coverage.caution):
            # to answerable questions, and to ones the guidance does not cover (the wrong answers).
            "cautioned": round(cautioned / answered, 4) if answered else None,
            "negatives_answered_cautioned": round(wrong_cautioned / wrong, 4) if wrong else None,
            "unsupported_sentences": round(unsupported / claims, 4) if claims else None,
            "uncited_sentences": uncited,
            "evidence_ms_p50": round(statistics.median(timings), 2) if timings else None,
        }
        return metrics, lines

    def _reader(self, collection: Collection):
        return temporary_reader(collection, "evaluate-answers")
