"""Rows per second of ``aeutil score`` on a Parquet data set: one process against Dask (issue 15).

Writes, in a temporary folder, a plant's year as Parquet (aeutil.sampling.write_plant_history:
``--machines`` files, one per machine, of ``--rows-per-day`` x 365 rows each; by default 20 x
1,051,200 = 21,024,000 rows, every 30 s), fits a model on a 20,000-row sample of the normal rows
(sample_normal_rows + AutoEncoderDetector, 10 epochs: not what is measured), then scores the
whole folder

1. with the command in a new process, one process (``python -m aeutil score plant/ ...``),
2. with the command and ``--workers 1`` and ``--workers 2`` (a LocalCluster, one thread each),

wall-clock from the shell (so Dask's rows include starting the cluster), and
3. the same Dask scoring through the API on an already started cluster (aeutil.score_parquet
   with dask_client: starting the cluster not included, as on a cluster that is kept running).

Memory: the single process's peak RSS (VmHWM, aeutil.distributed.peak_memory, in the child), and
each Dask worker's peak RSS (ScoreSummary.memory). Every run writes a new output folder; the outputs of the three
command runs are compared row for row (the same 再構成誤差 and 判定).

bench/run.py runs this script in a process of its own: LocalCluster starts its workers with
multiprocessing's spawn, which imports the parent's main module again in every worker, and
run.py's imports (TensorFlow, scikit-learn, ...) would add about 0.5 GB to each worker.

Run: .venv/bin/python bench/bench_dask.py [--machines 20] [--rows-per-day 2880] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aeutil
from aeutil import distributed as ad
from aeutil import sampling

import pyarrow.parquet as pq

SENSORS = ["温度", "振動", "電流"]

# The command in a child that reports its own peak RSS (bytes) on its last line of stderr
# (VmHWM: ru_maxrss would count the memory of this parent process, which the child was forked
# from).
_CHILD = (
    "import sys\n"
    "from aeutil.cli import main\n"
    "from aeutil.distributed import peak_memory\n"
    "code = main(sys.argv[1:])\n"
    "print(f'peak_rss={peak_memory()}', file=sys.stderr)\n"
    "raise SystemExit(code)\n"
)


def _command(args: list[str]) -> tuple[float, int, str]:
    """(seconds, peak RSS of the command's process in bytes, stdout)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _CHILD, *args], check=True,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak = int(done.stderr.strip().splitlines()[-1].split("=")[1])
    return seconds, peak, done.stdout


def _same(a: Path, b: Path) -> None:
    for fa in sorted(a.glob("*.parquet")):
        ta = pq.read_table(fa, columns=["行番号", "再構成誤差", "判定"])
        tb = pq.read_table(b / fa.name, columns=["行番号", "再構成誤差", "判定"])
        assert ta.equals(tb), f"{fa.name}: {a.name} and {b.name} differ"


def measure(machines: int, rows_per_day: int, work: Path) -> dict:
    plant, model = work / "plant", work / "model.keras"
    t0 = time.perf_counter()
    sampling.write_plant_history(plant, machines=machines, days=365, rows_per_day=rows_per_day)
    rows = machines * 365 * rows_per_day
    size = sum(p.stat().st_size for p in plant.iterdir())
    print(f"  wrote {rows:,} rows in {machines} Parquet files ({size / 1e6:,.0f} MB) "
          f"in {time.perf_counter() - t0:.0f} s", flush=True)
    history = aeutil.read_parquet_files(plant)
    sample = aeutil.sample_normal_rows(history, min(20_000, rows // 2), seed=0, columns=SENSORS,
                                       normal=lambda df: ~df["点検中"])
    aeutil.AutoEncoderDetector(epochs=10, seed=0).fit(sample).save(model)

    result: dict = {"rows": rows, "bytes": size}
    base = ["score", str(plant), "--model", str(model), "--no-progress"]
    for label, extra in (("cli", []), ("cli_w1", ["--workers", "1"]),
                         ("cli_w2", ["--workers", "2"])):
        seconds, peak, _ = _command([*base, "--output", str(work / label), *extra])
        result[label] = (seconds, peak)
        print(f"  {label}: {seconds:.1f} s, {rows / seconds:,.0f} rows/s, "
              f"process peak RSS {peak / 2**20:,.0f} MB", flush=True)
    _same(work / "cli", work / "cli_w1")
    _same(work / "cli", work / "cli_w2")
    for n in (1, 2):
        t0 = time.perf_counter()
        with ad.dask_client(workers=n) as client:
            startup = time.perf_counter() - t0
            t1 = time.perf_counter()
            summary = aeutil.score_parquet(plant, model, work / f"api_w{n}", client=client)
            seconds = time.perf_counter() - t1
        peaks = sorted(summary.memory.values())
        result[f"api_w{n}"] = (seconds, startup, peaks)
        print(f"  API, {n} worker(s): {seconds:.1f} s ({rows / seconds:,.0f} rows/s), cluster "
              f"start {startup:.1f} s, worker peak RSS "
              + ", ".join(f"{p / 2**20:,.0f} MB" for p in peaks), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, default=20)
    parser.add_argument("--rows-per-day", type=int, default=2880)
    parser.add_argument("--json", type=Path, default=None,
                        help="also write the measurements to this file (bench/run.py reads it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_dask_") as folder:
        result = measure(args.machines, args.rows_per_day, Path(folder))
    if args.json is not None:
        args.json.write_text(json.dumps(result), encoding="utf-8")
    rows = result["rows"]
    print(f"\n{rows:,} rows: one process {rows / result['cli'][0]:,.0f} rows/s; "
          f"Dask 1 worker {rows / result['api_w1'][0]:,.0f}, 2 workers "
          f"{rows / result['api_w2'][0]:,.0f} rows/s (cluster running)")


if __name__ == "__main__":
    main()
