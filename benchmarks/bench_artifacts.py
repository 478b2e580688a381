"""Artifact saves in a tracked child: 1,000 small artifacts, and one 1 GB file against `cp`.

A script launched through ExperimentProcess (as `yanex run` launches it) times its own calls:
1,000 `save_artifact` of distinct small JSON objects, then `log_artifact` of a 1 GB file it was
given (written just before, so in the page cache, as a checkpoint a script has just written is).
In the same run, on the same disk, the same file is copied with `cp` (and with `cp` then `sync`
of the copy: a durable copy, as a saved blob is), and the floors are measured: a bare loop of
small atomic writes (write, fsync, rename), and SHA-256 of the file alone.

Targets: >= 500 small saves/s; the 1 GB save at >= 70% of `cp`'s speed. Every artifact must then
be in the database, and the 1 GB files are removed.

Run: `make bench` or `python benchmarks/bench_artifacts.py [--small N] [--mb N] [--repeat N]`.
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

CHILD = """
import json, sys, time, yanex
small, big = int(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
for i in range(small):
    yanex.save_artifact({"index": i, "loss": 1.0 / (i + 1)}, f"small/{i}.json")
small_seconds = time.perf_counter() - start
start = time.perf_counter()
yanex.log_artifact(big, "checkpoint.bin")
print(json.dumps({"small": small_seconds, "big": time.perf_counter() - start}))
"""


def copy_seconds(source: Path, target: Path, *, durable: bool) -> float:
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    if durable:
        subprocess.run(["sync", str(target)], check=True)
    seconds = time.perf_counter() - start
    target.unlink()
    return seconds


def fsync_floor(folder: Path, count: int) -> float:
    """Seconds for ``count`` bare atomic writes of a small file (write, fsync, rename): what
    every durable save costs at least on this disk at this moment."""
    start = time.perf_counter()
    for i in range(count):
        temp, final = folder / f"t{i}", folder / f"f{i}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, json.dumps({"index": i, "loss": 1.0 / (i + 1)}).encode())
        os.fsync(fd)
        os.close(fd)
        os.rename(temp, final)
    seconds = time.perf_counter() - start
    for i in range(count):
        (folder / f"f{i}").unlink()
    return seconds


def hash_seconds(source: Path) -> float:
    """Seconds to SHA-256 the file alone: a floor for any save that names content by its hash."""
    import hashlib

    start = time.perf_counter()
    with source.open("rb") as handle:
        hashlib.file_digest(handle, "sha256")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="yanex-bench-", dir=Path.home()) as tmp:
        use_scratch_home(Path(tmp))
        from yanex import config
        from yanex.db.engine import Database

        script = Path(tmp) / "save_many.py"
        script.write_text(CHILD)
        db = Database()
        small: list[float] = []
        big: list[float] = []
        cp: list[float] = []
        cp_sync: list[float] = []
        floor: list[float] = []
        hashing: list[float] = []
        for _ in range(args.repeat):
            # A new file each round (so the blob is new too), written just before, as a checkpoint is.
            source = Path(tmp) / "checkpoint.bin"
            with source.open("wb") as handle:
                for _ in range(args.mb):
                    handle.write(os.urandom(1024 * 1024))
            floor.append(fsync_floor(Path(tmp), args.small))
            hashing.append(hash_seconds(source))
            cp.append(copy_seconds(source, Path(tmp) / "copy.bin", durable=False))
            cp_sync.append(copy_seconds(source, Path(tmp) / "copy.bin", durable=True))
            experiment_id, child = supervise(script, [str(args.small), str(source)])
            small.append(child["small"])
            big.append(child["big"])
            conn = sqlite3.connect(config.yanex_home() / "yanex.db")
            try:
                (count,) = conn.execute(
                    "SELECT count(*) FROM artifacts WHERE experiment_id = ?", (experiment_id,)
                ).fetchone()
            finally:
                conn.close()
            if count != args.small + 1:
                raise SystemExit(f"{count} artifacts in the database, not {args.small + 1}")
            # The 1 GB blob and its copies go before the next round: the disk is shared.
            source.unlink()
            from yanex.store.manage import delete_with_files

            delete_with_files(db, [experiment_id])
        db.dispose()

    rate = args.small / statistics.median(small)
    report_value(f"small artifacts saved per second ({args.small:,})", rate, "saves/s", ">= 500")
    bare = args.small / statistics.median(floor)
    report_value("bare write + fsync + rename per second", bare, "files/s")
    report_value("small saves against the bare fsync loop", rate / bare * 100, "%")
    size = f"{args.mb / 1024:g} GB" if args.mb >= 1024 else f"{args.mb} MB"
    saved, copied, durable = (statistics.median(x) for x in (big, cp, cp_sync))
    report_value(f"log_artifact of {size} (hashed, fsynced)", saved, "s")
    report_value(f"cp of {size}", copied, "s")
    report_value(f"cp of {size}, then sync of the copy", durable, "s")
    report_value(f"sha256 of the {size} alone", statistics.median(hashing), "s")
    report_value("speed against cp", copied / saved * 100, "%", ">= 70")
    report_value("speed against cp + sync", durable / saved * 100, "%")
    failed = rate < 500 or copied / saved < 0.7
    if rate < 500:
        print("small saves OVER TARGET (below 500/s)", flush=True)
    if copied / saved < 0.7:
        print("1 GB save OVER TARGET (below 70% of cp's speed)", flush=True)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
