"""microlab.viz object pictures: colour-coded maps, outlines, summary figures."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

import microlab
from microlab import viz

matplotlib.use("Agg")


@pytest.fixture
def scene():
    labels = np.zeros((40, 40), np.int32)
    labels[2:10, 2:10] = 1
    labels[15:25, 10:20] = 2
    labels[30:34, 30:38] = 5
    image = np.random.default_rng(0).random((40, 40))
    return labels, image, microlab.measure.objects(labels, image)


def test_color_objects_paints_each_object_with_its_value(scene):
    labels, image, table = scene
    ax = viz.color_objects(labels, table, image, column="area")
    painted = ax.images[-1].get_array()
    assert painted[5, 5] == 64 and painted[20, 15] == 100 and painted[32, 32] == 32
    assert painted.mask[0, 0]  # background stays transparent
    assert ax.figure.axes[-1].get_ylabel() == "area_px²"  # the colour bar


def test_color_objects_takes_a_series_array_or_dict(scene):
    labels, _, table = scene
    by_series = viz.color_objects(labels, table["extent"]).images[-1].get_array()
    by_dict = viz.color_objects(labels, {1: 1.0, 2: 1.0, 5: 1.0}).images[-1].get_array()
    assert by_series[20, 15] == 1.0 and by_dict[32, 32] == 1.0
    partial = viz.color_objects(labels, {2: 3.0}).images[-1].get_array()
    assert partial.mask[5, 5] and partial[20, 15] == 3.0


def test_color_objects_refuses_values_that_do_not_fit(scene):
    labels, image, table = scene
    with pytest.raises(ValueError, match="3 objects"):
        viz.color_objects(labels, [1.0, 2.0])
    with pytest.raises(ValueError, match="which column"):
        viz.color_objects(labels, table)
    with pytest.raises(ValueError, match="is not a column"):
        viz.color_objects(labels, table, column="volume")
    with pytest.raises(ValueError, match="image they were made from"):
        viz.color_objects(labels, table, image[:10], column="area")
    rgb = microlab.Image(np.zeros((3, 40, 40)), "CYX")
    with pytest.raises(ValueError, match=r"image.channel\(2\)"):
        viz.color_objects(labels, table, rgb, column="area")


def test_color_objects_draws_one_slice_of_a_stack():
    labels = np.zeros((5, 20, 20), np.int32)
    labels[1:4, 5:15, 5:15] = 1
    table = microlab.measure.objects(labels)
    ax = viz.color_objects(labels, table, column="volume", z=2)
    assert ax.images[-1].get_array().shape == (20, 20)
    with pytest.raises(ValueError, match="slice"):
        viz.color_objects(labels, table, column="volume", z=9)


def test_overlay_outlines_every_object(scene):
    labels, image, _ = scene
    rgba = viz.overlay(image, labels).images[-1].get_array()
    assert rgba[2, 5, 3] == 1 and rgba[5, 5, 3] == 0  # outline opaque, inside clear
    assert not np.allclose(rgba[2, 5, :3], rgba[15, 12, :3])  # objects get own colours
    single = viz.overlay(None, labels, color="yellow").images[-1].get_array()
    assert single[2, 5, :3].tolist() == [1, 1, 0]
    thick = viz.overlay(image, labels, width=2).images[-1].get_array()
    assert thick[3, 5, 3] == 1 and thick[1, 5, 3] == 0  # widened inwards only
    with pytest.raises(ValueError, match="width"):
        viz.overlay(image, labels, width=0)


def test_object_summary_has_histograms_and_a_scatter(scene):
    _, _, table = scene
    table = microlab.measure.neighbours(table, k=2)
    fig = viz.object_summary(table, color="intensity_mean")
    labels = [ax.get_xlabel() for ax in fig.axes]
    for name in ("area_px²", "equivalent_diameter_px", "eccentricity", "solidity",
                 "mean_distance_k2_px"):
        assert name in labels
    scatter = fig.axes[5]
    assert (scatter.get_xlabel(), scatter.get_ylabel()) == ("area_px²", "solidity")
    custom = viz.object_summary(table, ["extent"], x="centroid_x", y="centroid_y")
    assert [ax.get_xlabel() for ax in custom.axes][:2] == ["extent", "centroid_x_px"]


def test_summary_plots_refuse_what_is_not_a_table():
    with pytest.raises(TypeError, match="DataFrame"):
        viz.object_summary(np.zeros((3, 3)))
    table = pd.DataFrame({"intensity_mean_ch0": [1.0], "intensity_mean_ch1": [2.0]})
    with pytest.raises(ValueError, match="several columns"):
        viz.scatter_objects(table, "intensity_mean", "intensity_mean_ch1")
