"""The corpus helper: a clone with nothing beside it skips the corpus tests and says why; CI may not."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

from documents.management.commands.evaluate_retrieval import questions_path
from tests.corpus import require_corpus


@pytest.fixture
def corpus_folder(tmp_path):
    folder = tmp_path / "corpus"
    (folder / "docs").mkdir(parents=True)
    (folder / "dev-questions.jsonl").write_text("")
    return folder


def test_the_named_corpus_is_used(monkeypatch, corpus_folder):
    monkeypatch.setenv("HUMPHREY_CORPUS_DIR", str(corpus_folder))
    monkeypatch.setenv("CI", "true")
    assert require_corpus() == corpus_folder


def test_the_corpus_beside_the_checkout_is_used(monkeypatch, settings, corpus_folder):
    monkeypatch.delenv("HUMPHREY_CORPUS_DIR", raising=False)
    beside = corpus_folder.parent / "shared" / "corpus"
    beside.parent.mkdir()
    corpus_folder.rename(beside)
    settings.BASE_DIR = corpus_folder.parent / "checkout"
    assert require_corpus() == beside


def test_no_corpus_skips_with_the_reason_outside_ci(monkeypatch, settings, tmp_path):
    monkeypatch.delenv("HUMPHREY_CORPUS_DIR", raising=False)
    monkeypatch.delenv("CI", raising=False)
    settings.BASE_DIR = tmp_path / "checkout"
    with pytest.raises(Skipped) as skipped:
        require_corpus()
    assert f"no shared corpus at {tmp_path / 'shared' / 'corpus'}" in str(skipped.value)
    assert "HUMPHREY_CORPUS_DIR" in str(skipped.value)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_no_corpus_in_ci_is_an_error(monkeypatch, settings, tmp_path, ci):
    monkeypatch.delenv("HUMPHREY_CORPUS_DIR", raising=False)
    monkeypatch.setenv("CI", ci)
    settings.BASE_DIR = tmp_path / "checkout"
    with pytest.raises(Failed, match="CI is set, so the corpus tests must run"):
        require_corpus()


def test_a_named_corpus_that_is_not_there_is_an_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HUMPHREY_CORPUS_DIR", str(tmp_path / "nope"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Failed, match="no shared corpus at"):
        require_corpus()


def test_a_folder_without_the_questions_is_not_a_corpus(monkeypatch, tmp_path):
    (tmp_path / "docs").mkdir()
    monkeypatch.setenv("HUMPHREY_CORPUS_DIR", str(tmp_path))
    with pytest.raises(Failed, match=r"has no dev-questions\.jsonl"):
        require_corpus()


def test_the_evaluate_commands_find_questions_in_the_corpus(monkeypatch, corpus_folder, tmp_path):
    """No file named: the corpus's dev questions; a relative name not found here: looked for in the corpus."""
    from django.core.management.base import CommandError

    monkeypatch.setenv("HUMPHREY_CORPUS_DIR", str(corpus_folder))
    (corpus_folder / "more.jsonl").write_text("")
    assert questions_path(None) == corpus_folder / "dev-questions.jsonl"
    assert questions_path(Path("more.jsonl")) == corpus_folder / "more.jsonl"
    mine = tmp_path / "mine.jsonl"
    mine.write_text("")
    assert questions_path(mine) == mine
    with pytest.raises(CommandError, match="HUMPHREY_CORPUS_DIR"):
        questions_path(Path("nowhere.jsonl"))
