"""What operators see of an answer: metrics move, and logs never carry the question or answer text."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from humphrey.observability import JsonFormatter

from .helpers import ask_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

QUESTION = "How many days of annual leave do full-time staff get? My reference is ZEBRA-PLUM-4471."


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_answer_moves_metrics_and_logs_no_text(guidance, staff, fake_model, caplog):
    """A streamed answer counts in humphrey_answers_total, time to first token, retrieval time and tokens;
    every log line written meanwhile (as JSON, the production format) is free of the question and answer."""
    fake_model(reply="Full-time staff get 25 days of annual leave {cite}.", delay=0.001)
    before = {
        "answered": sample("humphrey_answers_total", outcome="answered"),
        "ttft": sample("humphrey_time_to_first_token_seconds_count"),
        "retrieval": sample("humphrey_retrieval_seconds_count"),
    }
    caplog.set_level(logging.DEBUG)
    frames = await ask_once(staff, QUESTION)
    assert frames[-1]["type"] == "done"
    assert sample("humphrey_answers_total", outcome="answered") == before["answered"] + 1
    assert sample("humphrey_time_to_first_token_seconds_count") == before["ttft"] + 1
    assert sample("humphrey_retrieval_seconds_count") == before["retrieval"] + 1
    assert caplog.records, "the answer path should log something (ids, timings)"
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(record) for record in caplog.records)
    for secret in ("ZEBRA-PLUM-4471", "annual leave do full-time", "25 days of annual leave"):
        assert secret not in text
