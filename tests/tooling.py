"""The scripts of tools/ (a folder of scripts, not a package) as modules, for the tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_tool(name: str):
    """tools/<name>.py as the module ``tools_<name>`` (registered in sys.modules, which
    dataclasses need; loaded once per test session)."""
    key = f"tools_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, ROOT / "tools" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        # a script imports its neighbours in tools/ by name, as when it is run
        sys.path.insert(0, str(ROOT / "tools"))
        try:
            spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(ROOT / "tools"))
    return sys.modules[key]
