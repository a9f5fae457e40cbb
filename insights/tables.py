"""A collection's dashboard as tables (the page and the CSV exports show the same ones) and charts.

Privacy is applied here, once, before anything is rendered or exported:

- no table has a column saying who asked, and no asker count is ever displayed;
- a gap topic, and a document row that exists because of people's questions ("most cited",
  "cited in answers rated down"), is shown only when at least ``HUMPHREY_INSIGHTS_MIN_ASKERS``
  distinct people are behind it; how many rows were held back is said, never what they were;
- example questions appear only with ``HUMPHREY_INSIGHTS_SHOW_QUESTIONS`` on, never one the
  pipeline flagged as holding personal data, and with any personal data found redacted anyway;
- a word that questions not covered used and the guidance does not (the words a glossary entry could
  put in the guidance's words) is shown only when that many people used it, as a topic's keyword is:
  words only, never digits, taken from the question with its personal data redacted.
"""

# Over 500 lines on purpose: the privacy rules above are applied in one place, for every table the
# page and the CSV exports share; a table per module would spread them.

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from assistant.core.evidence import missing_words, spelt_out
from assistant.pii import find_personal_data, redact
from documents.models import Collection
from insights import charts, gaps, selectors
from insights.charts import Series

#: Every exportable table, in page order: name -> caption.
TABLES = {
    "questions": "Questions per day",
    "outcomes": "How questions ended",
    "feedback": "Feedback per day",
    "first_token": "Time to first token per day",
    "cost": "Cost per day",
    "topics": "Gaps: topics of questions not covered or rated down",
    "unfamiliar": "Gaps: words people asked with that the guidance does not use",
    "most_cited": "Most cited documents",
    "rated_down": "Documents cited in answers rated down",
    "never_cited": "Documents never cited in the period",
    "stale": "Documents due for review or not updated for a long time",
}
MAX_TOPICS = 15
MAX_UNFAMILIAR = 20
EXAMPLES_PER_TOPIC = 3
NEAREST_PER_TOPIC = 3


@dataclass(frozen=True)
class Cell:
    text: str  # what the page shows
    value: object = None  # what the CSV holds (defaults to text)
    link: str | None = None
    numeric: bool = False
    items: tuple = ()  # a list shown as a list: (text, link) pairs

    @property
    def csv(self) -> str:
        if self.items:
            return "; ".join(text for text, _ in self.items)
        value = self.text if self.value is None else self.value
        return value.isoformat() if isinstance(value, dt.date) else str(value)


@dataclass
class Table:
    name: str
    caption: str
    headers: list[str]
    rows: list[list[Cell]]
    numeric: list[bool]
    notes: list[str] = field(default_factory=list)
    empty: str = "Nothing in this period."

    @property
    def header_cells(self) -> list[tuple[str, bool]]:
        return list(zip(self.headers, self.numeric, strict=True))

    def csv_rows(self) -> list[list[str]]:
        return [list(self.headers)] + [[cell.csv for cell in row] for row in self.rows]


def document_link(document_id: int | None) -> str | None:
    """The curation page of a document, which lists its versions (None if those pages are not installed)."""
    if not document_id:
        return None
    try:
        return reverse("documents:document", args=[document_id])
    except NoReverseMatch:
        return None


def try_link(slug: str, question: str) -> str | None:
    """The collection's "Try a question" page for ``question``: what chat answers it now, and why (None
    if those pages are not installed)."""
    try:
        return reverse("documents:collection_try", args=[slug]) + "?" + urlencode({"q": question})
    except NoReverseMatch:
        return None


def _num(value: float | int | None, *, unit: str = "", places: int = 0) -> Cell:
    if value is None:
        return Cell("–", "", numeric=True)
    text = f"{value:,.{places}f}{unit}"
    return Cell(text, round(value, places) if places else round(value), numeric=True)


def _day(day: dt.date) -> Cell:
    return Cell(day.strftime("%-d %b"), day)


def _short(day: dt.date) -> str:
    return day.strftime("%-d %b")


def _hidden_note(count: int, singular: str, plural: str) -> list[str]:
    """Says how many rows were held back by the privacy threshold, never which."""
    if not count:
        return []
    people = settings.HUMPHREY_INSIGHTS_MIN_ASKERS
    if count == 1:
        return [f"1 {singular} not shown: fewer than {people} people are behind it."]
    return [f"{count} {plural} not shown: fewer than {people} people are behind each."]


_TOKEN = re.compile(r"[a-z0-9]+(?:['’\-][a-z0-9]+)*")


MAX_PHRASE_WORDS = 4  # longer runs of unfamiliar words are counted by their shorter phrases


