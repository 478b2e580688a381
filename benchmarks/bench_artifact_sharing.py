"""What sharing artifact contents costs and saves: save speed of 1 MB and 100 MB, reads, disk use.

N tracked scripts (launched as `yanex run` launches them) each save the same 1 MB and 100 MB files
with `log_artifact` and time it. Then N more each read one of them, as a later pipeline step
does: `load_artifact` of the 100 MB one, and two calls of `artifact_path` for it (the first makes
the experiment's view of it, the second finds it made). Disk use is counted under YANEX_HOME,
each inode once (as `du` counts hard links), after the saves and after the reads.

Target: N saves of the same content take the space of one (at most 1.1 times the content).

Run: `python benchmarks/bench_artifact_sharing.py [--experiments N] [--mb N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report_value, supervise, use_scratch_home

SAVE = """
import json, sys, time, yanex
start = time.perf_counter()
yanex.log_artifact(sys.argv[1], "small.bin")
small = time.perf_counter() - start
start = time.perf_counter()
yanex.log_artifact(sys.argv[2], "big.bin")
print(json.dumps({"small": small, "big": time.perf_counter() - start}))
"""
READ = """
import json, sys, time, yanex
start = time.perf_counter()
assert len(yanex.load_artifact("big.bin", experiment=sys.argv[1])) == int(sys.argv[2])
load = time.perf_counter() - start
start = time.perf_counter()
yanex.artifact_path("big.bin", experiment=sys.argv[1])
first = time.perf_counter() - start
start = time.perf_counter()
yanex.artifact_path("big.bin", experiment=sys.argv[1])
print(json.dumps({"load": load, "first_path": first, "second_path": time.perf_counter() - start}))
"""

MB = 1024 * 1024


def disk_usage(root: Path) -> int:
    """Bytes allocated under ``root``, each inode once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in root.rglob("*"):
        status = path.lstat()
        if path.is_file() and not path.is_symlink() and (status.st_dev, status.st_ino) not in seen:
            seen.add((status.st_dev, status.st_ino))
            total += status.st_blocks * 512
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="yanex-bench-", dir=Path.home()) as tmp:
        use_scratch_home(Path(tmp))
        from yanex import config

        save, read = Path(tmp) / "save.py", Path(tmp) / "read.py"
        save.write_text(SAVE)
        read.write_text(READ)
        small, big = Path(tmp) / "small.bin", Path(tmp) / "big.bin"
        small.write_bytes(os.urandom(MB))
        with big.open("wb") as handle:
            for _ in range(args.mb):
                handle.write(os.urandom(MB))
        saved = [supervise(save, [str(small), str(big)]) for _ in range(args.experiments)]
        home = config.yanex_home()
        after_saves = disk_usage(home)
        figures = [figure for _, figure in saved]
        for experiment_id, _ in saved:
            figures.append(supervise(read, [experiment_id, str(args.mb * MB)])[1])
        after_reads = disk_usage(home)
        content = (args.mb + 1) * MB

    def median(key: str) -> float:
        return float(statistics.median(figure[key] for figure in figures if key in figure))

    n = args.experiments
    report_value("log_artifact of 1 MB (median)", median("small") * 1000, "ms")
    report_value(f"log_artifact of {args.mb} MB (median)", median("big") * 1000, "ms")
    report_value(f"load_artifact of {args.mb} MB (median)", median("load") * 1000, "ms")
    report_value("artifact_path, first call (median)", median("first_path") * 1000, "ms")
    report_value("artifact_path, second call (median)", median("second_path") * 1000, "ms")
    report_value(f"disk use of {n} experiments saving the same {args.mb + 1} MB", after_saves / MB, "MB")
    report_value(f"... once {n} others asked for a path to the big one", after_reads / MB, "MB")
    ok = after_saves <= 1.1 * content
    if not ok:
        print("disk use OVER TARGET (above 1.1 times the content)", flush=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
