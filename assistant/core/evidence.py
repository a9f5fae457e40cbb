"""How well passages answer a question, unit by unit: the evidence behind every answer decision.

Plain Python and NumPy, no Django. Three callers share it:

- the **coverage gate** (``coverage``): does the guidance the person may read cover the question at
  all? Decided before any model is called, from how much of the question's content (its rarer
  words, names, numbers and codes) the best passages contain and how close in meaning the best
  single unit (sentence, list item, table row) is, not from one passage cosine;
- the **extractive answerer** (``select_units``): the units that answer, by meaning and by the
  question's own words, with the context each needs;
- the **claim check** (``check_claims``): each sentence of a model's answer against the passages it
  cites.

Units and their vectors are made at ingestion (``documents.ingest.units``); a source without them
is scored by its words alone. Word weights come from the caller (``weights``: a word stem's share
of chunks containing it; rarer words count for more, as in IDF).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import snowballstemmer

from .types import Source

SENTENCE, ITEM, ROW, HEADER, HEADING = "sentence", "item", "row", "header", "heading"
QUOTABLE = (SENTENCE, ITEM, ROW)

# Words that carry no topic of their own in a question: English function words, question and
# request words. Topic words common in the guidance ("leave", "data") are not listed: their weight
# comes from how often the guidance uses them.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are aren't as at be because been before
    being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
    don't down during each either else ever every few for from further get gets getting got had hadn't
    has hasn't have haven't having he her here hers herself him himself his how i i'd i'm i've if in
    into is isn't it it's its itself just let let's may me might mine more most much must mustn't my
    myself need needs no nor not now of off on once one only or other ought our ours ourselves out over
    own per please rather really same say says shall shan't she should shouldn't so some such than that
    that's the their theirs them themselves then there there's these they they'd they're this those
    though through to too under until up upon us use used using very via want wants was wasn't way we
    we'd we're we've were weren't what what's whatever when whenever where where's whether which while
    who who's whom whose why will with within without won't would wouldn't yes yet you you'd you're
    you've your yours yourself yourselves tell know explain mean means meant happen happens anything
    something someone anyone thing things kind sort okay ok hi hello thanks thank etc eg ie""".split()  # noqa: SIM905 - a word list reads best as words
)
_WORD = re.compile(r"[a-z0-9]+(?:['’\-][a-z0-9]+)*")
_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'’”)\]]*(?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])*\s+(?=[\"'‘“(*_]?[A-Z0-9])")


@functools.cache
def _stemmer():
    return snowballstemmer.stemmer("english")


@functools.lru_cache(maxsize=50_000)
def stem(word: str) -> str:
    return _stemmer().stemWord(word)


_HOW = re.compile(r"\bhow (long|many|much|often|soon|far|quickly)\b|\bwhat time\b|\bby when\b")


_DIGIT = re.compile(r"\d")


@functools.lru_cache(maxsize=32_768)  # a passage's units are scored again for every question that finds it
def terms(text: str) -> tuple[str, ...]:
    """The content words of ``text``, stemmed (as PostgreSQL's ``english`` configuration stems them),
    in order, repeats kept. Numbers and codes are kept as they are; "how long", "how many" and the
    like ask for an amount, they are not the topic."""
    out = []
    for word in _WORD.findall(_HOW.sub(" ", text.lower().replace("’", "'"))):
        word = word.strip("'")
        if word.endswith("'s"):
            word = word[:-2]
        if not word or word in STOP_WORDS or (len(word) < 2 and not word.isdigit()):
            continue
        out.append(word if _DIGIT.search(word) else stem(word.replace("'", "")))
    return tuple(out)


@dataclass(frozen=True)
class Weights:
    """Word rarity: ``share`` maps a stem to the share of chunks containing it; words not listed are
    rarer than ``floor``. Weight is -log(share), as inverse document frequency is."""

    share: dict[str, float] = field(default_factory=dict)
    floor: float = 0.002

    def of(self, term: str) -> float:
        share = self.share.get(term)
        if share is None:
            share = self.floor / 2
        return max(0.05, -math.log(min(max(share, 1e-6), 0.95)))


