"""Every benchmark, one after another, at sizes that finish in minutes; prints one JSON object.

    python bench/run_all.py [--only ingest ocr ...] [--full]

Each runs as its own process (``bench/<name>.py``, which prints one JSON object on stdout and its
progress on stderr); this collects them as ``{"<name>": {...}, ...}``, with ``{"error": ...}`` for one
that failed, so one broken benchmark does not hide the others' figures. ``--full`` runs each at its
own default size (retrieval's 100,000 chunks takes most of an hour); without it retrieval and chat
load run small. The figures reported in docs/ come from the individual commands those pages name.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (quick arguments, full arguments)
BENCHES = {
    "ingest": (["--backends", "onnx-int8"], []),
    "ocr": (["--pages", "5"], []),
    "answers": ([], []),
    "retrieval": (["--chunks", "20000", "--collections", "20", "--queries", "50"], []),
    "chat_load": (["--duration", "20"], []),
    "audit_verify": (["--events", "5000"], []),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), help="run only these")
    parser.add_argument("--full", action="store_true", help="each benchmark at its own default size")
    options = parser.parse_args()
    results: dict[str, dict] = {}
    for name in options.only or BENCHES:
        quick, full = BENCHES[name]
        command = [sys.executable, str(HERE / f"{name}.py"), *(full if options.full else quick)]
        print(f"[bench] {' '.join(command[1:])}", file=sys.stderr, flush=True)
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        try:
            results[name] = json.loads(done.stdout) if done.returncode == 0 else {"error": f"exit {done.returncode}"}
        except json.JSONDecodeError:
            results[name] = {"error": "its output was not one JSON object", "output": done.stdout[-2000:]}
    print(json.dumps(results, indent=2))
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
