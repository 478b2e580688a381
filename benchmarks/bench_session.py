"""`log_metrics` inside `yanex.start` (a notebook's or a REPL's session) against the same calls in a
script under yanex's supervisor, as `yanex run` launches it (issue 23).

Both loops make N calls of a 2-key dict (default 100,000) and time themselves; in the session a
daemon thread of the same interpreter ingests the journal every half second while the loop runs,
where a script's supervisor is another process. The session's rate is reported as a ratio of the
script's (medians of alternating runs, as the machine is shared); target >= 0.9. Every point must
be in the database once the session has ended.

Run: `make bench` or `python benchmarks/bench_session.py [--calls N] [--repeat R]`.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report_value, supervise, use_scratch_home
from bench_log_metrics import LOOP

SCRIPT = LOOP + 'print(json.dumps({"seconds": elapsed}))\n'
SESSION = (
    "import yanex\nrun = yanex.start(name='bench')\n"
    + LOOP
    + "run.finish()\nprint(json.dumps({'seconds': elapsed, 'id': run.id}))\n"
)


def _session(calls: int) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SESSION, str(calls)], capture_output=True, text=True, env=dict(os.environ)
    )
    if result.returncode != 0:
        raise SystemExit(f"the session failed: {result.stderr}")
    measured: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    calls = args.calls
    script_rates: list[float] = []
    session_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as tmp:
        use_scratch_home(Path(tmp))
        script = Path(tmp) / "log_many.py"
        script.write_text(SCRIPT)
        for n in range(args.repeat):
            for kind in ("script", "session") if n % 2 == 0 else ("session", "script"):
                if kind == "script":
                    _, child = supervise(script, [str(calls)])
                    script_rates.append(calls / float(child["seconds"]))
                else:
                    started = time.perf_counter()
                    measured = _session(calls)
                    session_rates.append(calls / float(str(measured["seconds"])))
                    whole = time.perf_counter() - started
        conn = sqlite3.connect(Path(tmp) / "home" / "yanex.db")
        try:
            stored = conn.execute(
                "SELECT count(*) FROM metrics WHERE experiment_local_id = "
                "(SELECT local_id FROM experiments WHERE id = ?)",
                (measured["id"],),
            ).fetchone()[0]
            status = conn.execute(
                "SELECT status FROM experiments WHERE id = ?", (measured["id"],)
            ).fetchone()[0]
        finally:
            conn.close()
    if (stored, status) != (2 * calls, "completed"):
        raise SystemExit(f"the session kept {stored} of {2 * calls} points and is {status}")
    script_rate, session_rate = statistics.median(script_rates), statistics.median(session_rates)
    report_value(f"log_metrics calls/s in a script under yanex run ({calls:,} calls)", script_rate, "calls/s")
    report_value(f"log_metrics calls/s in a yanex.start session ({calls:,} calls)", session_rate, "calls/s")
    report_value("  = session rate / script rate", session_rate / script_rate, "x", ">= 0.9")
    report_value("a whole session: interpreter, start, calls, finish", whole, "s")
    print(f"all {stored:,} points of the last session are in the database", flush=True)
    if session_rate / script_rate < 0.9:
        print("log_metrics in a session OVER TARGET (more than 10% slower than in a script)", flush=True)


if __name__ == "__main__":
    main()