@dataclass
class ScoredUnit:
    source: Source
    index: int  # the unit's index in ``source.units``
    meaning: float  # cosine to the question (0 when the source has no unit vectors)
    words: float  # weighted share of the question's words the unit (with its context) holds
    score: float

    @property
    def start(self) -> int:
        return self.source.units[self.index][0]

    @property
    def end(self) -> int:
        return self.source.units[self.index][1]

    @property
    def kind(self) -> str:
        return self.source.units[self.index][2]


def unit_text(source: Source, index: int) -> str:
    start, end = source.units[index][0], source.units[index][1]
    return " ".join(source.text[start:end].split())


def _unit_matrix(source: Source) -> np.ndarray | None:
    vectors = source.unit_vectors
    if vectors is None or not len(source.units):
        return None
    matrix = np.asarray(vectors, dtype=np.float32)
    return matrix if matrix.shape[0] == len(source.units) else None


def _has(term: str, words: set[str]) -> bool:
    """``term`` is in ``words``, or one of them is it with a longer ending: Snowball stems
    "classification" to "classif" and "classified" to "classifi"."""
    if term in words:
        return True
    if len(term) >= 5:
        return any(len(w) >= 5 and (w.startswith(term) or term.startswith(w)) for w in words)
    return False


def _word_share(question: dict[str, float], present: set[str], partly: set[str] = frozenset()) -> float:
    """The weighted share of ``question``'s words in ``present`` (words only in ``partly``, the heading
    above a unit or the unit it leans on, count half)."""
    total = sum(question.values())
    if not total:
        return 0.0
    found = 0.0
    for t, w in question.items():
        if _has(t, present):
            found += w
        elif _has(t, partly):
            found += HEADING_WEIGHT * w
    return found / total


SUBJECT_WEIGHT = 0.5  # an earlier question's words count half in a follow-up (the new words lead)
HEADING_WEIGHT = 0.5  # a word found only in the heading above a unit (the whole section shares it) or in
# the unit it leans on counts half


# Shorthand people type into a chat box, spelt out before a question's words are matched with the
# guidance's ("pwd" is "password" when counting what a passage holds). Only the question is read this way.
SHORTHAND = {
    "b4": "before", "r": "are", "u": "you", "ur": "your", "pls": "please", "hav": "have", "w/": "with",
    "pt": "part", "std": "standard", "info": "information", "docs": "documents", "doc": "document",
    "min": "minimum", "max": "maximum", "org": "organisation", "dept": "department", "govt": "government",
    "hols": "holidays", "hol": "holiday", "mat": "maternity", "pat": "paternity", "wfh": "working from home",
    "pwd": "password", "pw": "password", "passwd": "password", "dob": "date of birth", "mgr": "manager",
    "3rd": "third", "cat": "category", "reqs": "requirements", "req": "request", "approx": "approximately",
    "asap": "as soon as possible", "appt": "appointment", "yr": "year", "yrs": "years", "wk": "week",
    "wks": "weeks", "mth": "month", "mths": "months", "no.": "number", "tel": "telephone", "msg": "message",
}  # fmt: skip
_SHORT = re.compile(
    r"(?<![\w/])(" + "|".join(re.escape(k) for k in sorted(SHORTHAND, key=len, reverse=True)) + r")(?![\w/])",
    re.IGNORECASE,
)


def spelt_out(question: str) -> str:
    """``question`` with common shorthand spelt out ("pwd" -> "password")."""
    return _SHORT.sub(lambda m: SHORTHAND[m.group(1).lower()], question)


def question_terms(question: str, weights: Weights, subject: str = "") -> dict[str, float]:
    """The question's distinct content words (shorthand spelt out) with their weights; ``subject``
    (the earlier question a follow-up leans on) adds its words at half weight."""
    wanted = {t: weights.of(t) for t in dict.fromkeys(terms(spelt_out(question)))}
    for t in dict.fromkeys(terms(spelt_out(subject))):
        wanted.setdefault(t, SUBJECT_WEIGHT * weights.of(t))
    return wanted


def _heading_text(source: Source, index: int) -> str:
    """The heading a unit sits under: the nearest heading line above it in the chunk, else the last
    of the chunk's heading path (as ``documents.ingest.units.local_heading``)."""
    for i in range(index - 1, -1, -1):
        if source.units[i][2] == HEADING:
            return unit_text(source, i).lstrip("#").strip()
    return source.heading_path.split(" > ")[-1] if source.heading_path else ""


