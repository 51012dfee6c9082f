"""Start-up and end-to-end CLI times on the article's data (seconds, best of ``--repeat``).

1. ``python -c "import aeutil"``
2. ``aeutil --help`` and ``aeutil score --help``
3. ``aeutil fit`` then ``aeutil score`` on the article's three clusters (300 rows x 2 columns,
   make_three_clusters written to a UTF-8 CSV), each in a new process, as from the shell:
   the wall time of the two together.

Each row is also measured for the code before issue 12 (``--before``, default 1ddad9d, the
parent of 1a6751c: TensorFlow and scikit-learn imported by every command), in the same run,
alternating with the current code so that the load of a shared machine weighs on both alike.
The old tree is exported with ``git archive`` into a temporary folder and put first on
``PYTHONPATH`` (the editable install's finder comes after it); the processes run outside the
repository, since ``python -c`` and ``-m`` put the working folder first on ``sys.path``.

Run: .venv/bin/python bench/bench_startup.py [--repeat 3] [--before REV | --before '']
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import aeutil

ROOT = Path(__file__).resolve().parents[1]
#: The parent of 1a6751c: the code before issue 12 (the 9.1-10.3 s baseline of the issue).
BEFORE = "1ddad9d63d14ca7c16e8cf71b6c429262bde34f0"


def _command() -> list[str]:
    """The ``aeutil`` command as a user runs it: the installed script, else ``python -m``."""
    script = Path(sys.executable).with_name("aeutil")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aeutil"]


def _wall(argv: list[str], tree: Path | None = None) -> float:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    started = time.perf_counter()
    subprocess.run(argv, check=True, env=env, cwd=tempfile.gettempdir(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _export(revision: str, folder: Path) -> Path:
    """``aeutil/`` of ``revision`` in ``folder``; checks that Python imports that copy."""
    archive = subprocess.run(["git", "archive", revision, "aeutil"], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    found = subprocess.run(
        [sys.executable, "-c", "import aeutil; print(aeutil.__file__)"], check=True,
        capture_output=True, text=True, cwd=tempfile.gettempdir(),
        env=dict(os.environ, PYTHONPATH=str(folder)),
    ).stdout.strip()
    assert Path(found).parent == folder / "aeutil", found
    return folder


def _rows(work: Path) -> dict[str, list[list[str]]]:
    """The measured command lines (a row of several commands is timed as their sum)."""
    aeutil_cmd = _command()
    data, model, scored = work / "clusters.csv", work / "model.keras", work / "scored.csv"
    aeutil.make_three_clusters(seed=42).to_csv(data, index=False, encoding="utf-8")
    fit = [*aeutil_cmd, "fit", str(data), "--encoding", "utf-8",
           "--columns", "feature1,feature2", "--model", str(model)]
    score = [*aeutil_cmd, "score", str(data), "--encoding", "utf-8",
             "--model", str(model), "--output", str(scored)]
    return {
        "import aeutil": [[sys.executable, "-c", "import aeutil"]],
        "aeutil --help": [[*aeutil_cmd, "--help"]],
        "aeutil score --help": [[*aeutil_cmd, "score", "--help"]],
        "aeutil fit + aeutil score": [fit, score],
    }


def measure(repeat: int = 3, before: str | None = BEFORE) -> dict[str, tuple[float, float | None]]:
    """Best wall times [s] per row: (current code, code at ``before`` or None)."""
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_startup_")))
        old = None
        if before:
            old = _export(before, Path(stack.enter_context(tempfile.TemporaryDirectory())))
        out = {}
        for what, commands in _rows(work).items():
            ours, theirs = [], []
            for _ in range(repeat):  # alternate: a busy moment weighs on both sides
                ours.append(sum(_wall(argv) for argv in commands))
                if old is not None:
                    theirs.append(sum(_wall(argv, old) for argv in commands))
            out[what] = (min(ours), min(theirs) if theirs else None)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default=BEFORE,
                        help="git revision to compare with ('' to measure only this tree)")
    args = parser.parse_args()
    print(f"{'':28s} {'now':>8s} {'before':>8s}  ratio")
    for what, (now, then) in measure(args.repeat, args.before or None).items():
        if then is None:
            print(f"{what:28s} {now:6.2f} s")
        else:
            print(f"{what:28s} {now:6.2f} s {then:6.2f} s  {then / now:5.1f}x faster")


if __name__ == "__main__":
    main()
