"""Seeded data generators for the article's demos."""

from __future__ import annotations

from aeutil import make_1d_data, make_three_clusters, make_uniform_points

import numpy as np
import pandas as pd


def test_three_clusters_shape_centres_and_outliers():
    df = make_three_clusters(n_per_cluster=200, n_outliers=10, seed=1)
    assert list(df.columns) == ["feature1", "feature2", "is_outlier"]
    assert len(df) == 610
    assert df.is_outlier.sum() == 10 and df.is_outlier.iloc[-10:].all()
    for k, centre in enumerate([(1, 1), (-1, -1), (0, 0)]):
        part = df.iloc[200 * k : 200 * (k + 1), :2]
        np.testing.assert_allclose(part.mean(), centre, atol=0.1)
        np.testing.assert_allclose(part.std(), 0.5, atol=0.06)
    assert df.loc[df.is_outlier, "feature1"].mean() > 5


def test_generators_are_seeded_and_leave_global_state_alone():
    np.random.seed(0)
    state = np.random.get_state()[1].copy()
    a = make_three_clusters(seed=5)
    b = make_three_clusters(seed=5)
    c = make_three_clusters(seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_uniform_points_range_and_columns():
    df = make_uniform_points(n=1000, low=-4, high=4, n_features=3)
    assert list(df.columns) == ["feature1", "feature2", "feature3"]
    assert df.to_numpy().min() >= -4 and df.to_numpy().max() <= 4


def test_1d_data():
    df = make_1d_data(n=500, scale=0.5, seed=3)
    assert list(df.columns) == ["feature1"]
    assert abs(df.feature1.std() - 0.5) < 0.05


def test_drop_near_keeps_only_points_far_from_every_center():
    from aeutil.data import drop_near

    import pandas as pd

    points = pd.DataFrame({"a": [0.0, 0.5, 3.0, -3.0], "b": [0.0, 0.0, 3.0, 0.0]}, index=[5, 6, 7, 8])
    before = points.copy()
    kept = drop_near(points, [(0, 0), (3, 3)], min_dist=1.0)
    assert kept.to_dict("list") == {"a": [-3.0], "b": [0.0]}
    assert list(kept.index) == [0]
    pd.testing.assert_frame_equal(points, before)  # the caller's frame is unchanged