def _quotable_beside(source: Source, index: int, step: int) -> int | None:
    """The nearest quotable unit before (``step`` -1) or after (+1) ``index`` under the same heading."""
    i = index + step
    while 0 <= i < len(source.units):
        kind = source.units[i][2]
        if kind == HEADING:
            return None
        if kind in QUOTABLE:
            return i
        i += step
    return None


def _opens_section(source: Source, index: int) -> bool:
    """The first quotable unit under a heading: in guidance, often the rule or definition itself."""
    return _quotable_beside(source, index, -1) is None


_DEFINITION = re.compile(
    r"^\s*(what|whats|what's)\s+(is|are|was|were|does|do)\s+(an?\s+|the\s+)?[\w\s'’-]{1,60}(\?|$)"
    r"|\b(define|definition of|meaning of|stands? for)\b|\b(mean|meaning|means)\s*\??\s*$",
    re.IGNORECASE,
)


# A sentence that defines: "This is when...", "X is defined as...", "X means...", "It refers to...".
_DEFINES = re.compile(
    r"^(this|that|it) (is|are|means|refers)\b|^[^.;:]{1,80}\b(is|are) (defined as|when|where|the|a|an)\b"
    r"|^[^.;:]{1,80}\b(means|refers to)\b",
    re.IGNORECASE,
)


def _with_negations(found: list[str]) -> set[str]:
    """A unit's words, with "unpaid" also counting as "paid": a sentence saying something is not so
    answers the question whether it is."""
    words = set(found)
    words.update(
        w[2:] for w in found if w.startswith("un") and len(w) > 5 and w not in _NOT_NEGATIONS and w[:5] != "under"
    )
    return words


_NOT_NEGATIONS = frozenset(terms("unless under until union unit unique uniform universal understand undertake"))


@dataclass(frozen=True)
class UnitScoring:
    """How a unit's score is made (``score_units``): weights of meaning and words, and small priors."""

    meaning: float = 0.6  # the rest of the first 1.0 is the question's words
    section_lead: float = 0.0  # bonus for the first unit under a heading
    passage_rank: float = 0.15  # bonus for the passage retrieval ranked first, less for later ones
    definition_lead: float = 0.15  # for a question asking what something is or means: the first unit
    # under a heading, and a sentence that defines ("This is when..."), each get this much more


def score_units(
    *,
    question: str,
    vector,
    sources: Iterable[Source],
    weights: Weights,
    scoring: UnitScoring = UnitScoring(),
    subject: str = "",
) -> list[ScoredUnit]:
    """Every quotable unit of ``sources``, scored against the question (and the ``subject`` of the
    question a follow-up leans on), best first."""
    wanted = question_terms(question, weights, subject)
    definition = bool(_DEFINITION.search(question))
    lead_bonus = scoring.section_lead + (scoring.definition_lead if definition else 0.0)
    q = None if vector is None else np.asarray(vector, dtype=np.float32)
    scored: list[ScoredUnit] = []
    for rank, source in enumerate(sources, start=1):
        matrix = _unit_matrix(source) if q is not None else None
        sims = matrix @ q if matrix is not None else None
        prior = scoring.passage_rank / rank
        for index, unit in enumerate(source.units):
            if unit[2] not in QUOTABLE:
                continue
            present = _with_negations(terms(unit_text(source, index)))
            partly = set(terms(_heading_text(source, index)))
            context = unit[3]
            if context >= 0:  # the sentence a unit leans on is shown with it, but is not it
                partly |= set(terms(unit_text(source, context)))
            words = _word_share(wanted, present, partly)
            meaning = float(sims[index]) if sims is not None else 0.0
            score = words if sims is None else scoring.meaning * meaning + (1 - scoring.meaning) * words
            score += prior + (lead_bonus if _opens_section(source, index) else 0.0)
            if definition and _DEFINES.match(unit_text(source, index)):
                score += scoring.definition_lead
            scored.append(ScoredUnit(source, index, meaning, words, score))
    scored.sort(key=lambda s: -s.score)
    return scored


