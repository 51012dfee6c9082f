"""Make and check the lock (requirements.txt) from the direct pins (requirements.in).

    python tools/lockcheck.py lock    # write requirements.txt (make lock)
    python tools/lockcheck.py check   # the lock is up to date and installs everywhere (make lockcheck)

`lock` runs uv's universal resolver: one requirements.txt for every supported Python (3.11.2 to
3.13) and platform, with environment markers where a pin has to differ (soupsieve 4.1.3 needs
Python 3.11.5, so 3.11.2 to 3.11.4 get soupsieve 2.10). The pins already in requirements.txt are
kept (uv prefers them), so the lock changes only when requirements.in does.

`check` asks the package registry (PyPI), and does not install anything:

1. in sync: `lock` into a temporary file gives requirements.txt byte for byte;
2. the matrix: the lock resolves, wheels only, for Linux x86-64, Windows amd64 and macOS arm64,
   each under Python 3.11.2, 3.12 and 3.13 (`uv pip compile --python-version X
   --python-platform Y`, no such machine needed), and resolving adds nothing that the lock does
   not pin (so the lock is complete on each);
3. and Python 3.14 is refused on each platform, even with source builds allowed (TensorFlow
   2.21 has no cp314 wheels and no source distribution): the reason the Makefile stops on 3.14.

Exit status 0 when all of that holds. uv is the one in the same environment as this Python
(.venv/bin/uv, installed from the lock), or --uv PATH.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
IN_FILE = "requirements.in"
LOCK = "requirements.txt"

#: The oldest supported Python: the universal lock is made for this version and newer.
OLDEST = "3.11.2"
PYTHONS = ("3.11.2", "3.12", "3.13")
#: uv's target triples: Linux x86-64 (manylinux_2_28, glibc 2.28 and newer), Windows amd64,
#: macOS on Apple silicon.
PLATFORMS = {
    "Linux x86-64": "x86_64-unknown-linux-gnu",
    "Windows amd64": "x86_64-pc-windows-msvc",
    "macOS arm64": "aarch64-apple-darwin",
}
#: Python versions that must NOT resolve (TensorFlow 2.21 has no wheels for them).
UNSUPPORTED = ("3.14",)
#: japanize-matplotlib is published as a source distribution only (pure Python, builds
#: anywhere); everything else must come as a wheel for the platform.
SDIST_OK = ("japanize-matplotlib",)


def lock_command(uv: str, output: str) -> list[str]:
    """The `make lock` command: requirements.in -> a universal lock in `output`."""
    return [
        uv, "pip", "compile", IN_FILE, "--universal", "--python-version", OLDEST,
        "--no-python-downloads",
        "--output-file", output, "--custom-compile-command", "make lock", "--quiet",
    ]


def resolve_command(uv: str, python: str, platform: str, output: str,
                    wheels_only: bool = True) -> list[str]:
    """Resolve the lock itself for one Python and platform (wheels only, by default)."""
    command = [
        uv, "pip", "compile", LOCK, "--python-version", python, "--python-platform", platform,
        "--no-python-downloads", "--no-header", "--no-annotate", "--quiet", "--output-file", output,
    ]
    if wheels_only:
        command += ["--only-binary", ":all:"]
        for name in SDIST_OK:
            command += ["--no-binary", name]
    return command


def pins(text: str) -> dict[str, set[str]]:
    """{canonical name: {'==version ; marker', ...}} of a requirements file's lines."""
    out: dict[str, set[str]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        out.setdefault(canonicalize_name(req.name), set()).add(str(req.specifier))
    return out


def not_in_lock(resolved: str, lock: str) -> list[str]:
    """Resolved pins that the lock does not have (a package or a version it lacks)."""
    locked = pins(lock)
    problems = []
    for name, specs in sorted(pins(resolved).items()):
        for spec in sorted(specs):
            if spec not in locked.get(name, set()):
                problems.append(f"{name}{spec}")
    return problems


def first_error_line(stderr: str) -> str:
    """The line of uv's message that says why (its 'cause:' or 'hint:' line, else the first)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for prefix in ("hint:", "cause:", "error:"):
        for line in lines:
            if line.startswith(prefix):
                return line
    return lines[0] if lines else "(no message)"


def find_uv(given: str | None) -> str:
    if given:
        return given
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if found:
        return found
    sys.exit("error: uv not found: run `make venv` first (it installs uv into .venv), or pass --uv")


def run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True)


def lock(uv: str) -> int:
    result = run(lock_command(uv, LOCK))
    sys.stderr.write(result.stderr)
    return result.returncode


def verdict(uv: str, python: str, label: str, triple: str, tmp: str,
            lock_text: str) -> tuple[bool, str]:
    """(as expected?, what happened) for one Python and platform."""
    out = Path(tmp, f"{python}-{triple}.txt")
    expected = python not in UNSUPPORTED
    # On an unsupported Python, allow source builds too: what is refused then is what no
    # build can fix (TensorFlow's missing wheels).
    result = run(resolve_command(uv, python, triple, str(out), wheels_only=expected))
    if result.returncode == 0 and expected:
        resolved = out.read_text(encoding="utf-8")
        extra = not_in_lock(resolved, lock_text)
        if extra:
            return False, f"FAIL: resolving adds what the lock lacks: {', '.join(extra)}"
        n = sum(len(v) for v in pins(resolved).values())
        return True, f"ok ({n} packages, all from the lock)"
    if result.returncode == 0:
        return False, "FAIL: resolves, but the Makefile refuses this Python"
    if expected:
        return False, f"FAIL: {first_error_line(result.stderr)}"
    return True, f"refused, as expected: {first_error_line(result.stderr)}"


def check(uv: str) -> int:
    failures = 0
    lock_text = (ROOT / LOCK).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp, "requirements.txt")
        shutil.copyfile(ROOT / LOCK, fresh)  # uv keeps the pins already in the output file
        result = run(lock_command(uv, str(fresh)))
        if result.returncode != 0:
            print(f"lock: `make lock` fails:\n{result.stderr}")
            failures += 1
        elif not filecmp.cmp(fresh, ROOT / LOCK, shallow=False):
            print(f"lock: {LOCK} is not what `make lock` makes from {IN_FILE}: run make lock")
            failures += 1
        else:
            print(f"lock: {LOCK} is what `make lock` makes from {IN_FILE}")

        print(f"\n{'Python':8} {'platform':15} result")
        combos = [(python, label, triple) for python in (*PYTHONS, *UNSUPPORTED)
                  for label, triple in PLATFORMS.items()]
        # Each resolution mostly waits on the registry: run a few at once.
        with ThreadPoolExecutor(max_workers=4) as pool:
            verdicts = pool.map(lambda combo: verdict(uv, *combo, tmp, lock_text), combos)
            for (python, label, _), (ok, text) in zip(combos, verdicts, strict=True):
                failures += not ok
                print(f"{python:8} {label:15} {text}", flush=True)
    print("\nlockcheck: " + ("ok" if failures == 0 else f"{failures} problem(s)"))
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["lock", "check"])
    parser.add_argument("--uv", help="the uv executable (default: the one beside this Python)")
    args = parser.parse_args(argv)
    uv = find_uv(args.uv)
    return lock(uv) if args.action == "lock" else check(uv)


if __name__ == "__main__":
    sys.exit(main())
