"""microlab.measure.neighbours: distances to the nearest objects and local density."""

import math

import numpy as np
import pandas as pd
import pytest

from microlab.measure import neighbours


def grid_table(step=10.0, n=9, ndim=2):
    axes = np.meshgrid(*([np.arange(n) * step] * ndim), indexing="ij")
    names = [f"centroid_{a}_µm" for a in "zyx"[3 - ndim:]]
    return pd.DataFrame({name: axis.ravel() for name, axis in zip(names, axes, strict=True)})


def test_neighbours_on_a_square_grid():
    table = neighbours(grid_table(10), k=8)
    centre = table.iloc[40]  # the middle of a 9 x 9 grid
    assert centre["nearest_distance_µm"] == 10
    assert centre["mean_distance_k8_µm"] == pytest.approx((4 * 10 + 4 * 10 * math.sqrt(2)) / 8)
    assert centre["density_k8_per_µm²"] == pytest.approx(8 / (math.pi * 200))
    assert (table["nearest_distance_µm"] == 10).all()
    assert neighbours(grid_table(10), k=4)["mean_distance_k4_µm"].iloc[40] == 10


def test_neighbours_on_a_cubic_grid():
    table = neighbours(grid_table(2.0, n=5, ndim=3), k=6)
    centre = table.iloc[62]  # the middle of a 5 x 5 x 5 grid
    assert centre["mean_distance_k6_µm"] == 2
    assert centre["density_k6_per_µm³"] == pytest.approx(6 / (4 / 3 * math.pi * 8))


def test_neighbours_keeps_the_table_and_adds_columns():
    table = grid_table()
    table["label"] = np.arange(len(table)) + 1
    out = neighbours(table)
    assert "mean_distance_k8_µm" not in table.columns
    assert out.columns.tolist()[:3] == table.columns.tolist()


def test_neighbours_of_a_label_image_computes_centroids_in_its_units():
    labels = np.zeros((20, 20), np.uint8)
    labels[2:4, 2:4] = 1
    labels[2:4, 12:14] = 2
    table = neighbours(labels, k=1, spacing=0.5)
    assert table["label"].tolist() == [1, 2]
    assert table["nearest_distance_µm"].tolist() == [5.0, 5.0]
    assert neighbours(labels, k=1)["nearest_distance_px"].tolist() == [10.0, 10.0]


def test_neighbours_of_points():
    points = np.array([[0.0, 0.0], [0.0, 3.0], [4.0, 0.0]])
    table = neighbours(points, k=2)
    assert table["mean_distance_k2_px"].tolist() == [3.5, 4.0, 4.5]


def test_k_beyond_the_number_of_objects_averages_over_all_others_with_a_warning():
    points = np.array([[0.0, 0.0], [0.0, 3.0], [4.0, 0.0]])
    with pytest.warns(UserWarning, match="only 3 objects"):
        table = neighbours(points, k=8)
    assert table["mean_distance_k8_px"].tolist() == [3.5, 4.0, 4.5]


def test_a_single_object_has_no_neighbours():
    with pytest.warns(UserWarning, match="only one object"):
        table = neighbours(np.array([[1.0, 2.0]]))
    assert np.isnan(table["mean_distance_k8_px"][0])
    assert np.isnan(table["nearest_distance_px"][0])


@pytest.mark.parametrize(("k", "error"), [(0, ValueError), (-3, ValueError),
                                          (2.5, TypeError), (True, TypeError)])
def test_k_must_be_a_positive_integer(k, error):
    with pytest.raises(error, match="k must"):
        neighbours(grid_table(), k=k)


def test_neighbours_needs_centroids():
    with pytest.raises(ValueError, match="centroid"):
        neighbours(pd.DataFrame({"area_px²": [1.0, 2.0]}))
    with pytest.raises(TypeError, match="label image"):
        neighbours(np.array(["a", "b"]))


def test_neighbours_of_100000_points_is_fast():
    import time

    points = np.random.default_rng(0).random((100_000, 2)) * 1000
    start = time.perf_counter()
    table = neighbours(points, k=8)
    assert time.perf_counter() - start < 5  # about 0.1 s; the benchmark checks < 1 s
    assert table["mean_distance_k8_px"].notna().all()


