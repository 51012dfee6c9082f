"""Start-up and end-to-end CLI times on the article's data (seconds, best of ``--repeat``).

1. ``python -c "import aeutil"``
2. ``aeutil score --help``
3. ``aeutil fit`` then ``aeutil score`` on the article's three clusters (300 rows x 2 columns,
   make_three_clusters written to a UTF-8 CSV), each in a new process, as from the shell:
   the wall time of the two together.

Run: .venv/bin/python bench/bench_startup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aeutil


def _wall(argv: list[str]) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    started = time.perf_counter()
    # run outside the repository: `python -c` and `-m` put the working folder first on sys.path
    subprocess.run(argv, check=True, env=env, cwd=tempfile.gettempdir(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(repeat: int = 3) -> dict[str, float]:
    """Best wall times [s]: import, score --help, and fit + score from the shell."""
    py = sys.executable
    out = {
        "import aeutil": min(_wall([py, "-c", "import aeutil"]) for _ in range(repeat)),
        "aeutil score --help": min(
            _wall([py, "-m", "aeutil", "score", "--help"]) for _ in range(repeat)
        ),
    }
    with tempfile.TemporaryDirectory(prefix="bench_startup_") as folder:
        work = Path(folder)
        data, model, scored = work / "clusters.csv", work / "model.keras", work / "scored.csv"
        aeutil.make_three_clusters(seed=42).to_csv(data, index=False, encoding="utf-8")
        fit = [py, "-m", "aeutil", "fit", str(data), "--encoding", "utf-8",
               "--columns", "feature1,feature2", "--model", str(model)]
        score = [py, "-m", "aeutil", "score", str(data), "--encoding", "utf-8",
                 "--model", str(model), "--output", str(scored)]
        out["aeutil fit + aeutil score"] = min(_wall(fit) + _wall(score) for _ in range(repeat))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for what, seconds in measure(args.repeat).items():
        print(f"{what:28s} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