def _unfamiliar_phrases(question: str, missing) -> list[tuple[str, ...]]:
    """The runs of words of ``question`` whose stems are in ``missing`` (as typed, shorthand spelt
    out), side by side in it: "chatgpt memory stick inventory"; words only (no digits), each once."""
    unknown = {
        w for w in missing_words(question, missing, limit=len(missing)) if re.fullmatch(gaps.KEYWORD_TOKEN_PATTERN, w)
    }
    runs: list[tuple[str, ...]] = []
    run: list[str] = []
    for token in [*_TOKEN.findall(spelt_out(question).lower().replace("’", "'")), ""]:
        if token in unknown:
            run.append(token)
            continue
        if run and tuple(run) not in runs:
            runs.append(tuple(run))
        run = []
    return runs


def _sub_phrases(run: tuple[str, ...]) -> set[str]:
    """Every phrase of up to ``MAX_PHRASE_WORDS`` words side by side in ``run``: so that "memory stick"
    is counted in "memory stick inventory" too."""
    longest = min(len(run), MAX_PHRASE_WORDS)
    return {" ".join(run[i : i + n]) for n in range(1, longest + 1) for i in range(len(run) - n + 1)}


@dataclass
class TopicView:
    label: str
    size: int
    not_covered: int
    rated_down: int
    only_just: int
    examples: list[str]
    nearest: list[selectors.NearDocument]


