"""A model's answer checked sentence by sentence against the passages it cites."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..types import Source
from .coverage import _passage_terms
from .units import score_units
from .words import Weights, _word_share, terms

# A supported sentence's passage page highlights its best unit, and the next best only when it scores
# nearly as well (a sentence drawn from two), not whatever came second.
RUNNER_UP = 0.8

_CITATION = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")


# "e.g. AES-256" and "i.e. Monday" do not end a sentence.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)[\"'’”)\]]*(?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])*\s+(?=[\"'‘“(*_]?[A-Z0-9])"
)


def split_sentences(text: str) -> list[str]:
    """An answer's sentences (and list items), each with the citations that follow it; a question's
    sentences too (``condense.asked_and_context``)."""
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
            if words < settings.min_words and meaning < settings.min_meaning:
                unsupported.append(n)
                support[n] = ()  # its passage page must not show a sentence as what this one drew on
            else:
                best = scored[0].score if scored else 0.0
                support[n] = tuple(u.index for u in scored[:2] if u.score > 0 and u.score >= RUNNER_UP * best)
        checks.append(ClaimCheck(sentence, cited, tuple(unsupported), False, support))
    return checks


def checks_summary(checks: list[dict]) -> str:
    """The line under a model answer whose sentences the claim check marked, saying what the marks
    mean and what to do; "" when none is marked."""
    marked = len(claim_notes(checks))
    if not marked:
        return ""
    which = "1 sentence is marked" if marked == 1 else f"{marked} sentences are marked"
    it = "it" if marked == 1 else "them"
    return (
        f"Humphrey checks each sentence against the source it cites: {which}. "
        f"Check {it} in the guidance before you rely on {it}."
    )


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