@dataclass(frozen=True)
class Coverage:
    """The evidence for "is this question covered?", and the verdict."""

    covered: bool
    words: float  # weighted share of the question's words found in the best passage (title and headings too)
    words_union: float  # ... found across the top passages together
    missing: tuple[str, ...]  # the question's rarest words no top passage holds
    best_unit: float  # best unit's cosine to the question
    best_passage: float  # best passage's cosine (the retrieval vector channel)
    agree: bool  # the vector channel's best passage also matched the question's words
    score: float  # the combined evidence the verdict compares with the threshold

    def as_dict(self) -> dict:
        return {
            "covered": self.covered,
            "score": round(self.score, 3),
            "words": round(self.words, 3),
            "words_union": round(self.words_union, 3),
            "missing": list(self.missing),
            "best_unit": round(self.best_unit, 3),
            "best_passage": round(self.best_passage, 3),
            "agree": self.agree,
        }


@dataclass(frozen=True)
class GateSettings:
    """The coverage gate's weights and thresholds (``HUMPHREY_ANSWER_*`` settings; docs/answers.md).

    evidence = words_weight x words + unit_weight x best unit's cosine + passage_weight x best
    passage's cosine. Covered when evidence >= ``min_score`` and the best unit >= ``min_best_unit``."""

    min_score: float = 0.5
    words_weight: float = 0.2
    unit_weight: float = 0.65
    passage_weight: float = 0.15
    min_best_unit: float = 0.3
    top_passages: int = 3  # passages whose words and units are counted


def _passage_terms(source: Source) -> set[str]:
    return set(terms(source.text)) | set(terms(source.heading_path)) | set(terms(source.document_title))


def coverage(
    *,
    question: str,
    vector,
    sources: list[Source],
    weights: Weights,
    gate: GateSettings,
    scored: list[ScoredUnit] | None = None,
    subject: str = "",
) -> Coverage:
    """Whether ``sources`` (best first) cover ``question`` (a follow-up: with the ``subject`` of the
    question it leans on); ``scored``: the top passages' units as ``score_units`` scored them."""
    if not sources:
        return Coverage(False, 0.0, 0.0, (), 0.0, 0.0, False, 0.0)
    wanted = question_terms(question, weights, subject)
    top = sources[: gate.top_passages]
    per_passage = [_passage_terms(s) for s in top]
    words = max(_word_share(wanted, present) for present in per_passage)
    union = set().union(*per_passage)
    words_union = _word_share(wanted, union)
    missing = tuple(sorted((t for t in wanted if not _has(t, union)), key=lambda t: -wanted[t])[:5])
    if scored is None:
        scored = score_units(question=question, vector=vector, sources=top, weights=weights, subject=subject)
    has_vectors = any(_unit_matrix(s) is not None for s in top) and vector is not None
    best_unit = max((u.meaning for u in scored), default=0.0) if has_vectors else 0.0
    vector_scores = [s for s in sources if s.vector_score is not None]
    best_passage = max((s.vector_score for s in vector_scores), default=0.0)
    best_by_vector = max(vector_scores, key=lambda s: s.vector_score, default=None)
    agree = bool(best_by_vector is not None and best_by_vector.keyword_score)
    if has_vectors:
        score = gate.words_weight * words + gate.unit_weight * best_unit + gate.passage_weight * best_passage
        covered = score >= gate.min_score and best_unit >= gate.min_best_unit
    else:  # words alone (keyword-only retrieval, or units not embedded yet)
        score = words
        covered = score >= gate.min_score
    return Coverage(covered, words, words_union, missing, best_unit, best_passage, agree, score)


def missing_words(question: str, missing: Iterable[str], *, limit: int = 3) -> list[str]:
    """The words of ``question`` (as typed, shorthand spelt out) whose stems are in ``missing``."""
    wanted, out = set(missing), []
    for word in _WORD.findall(spelt_out(question).lower().replace("’", "'")):
        found = terms(word)
        if found and found[0] in wanted and word not in out:
            out.append(word)
            wanted.discard(found[0])
    return out[:limit]


# --- The extractive answer -----------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    """Units of one source to quote together, in reading order, each with its context first."""

    source: Source
    indexes: tuple[int, ...]

    def text(self) -> str:
        return render_units(self.source, self.indexes)


def _words(text: str) -> int:
    return len(text.split())


