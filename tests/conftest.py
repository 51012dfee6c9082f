"""Shared fixtures for the aeutil tests."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import aeutil  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

COLUMNS = ["feature1", "feature2"]


@pytest.fixture(scope="session")
def clusters() -> pd.DataFrame:
    """The article's three clusters, without outliers."""
    return aeutil.make_three_clusters(seed=42)[COLUMNS]


@pytest.fixture(scope="session")
def fitted(clusters) -> aeutil.AutoEncoderUtil:
    """A small model trained once for the whole session (read-only use only)."""
    return aeutil.AutoEncoderUtil(df=clusters, seed=7).fit(COLUMNS, epochs=30, batch_size=16)


# --- property-based tests (tests/test_properties.py) ------------------------------------------

import collections  # noqa: E402
import os  # noqa: E402

from hypothesis import HealthCheck, settings  # noqa: E402

# Derandomized and without an example database: every run (and CI) tries the same inputs.
# HYPOTHESIS_PROFILE=aeutil-dev gives random inputs for a local bug hunt.
settings.register_profile(
    "aeutil-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("aeutil-dev", parent=settings.get_profile("aeutil-ci"), derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "aeutil-ci"))

_INPUTS_TRIED: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="session")
def inputs_tried() -> collections.Counter[str]:
    """Generated inputs run per property; the total is printed at the end of the session."""
    return _INPUTS_TRIED


def pytest_terminal_summary(terminalreporter) -> None:
    if not _INPUTS_TRIED:
        return
    terminalreporter.write_sep("-", "hypothesis: generated inputs tried")
    for name, count in _INPUTS_TRIED.items():
        terminalreporter.write_line(f"{count:6d}  {name}")
    terminalreporter.write_line(f"{sum(_INPUTS_TRIED.values()):6d}  total")
