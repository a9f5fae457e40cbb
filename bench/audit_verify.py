"""How long proving the audit trail intact takes, and what checking each event's signature adds.

    python bench/audit_verify.py [--events 20000] [--repeat 3]

In its own database (``humphrey_bench_audit`` on the embedded server, made afresh and dropped at the
end): writes ``--events`` answer events through ``audit_record`` (each with content, as chat writes
them), then runs ``audit_verify`` ``--repeat`` times as it is, as many times with the signature
check made to pass without computing anything, and as many without the check of stored records against
the trail (``assistant.integrity``), in turns. Prints one JSON object: events, write rate, verification
seconds for each, events a second, and the share of verification time the signatures and the records
check cost (ratios measured in one run).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness
from harness import log

DB_NAME = "humphrey_bench_audit"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    harness.setup_django(DB_NAME)
    harness.drop_database(DB_NAME, create=True)
    try:
        print(json.dumps(run(args.events, args.repeat), indent=2))
    finally:
        harness.drop_database(DB_NAME)


def run(events: int, repeat: int) -> dict:
    from unittest import mock

    from django.core.management import call_command
    from django.db import connection

    import audit.integrity
    from audit.actions import Action
    from audit.integrity import audit_verify
    from audit.services import audit_record

    call_command("migrate", "--noinput", verbosity=0)
    log(f"writing {events} answer events")
    started = time.perf_counter()
    for n in range(events):
        audit_record(
            action=Action.ANSWER,
            outcome="answered",
            subject=f"conversation:{n}",
            data={"conversation_id": n, "message_id": 2 * n, "timings_ms": {"total": 2210}, "citations": [1, 2]},
            content={"question": f"Question {n} about annual leave?", "answer": "You get 25 days [1]." * 5},
        )
    written = time.perf_counter() - started
    timings: dict[str, list[float]] = {"signed": [], "signature_skipped": [], "records_check_skipped": []}
    patches = {
        "signature_skipped": lambda: mock.patch.object(audit.integrity, "event_signature_valid", lambda s, m: True),
        "records_check_skipped": lambda: mock.patch.object(audit.integrity, "_RECORD_CHECKS", []),
    }
    for _ in range(repeat):
        for name in timings:
            with patches[name]() if name in patches else mock.MagicMock():
                t0 = time.perf_counter()
                result = audit_verify()
                timings[name].append(time.perf_counter() - t0)
            assert result.ok and result.checked == events, result.summary()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        database = cursor.fetchone()[0].split(",")[0]
    signed, skipped = statistics.median(timings["signed"]), statistics.median(timings["signature_skipped"])
    unchecked = statistics.median(timings["records_check_skipped"])
    return {
        "events": events,
        "write_events_per_s": round(events / written),
        "verify_s": {name: [round(t, 2) for t in values] for name, values in timings.items()},
        "verify_events_per_s": round(events / signed),
        "signature_share_of_verify": round((signed - skipped) / signed, 3),
        "records_check_share_of_verify": round((signed - unchecked) / signed, 3),
        "machine": {"cpus": __import__("os").cpu_count(), "processor": platform.machine(), "database": database},
    }


if __name__ == "__main__":
    main()
