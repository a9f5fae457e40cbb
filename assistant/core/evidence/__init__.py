"""How well passages answer a question, unit by unit: the evidence behind every answer decision.

Plain Python and NumPy, no Django, a module per job (``words``, ``units``, ``slots``, ``coverage``, ``quotes``,
``claims``). Three callers share it:

- the **coverage gate** (``coverage``): does the guidance the person may read cover the question at
  all? Decided before any model is called, from how much of the question's content (its rarer
  words, names, numbers and codes) the best passages contain and how close in meaning the best
  single unit (sentence, list item, table row) is, not from one passage cosine; and, for a question
  asking for a detail (an amount, a length of time, a count: ``slots``), whether the best units
  hold one;
- the **extractive answerer** (``select_units``): the units that answer, by meaning and by the
  question's own words, with the context each needs;
- the **claim check** (``check_claims``): each sentence of a model's answer against the passages it
  cites.

Units and their vectors are made at ingestion (``documents.ingest.units``); a source without them
is scored by its words alone. Word weights come from the caller (``weights``: a word stem's share
of chunks containing it; rarer words count for more, as in IDF).
"""

from .claims import (
    CheckSettings,
    ClaimCheck,
    check_claims,
    checks_summary,
    citing_sentences,
    claim_notes,
    split_sentences,
)
from .coverage import Coverage, GateSettings, coverage
from .quotes import Quote, prefer_answer_form, render_units, select_units
from .slots import answer_form, asked_about, asked_case, asked_slot, fills, has_form, holds_case
from .units import ScoredUnit, UnitScoring, heading_above, heading_line_above, score_units, unit_text
from .words import STOP_WORDS, Weights, missing_words, question_terms, spelt_out, stem, terms

__all__ = [
    "STOP_WORDS", "CheckSettings", "ClaimCheck", "Coverage", "GateSettings", "Quote", "ScoredUnit", "UnitScoring",
    "Weights", "answer_form", "asked_about", "asked_case", "asked_slot", "check_claims", "checks_summary",
    "citing_sentences", "claim_notes", "coverage", "fills", "has_form", "heading_above", "heading_line_above",
    "holds_case", "missing_words", "prefer_answer_form", "question_terms", "render_units", "score_units",
    "select_units", "spelt_out", "split_sentences", "stem", "terms", "unit_text",
]  # fmt: skip