class Dashboard:
    """Everything one collection's dashboard shows for one period, computed when first asked for."""

    def __init__(self, collection: Collection, period: selectors.Period, *, link_documents: bool = True) -> None:
        """``link_documents``: link document rows and example questions to the curation pages (only
        useful to a curator of it)."""
        self.collection = collection
        self.period = period
        self.link_documents = link_documents
        self.min_askers = settings.HUMPHREY_INSIGHTS_MIN_ASKERS
        self.show_questions = settings.HUMPHREY_INSIGHTS_SHOW_QUESTIONS

    # --- figures ---------------------------------------------------------------------------

    @cached_property
    def days(self) -> list[selectors.Day]:
        return selectors.daily_activity(self.collection, self.period)

    @cached_property
    def costs(self) -> list[selectors.DayCost]:
        return selectors.cost_by_day(self.collection, self.period)

    @cached_property
    def citations(self) -> list[selectors.DocumentCitations]:
        return selectors.document_citations(self.collection, self.period)

    @cached_property
    def totals(self) -> dict[str, int]:
        total = {
            key: sum(getattr(d, key) for d in self.days)
            for key in ("questions", "answered", "not_covered", "failed", "up", "down", "doubted", "cautioned")
        }
        total["other"] = total["questions"] - total["answered"] - total["not_covered"] - total["failed"]
        return total

    def share(self, key: str) -> str:
        questions = self.totals["questions"]
        return f"{100 * self.totals[key] / questions:.0f}%" if questions else "–"

    @cached_property
    def gap_rows(self) -> tuple[list[selectors.GapRow], int]:
        """The period's most recent gaps (up to ``HUMPHREY_INSIGHTS_MAX_GAP_QUESTIONS``) and how many in all."""
        return selectors.gap_rows(self.collection, self.period, limit=settings.HUMPHREY_INSIGHTS_MAX_GAP_QUESTIONS)

    @cached_property
    def topics(self) -> tuple[list[TopicView], dict[str, int]]:
        """Visible topics, plus counts for the notes: hidden topics, their questions, questions without text."""
        rows, total = self.gap_rows
        with_text = [r for r in rows if r.question and r.question.strip()]
        info = {"total": total, "without_text": len(rows) - len(with_text), "beyond_cap": total - len(rows)}
        if not with_text:
            info.update(hidden_topics=0, hidden_questions=0)
            return [], info
        from documents.embeddings import embedder_max_marking, embeds_marking
        from documents.retrieval import allowed_markings

        # A question is as sensitive as what it was asked of, which may be any collection the asker
        # reads: grouped only when the embedder may be sent the highest marking the site serves.
        highest = allowed_markings(None)[-1]
        if not embeds_marking(highest):
            reason = f"The embedding endpoint is approved up to {embedder_max_marking()}; this site serves {highest}."
            info.update(hidden_topics=0, hidden_questions=0, not_grouped=len(with_text), not_grouped_reason=reason)
            return [], info
        from insights.services import question_embeddings_ensure, question_embeddings_prune

        question_embeddings_prune()
        vectors = question_embeddings_ensure([(r.event_id, r.question) for r in with_text])
        questions = [
            gaps.GapQuestion(
                key=r.event_id,
                text=r.question.strip(),
                asker=r.actor_id,
                not_covered=r.not_covered,
                rated_down=r.rated_down,
                personal_data=r.personal_data,
                only_just=r.only_just,
            )
            for r in with_text
        ]
        topics = gaps.group_topics(
            questions,
            [vectors[q.key] for q in questions],
            distance_threshold=settings.HUMPHREY_INSIGHTS_TOPIC_DISTANCE,
            min_askers=self.min_askers,
        )
        shown = [t for t in topics if t.asker_count >= self.min_askers]
        hidden = [t for t in topics if t.asker_count < self.min_askers]
        info.update(hidden_topics=len(hidden), hidden_questions=sum(t.size for t in hidden))
        views = []
        for number, topic in enumerate(shown[:MAX_TOPICS], start=1):
            examples = []
            if self.show_questions:
                examples = [redact(q, find_personal_data(q))[:300] for q in topic.examples(EXAMPLES_PER_TOPIC)]
            views.append(
                TopicView(
                    label=", ".join(topic.keywords) if topic.keywords else f"Topic {number} (no common keyword)",
                    size=topic.size,
                    not_covered=topic.not_covered,
                    rated_down=topic.rated_down,
                    only_just=topic.only_just,
                    examples=examples,
                    nearest=selectors.nearest_documents(self.collection, topic.centroid, k=NEAREST_PER_TOPIC),
                )
            )
        info["beyond_max_topics"] = max(0, len(shown) - MAX_TOPICS)
        return views, info

    # --- tables ----------------------------------------------------------------------------

    def _link(self, document_id: int) -> str | None:
        return document_link(document_id) if self.link_documents else None

    def _doc(self, document_id: int, title: str) -> Cell:
        return Cell(title, title, link=self._link(document_id))

    @cached_property
    def unfamiliar(self) -> tuple[list[tuple[str, int]], int]:
        """The words of questions not covered that no close passage used (as typed; side by side in a
        question, one phrase: "memory stick", counted also where the question had more such words
        around it, "memory stick inventory"), each with how many such questions held it, most first;
        and how many runs of such words had none that ``min_askers`` people used (never shown, as a
        topic's keywords). Personal data is taken out first; words only, no digits."""
        rows, _ = self.gap_rows
        questions: dict[str, int] = {}
        askers: dict[str, set] = {}
        runs: set[tuple[str, ...]] = set()
        for row in rows:
            if not (row.not_covered and row.missing and row.question and row.question.strip()):
                continue
            text = redact(row.question, find_personal_data(row.question))
            found = _unfamiliar_phrases(text, row.missing)
            runs.update(found)
            for phrase in set().union(*map(_sub_phrases, found)):
                questions[phrase] = questions.get(phrase, 0) + 1
                askers.setdefault(phrase, set()).add(row.actor_id)
        enough = {w for w in questions if len(askers[w]) >= self.min_askers}
        # A phrase inside a longer one shown for as many questions adds nothing ("memory" in "memory stick").
        shown = sorted(
            (
                w
                for w in enough
                if not any(w != o and f" {w} " in f" {o} " and questions[o] == questions[w] for o in enough)
            ),
            key=lambda w: (-questions[w], w),
        )
        told = {word for w in shown for word in w.split()}
        hidden = sum(1 for run in runs if not told.intersection(run))
        return [(w, questions[w]) for w in shown], hidden

    def table(self, name: str) -> Table:
        if name not in TABLES:
            raise KeyError(name)
        return getattr(self, f"_table_{name}")()

    def _table_questions(self) -> Table:
        rows = [
            [_day(d.day), _num(d.questions), _num(d.answered), _num(d.not_covered), _num(d.failed), _num(d.other)]
            for d in self.days
        ]
        headers = ["Date", "Questions", "Answered", "Not covered", "Failed", "Other"]
        return Table("questions", TABLES["questions"], headers, rows, [False] + [True] * 5)

    def _table_outcomes(self) -> Table:
        groups = [
            ("Answered", "answered"),
            ("Not covered by the guidance", "not_covered"),
            ("Failed (error or stalled)", "failed"),
            ("Stopped or refused", "other"),
        ]
        rows = [[Cell(label), _num(self.totals[key]), Cell(self.share(key), numeric=True)] for label, key in groups]
        rows.append([Cell("All questions"), _num(self.totals["questions"]), Cell("100%", numeric=True)])
        table = Table("outcomes", TABLES["outcomes"], ["Outcome", "Questions", "Share"], rows, [False, True, True])
        if not self.totals["questions"]:
            table.rows = []
        return table

    def _table_feedback(self) -> Table:
        rows = [[_day(d.day), _num(d.up), _num(d.down)] for d in self.days]
        return Table("feedback", TABLES["feedback"], ["Date", "Rated up", "Rated down"], rows, [False, True, True])

    def _table_first_token(self) -> Table:
        rows = [
            [_day(d.day), _num(d.timed), _num(d.first_token_median_ms), _num(d.first_token_p90_ms)] for d in self.days
        ]
        headers = ["Date", "Answers timed", "Median (ms)", "90th percentile (ms)"]
        return Table("first_token", TABLES["first_token"], headers, rows, [False, True, True, True])

    def _table_cost(self) -> Table:
        rows = [
            [_day(c.day), Cell(c.currency or "–", c.currency), _num(c.amount, places=4), _num(c.answers)]
            for c in self.costs
        ]
        headers = ["Date", "Currency", "Amount", "Answers"]
        return Table("cost", TABLES["cost"], headers, rows, [False, False, True, True])

    def _table_topics(self) -> Table:
        views, info = self.topics
        headers = ["Topic", "Questions", "Not covered", "Rated down", "Only just covered"]
        if self.show_questions:
            headers.append("Example questions")
        headers.append("Nearest documents")
        rows = []
        for view in views:
            row = [
                Cell(view.label),
                _num(view.size),
                _num(view.not_covered),
                _num(view.rated_down),
                _num(view.only_just),
            ]
            if self.show_questions:
                slug = self.collection.slug if self.link_documents else None  # each example tried again in a click
                row.append(Cell("", items=tuple((q, try_link(slug, q) if slug else None) for q in view.examples)))
            row.append(Cell("", items=tuple((d.title, self._link(d.document_id)) for d in view.nearest)))
            rows.append(row)
        hidden, held = info.get("hidden_topics", 0), info.get("hidden_questions", 0)
        notes = _hidden_note(
            hidden,
            f"smaller topic ({held} question{'s' if held != 1 else ''})",
            f"smaller topics ({held} questions)",
        )
        if info.get("without_text"):
            notes.append(f"{info['without_text']} questions are counted but not grouped: their text was purged.")
        if info.get("not_grouped"):
            notes.append(
                f"{info['not_grouped']} questions are counted but not grouped into topics, because grouping "
                f"sends their text to the embedding endpoint. {info['not_grouped_reason']}"
            )
        if info.get("beyond_cap"):
            notes.append(f"Only the most recent {info['total'] - info['beyond_cap']} of {info['total']} were grouped.")
        if info.get("beyond_max_topics"):
            notes.append(f"{info['beyond_max_topics']} further topics, each smaller than those shown.")
        if not self.show_questions:
            notes.append("Question text is not shown here (a setting); topics are named by their common words.")
        numeric = [False, True, True, True, True] + ([False] if self.show_questions else []) + [False]
        return Table("topics", TABLES["topics"], headers, rows, numeric, notes, empty="No gaps to show in this period.")

    def _table_unfamiliar(self) -> Table:
        words, hidden = self.unfamiliar
        rows = [[Cell(word), _num(count)] for word, count in words[:MAX_UNFAMILIAR]]
        table = Table(
            "unfamiliar", TABLES["unfamiliar"], ["Words", "Questions not covered that used them"], rows, [False, True]
        )
        table.notes = _hidden_note(hidden, "word or phrase", "words or phrases")
        if len(words) > MAX_UNFAMILIAR:
            table.notes.append(f"Only the {MAX_UNFAMILIAR} used most are shown, of {len(words)}.")
        return table

    def _table_most_cited(self) -> Table:
        shown = [c for c in self.citations if c.askers >= self.min_askers]
        rows = [[self._doc(c.document_id, c.title), _num(c.answers)] for c in shown]
        notes = _hidden_note(len(self.citations) - len(shown), "cited document", "cited documents")
        return Table("most_cited", TABLES["most_cited"], ["Document", "Answers citing it"], rows, [False, True], notes)

    def _table_rated_down(self) -> Table:
        down = [c for c in self.citations if c.rated_down]
        down.sort(key=lambda c: (-c.rated_down, c.title, c.document_id))
        shown = [c for c in down if c.down_askers >= self.min_askers]
        rows = [[self._doc(c.document_id, c.title), _num(c.rated_down), _num(c.answers)] for c in shown]
        notes = _hidden_note(len(down) - len(shown), "document", "documents")
        headers = ["Document", "Answers rated down citing it", "Answers citing it"]
        return Table("rated_down", TABLES["rated_down"], headers, rows, [False, True, True], notes)

    def _table_never_cited(self) -> Table:
        cited = {c.document_id for c in self.citations}
        documents = selectors.documents_never_cited(self.collection, self.period, cited)
        rows = [[self._doc(d.document_id, d.title), _updated(d)] for d in documents]
        caption = f"Documents not cited in the last {self.period.days} days"
        return Table("never_cited", caption, ["Document", "Current version uploaded"], rows, [False, False])

    def _table_stale(self) -> Table:
        """Stale documents (``selectors.documents_stale``), those still cited most in the period first
        (answers citing it, counted only where ``min_askers`` people are behind them, as in "most
        cited"), then the oldest."""
        days = settings.HUMPHREY_INSIGHTS_STALE_DAYS
        documents = selectors.documents_stale(self.collection, older_than_days=days)
        cited = {c.document_id: c.answers for c in self.citations if c.askers >= self.min_askers}
        documents.sort(key=lambda d: (-cited.get(d.document_id, 0), d.updated, d.title, d.document_id))
        rows = []
        for d in documents:
            review = d.review
            rows.append(
                [
                    self._doc(d.document_id, d.title),
                    _updated(d),
                    _num(d.age_days),
                    Cell(REVIEW_WORDS.get(str(review.status), "") if review else "No review date"),
                    Cell(f"{review.review_by:%-d %B %Y}", review.review_by) if review else Cell("–", ""),
                    _num(cited.get(d.document_id)) if d.document_id in cited else Cell("–", "", numeric=True),
                ]
            )
        caption = (
            "Documents due for review, overdue or expired, or, without a review date, not updated for more "
            f"than {days} days: the most cited in the period first"
        )
        headers = ["Document", "Current version uploaded", "Age (days)", "Review", "Review by", "Answers citing it"]
        notes = [
            f"Answers citing a document are shown where at least {self.min_askers} people are behind them "
            "(else –, and it is ordered as if not cited)."
        ]
        return Table("stale", caption, headers, rows, [False, False, True, False, False, True], notes)

    # --- charts ----------------------------------------------------------------------------

    def charts(self) -> dict[str, charts.Chart]:
        labels = [_short(d.day) for d in self.days]
        questions = charts.bar_chart(
            chart_id="chart-questions",
            title="Questions per day, by outcome",
            table_id="table-questions",
            labels=labels,
            stacked=True,
            series=[
                Series("Answered", "answered", [d.answered for d in self.days]),
                Series("Not covered", "not-covered", [d.not_covered for d in self.days]),
                Series("Failed", "failed", [d.failed for d in self.days]),
                Series("Stopped or refused", "other", [d.other for d in self.days]),
            ],
        )
        keys = [("Answered", "answered"), ("Not covered", "not_covered"), ("Failed", "failed"), ("Other", "other")]
        outcomes = charts.bar_chart(
            chart_id="chart-outcomes",
            title="How questions ended",
            table_id="table-outcomes",
            labels=[label for label, _ in keys],
            stacked=True,
            series=[
                Series(label, key.replace("_", "-"), [self.totals[key] if k == key else 0 for _, k in keys])
                for label, key in keys
            ],
        )
        feedback = charts.bar_chart(
            chart_id="chart-feedback",
            title="Feedback per day",
            table_id="table-feedback",
            labels=labels,
            series=[
                Series("Rated up", "up", [d.up for d in self.days]),
                Series("Rated down", "down", [d.down for d in self.days]),
            ],
        )
        first_token = charts.bar_chart(
            chart_id="chart-first-token",
            title="Time to first token per day",
            table_id="table-first_token",
            labels=labels,
            unit=" ms",
            series=[
                Series("Median", "median", [d.first_token_median_ms for d in self.days]),
                Series("90th percentile", "p90", [d.first_token_p90_ms for d in self.days]),
            ],
        )
        currencies = sorted({c.currency for c in self.costs})
        by_key = {(c.day, c.currency): c.amount for c in self.costs}
        cost = charts.bar_chart(
            chart_id="chart-cost",
            title="Cost per day",
            table_id="table-cost",
            labels=labels,
            series=[
                Series(currency or "cost", f"cost-{n % 3}", [by_key.get((d.day, currency)) for d in self.days])
                for n, currency in enumerate(currencies)
            ],
        )
        return {
            "questions": questions,
            "outcomes": outcomes,
            "feedback": feedback,
            "first_token": first_token,
            "cost": cost,
        }


REVIEW_WORDS = {"due": "Due for review", "overdue": "Overdue", "expired": "Expired: no longer searched"}


def _updated(document: selectors.DocumentAge) -> Cell:
    if document.updated is None:
        return Cell("–", "")
    from django.utils import timezone

    local = timezone.localtime(document.updated).date()
    return Cell(local.strftime("%-d %B %Y"), local)
