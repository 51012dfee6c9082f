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
