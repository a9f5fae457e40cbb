"""The evaluation command: metrics on a question file, misses printed, bad input refused, nothing left behind."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import CommandError, call_command

from tests.documents.test_retrieval import add_document, make_collection

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fake_embeddings(settings):
    settings.HUMPHREY_EMBEDDINGS = {"CLASS": "fake", "CONFIG": {}}


@pytest.fixture
def guidance():
    collection = make_collection("guidance", groups=["Staff"])
    leave = add_document(
        collection,
        ["Annual leave is 25 days a year.", "Carry over up to five days of annual leave."],
        title="Leave",
    )
    travel = add_document(collection, ["Claim T&S expenses within 28 days using form MPM A.4."], title="Travel")
    return {"collection": collection, "leave": leave.source_name, "travel": travel.source_name}


def run(path, *args) -> tuple[list[str], dict]:
    out = StringIO()
    call_command("evaluate_retrieval", str(path), *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    return lines[:-1], json.loads(lines[-1])


def test_metrics_and_misses(guidance, tmp_path):
    """A found quote scores, a quote the corpus does not hold is a printed miss, doc-null lines are skipped."""
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "q1", "question": "how many days annual leave a year", "doc": guidance["leave"],
         "answer_quote": "annual  LEAVE is 25 days"},
        {"id": "q2", "question": "T&S expenses deadline", "doc": guidance["travel"],
         "answer_quote": "within 28 days using form MPM A.4"},
        {"id": "q3", "question": "what is the pension age", "doc": guidance["leave"],
         "answer_quote": "pension age is 68"},
        {"id": "q4", "question": "ministerial gifts", "doc": None, "answer_quote": None},
    ]  # fmt: skip
    questions.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    misses, metrics = run(questions, "--collection", "guidance", "--k", "2")
    assert metrics["n"] == 3 and metrics["skipped"] == 1
    assert metrics["passage_recall_at_5"] == pytest.approx(2 / 3, abs=1e-3)
    assert metrics["passage_recall_at_1"] == pytest.approx(2 / 3, abs=1e-3)
    assert metrics["recall_at_10"] == 1.0  # q3's document is still found
    assert 0 < metrics["mrr"] <= 1
    assert metrics["chunks"] == 3 and metrics["avg_chunk_chars"] > 0
    assert len(misses) == 1 and misses[0].startswith("MISS q3:")
    for mode in ("vector", "keyword"):
        _, by_mode = run(questions, "--collection", "guidance", "--mode", mode, "--quiet")
        assert by_mode["mode"] == mode and by_mode["n"] == 3


def test_temporary_reader_leaves_nothing_behind(guidance, tmp_path):
    """The default reader and its grant exist only inside a rolled-back transaction."""
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": "annual leave", "doc": guidance["leave"], "answer_quote": "x"}))
    users, groups = User.objects.count(), Group.objects.count()
    run(questions, "--collection", "guidance")
    assert (User.objects.count(), Group.objects.count()) == (users, groups)
    assert list(guidance["collection"].reader_groups.values_list("name", flat=True)) == ["Staff"]


def test_as_a_user_who_cannot_read_it_everything_misses(guidance, tmp_path, make_user):
    """--user searches with that user's rights: an outsider finds nothing, so every question misses."""
    make_user("outsider@example.gov.uk")
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "annual leave", "doc": guidance["leave"], "answer_quote": "Annual leave"})
    )
    misses, metrics = run(questions, "--collection", "guidance", "--user", "outsider@example.gov.uk")
    assert metrics["recall_at_10"] == 0.0 and len(misses) == 1


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ('{"question": "x", "doc": "a.md", "answer_quote": "y"}\nnot json\n', [], "q.jsonl:2: not valid JSON"),
        ('{"doc": "a.md", "answer_quote": "y"}\n', [], "needs a non-empty 'question'"),
        ('{"question": "x", "doc": null, "answer_quote": null}\n', [], "no answerable questions"),
        ('{"question": "x", "doc": "a.md", "answer_quote": "y"}\n', ["--k", "11"], "--k must be between"),
        ('{"question": "x", "doc": "a.md", "answer_quote": "y"}\n', ["--user", "nobody@x"], "No user"),
    ],
)
def test_bad_input_is_a_clear_error(guidance, tmp_path, content, args, message):
    """Malformed files, impossible k and unknown users are refused with a message naming the problem."""
    questions = tmp_path / "q.jsonl"
    questions.write_text(content)
    with pytest.raises(CommandError, match=message):
        call_command("evaluate_retrieval", str(questions), "--collection", "guidance", *args, stdout=StringIO())


def test_unknown_collection_and_missing_file(tmp_path):
    """A slug that does not exist and a path that does not exist are both clear errors."""
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "x", "doc": "a.md", "answer_quote": "y"}\n')
    with pytest.raises(CommandError, match="No collection"):
        call_command("evaluate_retrieval", str(questions), "--collection", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="No such file"):
        call_command("evaluate_retrieval", str(tmp_path / "missing.jsonl"), "--collection", "nope")
