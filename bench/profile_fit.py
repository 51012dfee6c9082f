"""Where the time of one fit goes: a py-spy profile of the article's demo fit.

The fit row of bench/run.py is about 35x faster than the article's code; the issue aimed at
50x. This script shows what bounds it. It runs py-spy (a sampling profiler, pinned in
requirements-bench.txt) on a child process that fits the article's demo (300 rows x 2, 8-4-8,
one network, 100 epochs, batch 16) FITS times, keeps the samples taken inside
AutoEncoderUtil.fit, and prints where they fall: the NumPy training step, building the Keras
model (layers, variables, initial weights), and the rest (threshold, checks). py-spy runs
with --nonblocking: it reads the child's memory without pausing it, so the many TensorFlow
threads do not make each sample expensive (pausing them took minutes and inflated the
TensorFlow parts of the profile).

Run: make profile   (or .venv-bench/bin/python bench/profile_fit.py [--fits N] [--rate HZ])
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

COLUMNS = ["feature1", "feature2"]
# the first matching frame (from the outermost) names the part of the fit a sample is in
PARTS = (
    ("initial_network", "initial weights (Keras' GlorotUniform in NumPy)"),
    ("train_network", "training loop (NumPy forward pass, backprop, optimizer)"),
    ("score", "scoring the training rows for the threshold"),
)


def child(fits: int) -> None:
    import aeutil

    df = aeutil.make_three_clusters(centers=((2, 2), (-2, -2), (0, 0)), scale=0.3, seed=42)
    for seed in range(fits):
        aeutil.AutoEncoderUtil(df=df, seed=seed, n_models=1).fit(
            COLUMNS, epochs=100, batch_size=16, lr=1e-3
        )


def summarize(folded: Path, rate: int, fits: int) -> None:
    parts: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        if not any(f.startswith("fit (aeutil/util.py") for f in frames):
            continue  # importing TensorFlow, making the data: not part of a fit
        n = int(count)
        total += n
        part = next(
            (label for key, label in PARTS if any(f.startswith(key + " ") for f in frames)),
            "other (argument checks, standardisation, bookkeeping)",
        )
        parts[part] += n
        leaves[frames[-1]] += n
    if not total:
        sys.exit("py-spy recorded no sample inside AutoEncoderUtil.fit")
    print(f"{fits} fits, {total} samples at {rate} Hz inside AutoEncoderUtil.fit: "
          f"{total / rate / fits * 1000:.0f} ms per fit")
    print("\nwhere a fit spends its time")
    for label, n in parts.most_common():
        print(f"  {n / total:6.1%}  {label}")
    print("\nthe Python functions the samples were in (top 12)")
    for frame, n in leaves.most_common(12):
        print(f"  {n / total:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--fits", type=int, default=20)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.fits)
        return
    py_spy = Path(sys.executable).with_name("py-spy")
    if not py_spy.exists():
        sys.exit(f"{py_spy} is missing: install requirements-bench.txt (make profile does)")
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "fit.folded"
        subprocess.run(
            [str(py_spy), "record", "--nonblocking", "--rate", str(args.rate), "--format", "raw",
             "-o", str(folded),
             "--", sys.executable, __file__, "--child", "--fits", str(args.fits)],
            check=True, capture_output=True,
        )
        summarize(folded, args.rate, args.fits)


if __name__ == "__main__":
    main()