def _with_context(source: Source, index: int) -> list[int]:
    """The unit and the one it needs before it (a table row's header, a list item's lead-in, the
    sentence a "This means..." leans on), in reading order."""
    context = source.units[index][3]
    return [context, index] if context >= 0 else [index]


def _list_items(source: Source, lead: int) -> list[int]:
    return [i for i, u in enumerate(source.units) if u[3] == lead and u[2] in (ITEM, ROW)]


def _cost(source: Source, indexes: Iterable[int]) -> int:
    return sum(_words(unit_text(source, i)) for i in indexes)


def select_units(
    scored: list[ScoredUnit],
    *,
    max_words: int = 120,
    keep_ratio: float = 0.55,
    max_sources: int = 3,
    neighbours: bool = True,
) -> list[Quote]:
    """The units that answer, about ``max_words`` words in all, grouped by source (best source first)
    in reading order:

    1. the best unit, then each unit scoring at least ``keep_ratio`` of it, each with the unit it
       needs before it; when the best unit is a lead-in ending in ":", its list items come with it
       (the best ones first when they do not all fit); other items only on their own scores;
    2. while words are left, the unit after each chosen one (the sentence after the best match is
       often the rule itself: "... are approved for corporate accounts. General use is not permitted.").

    The best unit is always kept, cut to its first items if it is a long list."""
    if not scored:
        return []
    best = scored[0].score
    score_of = {(u.source.chunk_id, u.index): u.score for u in scored}
    chosen: dict[int, tuple[Source, set[int]]] = {}
    order: list[tuple[Source, int]] = []  # chosen units, best first
    used = 0

    def room(source: Source, indexes: list[int]) -> list[int]:
        have = chosen.get(source.chunk_id, (source, set()))[1]
        return [i for i in indexes if i not in have]

    def take(source: Source, indexes: list[int]) -> None:
        nonlocal used
        entry = chosen.setdefault(source.chunk_id, (source, set()))
        entry[1].update(indexes)
        used += _cost(source, indexes)

    for candidate in scored:
        if candidate.score < best * keep_ratio or candidate.score <= 0 or used >= max_words:
            break
        source = candidate.source
        if source.chunk_id not in chosen and len(chosen) >= max_sources:
            continue
        wanted = room(source, _with_context(source, candidate.index))
        if not wanted:
            continue
        if not order and unit_text(source, candidate.index).endswith(":"):  # the best match is a lead-in
            items = room(source, _list_items(source, candidate.index))
            items.sort(key=lambda i: -score_of.get((source.chunk_id, i), 0.0))
            left = max_words - used - _cost(source, wanted)
            for i in items:
                if _cost(source, [i]) <= left or (not used and i == items[0]):
                    wanted.append(i)
                    left -= _cost(source, [i])
        cost = _cost(source, wanted)
        if used and used + cost > max_words:
            continue
        take(source, wanted)
        order.append((source, candidate.index))
    if neighbours:
        for source, index in order:
            after = _quotable_beside(source, index, 1)
            if after is None:
                continue
            wanted = room(source, [after])
            if wanted and used + _cost(source, wanted) <= max_words:
                take(source, wanted)
    return [Quote(source, tuple(sorted(units))) for source, units in chosen.values()]


def render_units(source: Source, indexes: Iterable[int]) -> str:
    """Markdown for units of one source, verbatim: sentences run together, list items and table
    rows on lines of their own (a table's header row before its rows)."""
    parts: list[str] = []
    previous_kind = None
    for i in indexes:
        kind = source.units[i][2]
        text = unit_text(source, i)
        if kind in (ITEM, ROW, HEADER):
            parts.append("\n" + text)
        elif previous_kind in (ITEM, ROW, HEADER) or not parts:
            parts.append(("\n\n" if parts else "") + text)
        else:
            parts.append(" " + text)
        previous_kind = kind
    return "".join(parts).strip()


# --- Checking a model's answer against its citations ------------------------------------------


