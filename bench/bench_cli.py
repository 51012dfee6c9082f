"""Throughput of ``aeutil score`` on a large CSV (rows per second).

Writes, in a temporary folder, a Shift-JIS (CP932) CSV of ``--rows`` rows (default 1,000,000)
with a text column 日時 and 10 numeric sensor columns (センサー01 ... センサー10), trains a
model with ``aeutil fit`` on 5,000 separate rows of the same kind (10 columns, 10 epochs:
the fit is not what is measured), then scores the big file

1. as the installed command in a new process (``python -m aeutil score ...``), wall-clock,
   which includes starting Python and importing TensorFlow, and
2. in-process through ``aeutil.cli.main([...])``, which is the scoring itself
   (reading, checking, scoring with the NumPy scorer, writing, renaming).

Each is repeated ``--repeat`` times; the best time is reported (the machine is shared).

Run: .venv/bin/python bench/bench_cli.py [--rows 1000000] [--repeat 3] [--chunksize 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aeutil.cli

import numpy as np
import pandas as pd

N_SENSORS = 10


def make_csv(path: Path, n: int, seed: int) -> None:
    # the same 3 hidden factors drive the 10 sensors in every file (fixed mixing matrix)
    mixing = np.random.default_rng(0).normal(0.0, 1.0, size=(3, N_SENSORS))
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 1.0, size=(n, 3))
    values = 50.0 + 5.0 * (base @ mixing) + rng.normal(0.0, 0.5, size=(n, N_SENSORS))
    frame = pd.DataFrame(values.round(3), columns=[f"センサー{j + 1:02d}" for j in range(N_SENSORS)])
    stamps = pd.date_range("2024-04-01", periods=n, freq="s").strftime("%Y-%m-%d %H:%M:%S")
    frame.insert(0, "日時", stamps)
    frame.to_csv(path, index=False, encoding="cp932")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunksize", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_cli_") as folder:
        work = Path(folder)
        train, big, model = work / "train.csv", work / "big.csv", work / "model.keras"
        t0 = time.perf_counter()
        make_csv(train, 5_000, seed=1)
        make_csv(big, args.rows, seed=2)
        print(f"wrote {args.rows:,} rows x {N_SENSORS} numeric columns (+ 日時), "
              f"{big.stat().st_size / 1e6:.1f} MB, in {time.perf_counter() - t0:.1f} s")
        columns = ",".join(f"センサー{j + 1:02d}" for j in range(N_SENSORS))
        with contextlib.redirect_stdout(io.StringIO()):
            code = aeutil.cli.main(
                ["fit", str(train), "--columns", columns, "--model", str(model), "--epochs", "10"]
            )
        assert code == 0

        score_args = ["score", str(big), "--model", str(model), "--output", str(work / "out.csv"),
                      "--chunksize", str(args.chunksize), "--no-progress"]
        in_process, command = [], []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                code = aeutil.cli.main(score_args)
            in_process.append(time.perf_counter() - t0)
            assert code == 0
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "aeutil", *score_args], check=True,
                           capture_output=True)
            command.append(time.perf_counter() - t0)
        out = pd.read_csv(work / "out.csv", encoding="cp932", usecols=["判定"])
        assert len(out) == args.rows

    for name, times in (("in-process aeutil.cli.main", in_process),
                        ("python -m aeutil score (new process)", command)):
        best = min(times)
        print(f"{name:38s} best {best:6.2f} s  ->  {args.rows / best:>10,.0f} rows/s   "
              f"(all: {', '.join(f'{t:.2f}' for t in times)} s)")


if __name__ == "__main__":
    main()
