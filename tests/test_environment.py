"""Consistency checks on the project's environment files, notebooks and entry points.

requirements.txt is the lock (made from requirements.in by `make lock`) and the one place pins
live; environment.yml and pyproject.toml must agree with it, on every supported Python (3.11.2
to 3.13) and platform. These tests read files only (no network, no install); `make lockcheck`
asks the registry that the lock resolves everywhere.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from booktoc import book_documents
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent

# Platforms we promise to support: the Linux x86_64 CI/dev machines, native Windows (amd64),
# Apple-silicon macOS, and Linux aarch64 (e.g. Docker on a Mac).
PLATFORMS = {
    "linux-x86_64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
        "os_name": "posix",
    },
    "windows-amd64": {
        "sys_platform": "win32",
        "platform_system": "Windows",
        "platform_machine": "AMD64",
        "os_name": "nt",
    },
    "darwin-arm64": {
        "sys_platform": "darwin",
        "platform_system": "Darwin",
        "platform_machine": "arm64",
        "os_name": "posix",
    },
    "linux-aarch64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
        "os_name": "posix",
    },
}
# The supported Pythons (README, tools/find-python): 3.11.2 (Debian 12's python3.11) is the
# oldest; 3.11.4 is the last before soupsieve 4.1.3's minimum (3.11.5).
PYTHONS = ("3.11.2", "3.11.4", "3.11.7", "3.12.1", "3.13.0")
# Every supported Python on every platform: "linux-x86_64@3.12.1" ...
TARGETS = [f"{platform}@{python}" for platform in PLATFORMS for python in PYTHONS]
TF_NAMES = {"tensorflow", "tensorflow-cpu"}


def marker_env(target: str) -> dict[str, str]:
    platform, _, python = target.partition("@")
    python = python or "3.11.7"
    env = dict(default_environment())
    env.update(
        python_version=".".join(python.split(".")[:2]),
        python_full_version=python,
        implementation_name="cpython",
        platform_python_implementation="CPython",
        extra="",
    )
    env.update(PLATFORMS[platform])
    return env


def requirement_lines(text: str) -> list[tuple[int, str]]:
    """Non-blank, non-comment lines of a requirements file, with their line numbers."""
    out = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            out.append((lineno, line))
    return out


def parse_requirements(text: str) -> list[Requirement]:
    return [Requirement(line) for _, line in requirement_lines(text)]


def pins_for(reqs: list[Requirement], target: str) -> dict[str, str]:
    """{canonical name: pinned version} of the requirements selected on `target`."""
    env = marker_env(target)
    pins: dict[str, str] = {}
    for req in reqs:
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        assert name not in pins, f"{req.name} is pinned twice for {target}"
        (spec,) = req.specifier
        pins[name] = spec.version
    return pins


@pytest.fixture(scope="module")
def requirements_text() -> str:
    return (ROOT / "requirements.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def environment_yml() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


# (c) -----------------------------------------------------------------------------------------


def check_all_pinned(text: str) -> list[str]:
    problems = []
    for lineno, line in requirement_lines(text):
        if line.startswith("-"):
            problems.append(f"line {lineno}: option lines are not allowed here: {line!r}")
            continue
        try:
            req = Requirement(line)
        except Exception as exc:  # packaging.requirements.InvalidRequirement
            problems.append(f"line {lineno}: not a requirement: {line!r} ({exc})")
            continue
        specs = list(req.specifier)
        if req.url or len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            problems.append(f"line {lineno}: not pinned with a single exact '==': {line!r}")
    return problems


def test_every_requirement_is_pinned_exactly(requirements_text):
    assert requirement_lines(requirements_text), "requirements.txt has no requirements"
    assert check_all_pinned(requirements_text) == []


def test_check_all_pinned_catches_loose_lines():
    assert check_all_pinned("numpy==2.4.6\n") == []
    assert len(check_all_pinned("numpy>=2\npandas\nkeras==3.*\n-e .\n")) == 4


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_no_package_pinned_twice(requirements_text, target):
    pins_for(parse_requirements(requirements_text), target)  # asserts on duplicates


# the lock and its source ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def requirements_in_text() -> str:
    return (ROOT / "requirements.in").read_text(encoding="utf-8")


def test_requirements_in_is_pinned_exactly(requirements_in_text):
    assert requirement_lines(requirements_in_text), "requirements.in has no requirements"
    assert check_all_pinned(requirements_in_text) == []


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_lock_keeps_the_direct_pins(requirements_in_text, requirements_text, target):
    # what requirements.in asks for on a target is exactly what the lock installs there
    direct = pins_for(parse_requirements(requirements_in_text), target)
    locked = pins_for(parse_requirements(requirements_text), target)
    assert {name: locked.get(name) for name in direct} == direct


def test_lock_is_made_by_make_lock(requirements_text):
    # uv writes the command into the lock's header; `make lock` is the command to run again
    header = requirements_text.splitlines()[:2]
    assert header == [
        "# This file was autogenerated by uv via the following command:",
        "#    make lock",
    ]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^lock: .*\n\t\$\(PY\) tools/lockcheck\.py lock$", makefile, re.M)
    assert re.search(r"^lockcheck: .*\n\t\$\(PY\) tools/lockcheck\.py check$", makefile, re.M)


@pytest.mark.parametrize("python", PYTHONS)
def test_soupsieve_installs_on_every_supported_python(requirements_text, python):
    # soupsieve 4.1.3 requires Python 3.11.5 (Debian 12's python3.11 is 3.11.2): the lock
    # gives older Pythons the last soupsieve that installs there, through a marker
    pins = pins_for(parse_requirements(requirements_text), f"linux-x86_64@{python}")
    version = tuple(int(p) for p in python.split("."))
    assert (pins["soupsieve"] == "4.1.3") == (version >= (3, 11, 5)), pins["soupsieve"]


def test_platform_only_packages_are_locked(requirements_text):
    # pulled in on one platform only; pip freeze on Linux never showed them
    for target, name in [("windows-amd64@3.13.0", "colorama"), ("windows-amd64@3.13.0", "pywinpty"),
                         ("darwin-arm64@3.13.0", "appnope")]:
        assert name in pins_for(parse_requirements(requirements_text), target), (target, name)
    assert "pywinpty" not in pins_for(parse_requirements(requirements_text), "linux-x86_64@3.13.0")


def test_uv_is_locked_for_the_makefile(requirements_text):
    # the Makefile bootstraps exactly the uv of the lock (grep '^uv==' requirements.txt)
    assert re.search(r"^uv==[0-9.]+$", requirements_text, re.M)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "grep -E '^uv==' requirements.txt" in makefile


# (a) -----------------------------------------------------------------------------------------


def test_environment_yml_takes_its_pins_from_requirements(environment_yml, requirements_text):
    deps = environment_yml["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip_sections) == 1, "environment.yml needs exactly one pip: section"
    (pip_items,) = pip_sections
    assert "pip" in deps, "environment.yml must install pip itself"

    uses_requirements = any(re.fullmatch(r"-r\s+requirements\.txt", i.strip()) for i in pip_items)
    req_pins = {str(r) for r in parse_requirements(requirements_text)}
    listed = [i for i in pip_items if not i.strip().startswith("-")]
    assert uses_requirements or listed, "environment.yml pip: section installs nothing"
    for item in listed:
        assert str(Requirement(item)) in req_pins, (
            f"environment.yml pins {item!r}, which is not the pin in requirements.txt"
        )
    if not uses_requirements:
        assert {str(Requirement(i)) for i in listed} == req_pins
    # conda packages other than python and pip would bypass requirements.txt
    conda_pkgs = [d for d in deps if isinstance(d, str)]
    extra = [d for d in conda_pkgs if re.split(r"[=<>! ]", d)[0] not in {"python", "pip"}]
    assert extra == [], f"install these through requirements.txt, not conda: {extra}"


def test_environment_yml_python_matches_pyproject(environment_yml, pyproject):
    pythons = [
        d for d in environment_yml["dependencies"] if isinstance(d, str) and d.startswith("python")
    ]
    assert pythons == ["python>=3.11.2,<3.14"], pythons
    # conda's range and pyproject's requires-python both say: 3.11.2 to 3.13
    requires_python = SpecifierSet(pyproject["project"]["requires-python"])
    assert requires_python == SpecifierSet(pythons[0].removeprefix("python"))
    for version in PYTHONS:
        assert requires_python.contains(version), version
    for version in ("3.11.1", "3.14.0", "3.15.0"):
        assert not requires_python.contains(version), version


def test_environment_yml_installs_the_package_editable(environment_yml):
    (pip_items,) = [d["pip"] for d in environment_yml["dependencies"] if isinstance(d, dict)]
    assert "-e ." in [i.strip() for i in pip_items]


# (b) -----------------------------------------------------------------------------------------


def unsatisfied(pyproject_deps: list[str], pins: dict[str, str], target: str) -> list[str]:
    env = marker_env(target)
    problems = []
    for dep in pyproject_deps:
        req = Requirement(dep)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{target}: {req.name} is not pinned in requirements.txt")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{target}: pin {req.name}=={pins[name]} is outside {req.specifier}")
    return problems


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_pyproject_dependencies_satisfied_by_pins(pyproject, requirements_text, target):
    pins = pins_for(parse_requirements(requirements_text), target)
    assert unsatisfied(pyproject["project"]["dependencies"], pins, target) == []


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_exactly_one_tensorflow_per_platform(pyproject, requirements_text, target):
    env = marker_env(target)
    pinned = set(pins_for(parse_requirements(requirements_text), target)) & TF_NAMES
    declared = {
        canonicalize_name(r.name)
        for r in map(Requirement, pyproject["project"]["dependencies"])
        if r.marker is None or r.marker.evaluate(env)
    } & TF_NAMES
    assert len(pinned) == 1, f"{target}: requirements.txt selects {pinned}"
    assert pinned == declared, f"{target}: requirements.txt {pinned} vs pyproject {declared}"
    expected = "tensorflow-cpu" if target.startswith("linux-x86_64@") else "tensorflow"
    assert pinned == {expected}


def test_build_backend_satisfied_by_pins(pyproject, requirements_text):
    # The Makefile installs the package with --no-build-isolation, using the pinned setuptools.
    pins = pins_for(parse_requirements(requirements_text), "linux-x86_64")
    assert unsatisfied(pyproject["build-system"]["requires"], pins, "linux-x86_64") == []


def test_unsatisfied_catches_a_bad_pin():
    deps = ["keras>=3.15,<4", 'tensorflow>=2.21,<2.22 ; sys_platform == "darwin"']
    assert unsatisfied(deps, {"keras": "3.15.1", "tensorflow": "2.21.0"}, "darwin-arm64") == []
    assert len(unsatisfied(deps, {"keras": "3.14.0"}, "darwin-arm64")) == 2
    assert unsatisfied(deps, {"keras": "3.15.1"}, "linux-x86_64") == []


# (d) -----------------------------------------------------------------------------------------


def committed_notebooks() -> list[Path]:
    skip = {".venv", "_build", ".git", ".ipynb_checkpoints", "node_modules"}
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        # .venv-bench (make bench) too: a virtual environment's notebooks are not the book's
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".venv")]
        found += [Path(dirpath, f) for f in filenames if f.endswith(".ipynb")]
    return sorted(found)


def notebook_problems(nb: dict) -> list[str]:
    problems = []
    for i, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {i} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {i} has execution_count {cell['execution_count']}")
    kernelspec = nb.get("metadata", {}).get("kernelspec", {})
    if kernelspec.get("name") != "python3":
        problems.append(f"kernelspec name is {kernelspec.get('name')!r}, not 'python3'")
    for key, value in kernelspec.items():
        if isinstance(value, str) and ("/" in value or "\\" in value):
            problems.append(f"kernelspec {key} contains a path: {value!r}")
    return problems


def test_there_are_notebooks():
    assert committed_notebooks(), "no notebooks found"


@pytest.mark.parametrize(
    "path", committed_notebooks(), ids=lambda p: p.relative_to(ROOT).as_posix()
)
def test_notebook_is_clean(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert notebook_problems(nb) == []


def test_notebook_problems_catches_outputs_and_paths():
    dirty = {
        "cells": [{"cell_type": "code", "execution_count": 3, "outputs": [{"text": "x"}]}],
        "metadata": {"kernelspec": {"name": "/home/me/.venv/bin/python", "display_name": "x"}},
    }
    assert len(notebook_problems(dirty)) == 4


# (e) -----------------------------------------------------------------------------------------


def test_ci_runs_the_readme_test_command():
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK), ".ci/run must be executable"
    commands = [
        line.strip()
        for line in ci.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert "make test" in commands


def test_readme_documents_the_two_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make book" in readme
    assert "make test" in readme


def test_toc_entries_exist():
    missing = [
        doc
        for doc in book_documents()
        if not any((ROOT / f"{doc}{suffix}").is_file() for suffix in ("", ".md", ".ipynb"))
    ]
    assert missing == []


def test_the_parquet_and_dask_extras_are_what_the_lock_pins(requirements_text, pyproject):
    # aeutil imports pyarrow, dask and distributed only on the Parquet/Dask paths; the extras
    # name them for a user without requirements.txt, and the book's pins satisfy them
    pins = pins_for(parse_requirements(requirements_text), "linux-x86_64")
    extras = pyproject["project"]["optional-dependencies"]
    assert {canonicalize_name(Requirement(d).name) for d in extras["dask"]} == {
        "dask", "distributed", "pyarrow"}
    assert [Requirement(d).name for d in extras["parquet"]] == ["pyarrow"]
    for name in ("parquet", "dask"):
        assert unsatisfied(extras[name], pins, "linux-x86_64") == [], name
    core = {canonicalize_name(Requirement(d).name) for d in pyproject["project"]["dependencies"]}
    assert not {"dask", "distributed", "pyarrow"} & core


# the benchmark environment ---------------------------------------------------------------


def test_bench_requirements_pinned_and_separate(requirements_text, pyproject):
    bench_text = (ROOT / "requirements-bench.txt").read_text(encoding="utf-8")
    lines = [line for _, line in requirement_lines(bench_text)]
    assert lines[0] == "-r requirements.txt"
    assert check_all_pinned("\n".join(lines[1:])) == []
    bench_pins = pins_for(parse_requirements("\n".join(lines[1:])), "linux-x86_64")
    assert bench_pins["torch"] == "2.13.0"
    # PyTorch and PyOD never enter the book's / tests' environment
    book_pins = pins_for(parse_requirements(requirements_text), "linux-x86_64")
    assert not {"torch", "pyod"} & set(book_pins)
    assert not set(bench_pins) & set(book_pins), "a package pinned in both files"
    # the `bench` extra is satisfied by the bench pins
    extra = pyproject["project"]["optional-dependencies"]["bench"]
    assert unsatisfied(extra, bench_pins, "linux-x86_64") == []
    assert not any(canonicalize_name(Requirement(d).name) == "torch"
                   for d in pyproject["project"]["dependencies"])