def split_sentences(text: str) -> list[str]:
    """An answer's sentences (and list items), each with the citations that follow it."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        out.extend(part.strip() for part in _SENTENCE_END.split(line) if part.strip())
    return out


@dataclass(frozen=True)
class ClaimCheck:
    """One sentence of a model's answer and what its citations say of it."""

    sentence: str
    cited: tuple[int, ...]
    unsupported: tuple[int, ...]  # cited passages that do not support it
    uncited: bool  # a factual sentence with no citation, in an answer that cites elsewhere
    support: dict[int, tuple[int, ...]]  # passage n -> the units that best support it

    def as_dict(self) -> dict:
        return {
            "sentence": self.sentence,
            "cited": list(self.cited),
            "unsupported": list(self.unsupported),
            "uncited": self.uncited,
            "support": {str(n): list(units) for n, units in self.support.items()},
        }


@dataclass(frozen=True)
class CheckSettings:
    min_words: float = 0.5  # weighted share of the sentence's words found in the cited passage
    min_meaning: float = 0.55  # or: cosine of the sentence to the passage's closest unit
    min_factual_words: int = 4  # an uncited sentence with fewer content words is not a claim


_NOT_A_CLAIM = re.compile(
    r"^(#|>|\*\*[^*]+\*\*:?$)|:\s*$|^(here is|here are|in summary|to summarise|to summarize|according to the guidance"
    r"|the guidance (does not|doesn't)|i (could|can)not|i don't|sorry|please|you may want to|if you)",
    re.IGNORECASE,
)


def _claims(answer: str, shown: set[int]) -> list[tuple[str, tuple[int, ...], str]]:
    """(sentence, the shown passages it cites, the sentence without its citations) for each sentence."""
    parsed = []
    for sentence in split_sentences(answer):
        cited = []
        for match in _CITATION.finditer(sentence):
            cited.extend(int(p) for p in match.group(1).split(",") if int(p) in shown)
        bare = _CITATION.sub("", sentence).strip()
        parsed.append((sentence, tuple(dict.fromkeys(cited)), bare))
    return parsed


def citing_sentences(answer: str, shown: Iterable[int]) -> list[str]:
    """The sentences of ``answer`` that cite a shown passage, without their citations: the texts
    ``check_claims`` needs vectors for."""
    return list(dict.fromkeys(bare for _, cited, bare in _claims(answer, set(shown)) if cited and bare))


def check_claims(
    *, answer: str, sources: list[Source], weights: Weights, vectors: dict | None, settings: CheckSettings
) -> list[ClaimCheck]:
    """Each sentence of ``answer`` that cites ``[n]`` checked against passage n, by its words and its
    meaning (``vectors``: sentence -> its embedding, for ``citing_sentences``); factual sentences
    without a citation flagged when the answer cites elsewhere."""
    by_n = {s.n: s for s in sources}
    parsed = _claims(answer, set(by_n))
    answer_cites = any(cited for _, cited, _ in parsed)
    vector_of = vectors or {}
    checks = []
    for sentence, cited, bare in parsed:
        content = terms(bare)
        if not cited:
            factual = (
                answer_cites
                and len(content) >= settings.min_factual_words
                and not _NOT_A_CLAIM.search(bare.strip("*_ "))
            )
            checks.append(ClaimCheck(sentence, (), (), factual, {}))
            continue
        wanted = {t: weights.of(t) for t in dict.fromkeys(content)}
        vector = vector_of.get(bare)
        unsupported, support = [], {}
        for n in cited:
            source = by_n[n]
            words = _word_share(wanted, _passage_terms(source))
            scored = score_units(question=bare, vector=vector, sources=[source], weights=weights)
            meaning = max((u.meaning for u in scored), default=0.0)
            support[n] = tuple(u.index for u in scored[:2] if u.score > 0)
            if words < settings.min_words and meaning < settings.min_meaning:
                unsupported.append(n)
        checks.append(ClaimCheck(sentence, cited, tuple(unsupported), False, support))
    return checks


def claim_notes(checks: list[dict]) -> list[tuple[str, str]]:
    """(sentence, note) for each sentence the claim check marks, as the answer shows them."""
    notes = []
    for check in checks:
        unsupported = check.get("unsupported") or []
        if unsupported:
            numbers = " and ".join(", ".join(str(n) for n in unsupported).rsplit(", ", 1))
            noun = "source" if len(unsupported) == 1 else "sources"
            notes.append((check["sentence"], f"{noun} {numbers} may not support this"))
        elif check.get("uncited"):
            notes.append((check["sentence"], "no source given for this"))
    return notes
