"""microlab.measure.objects: one row per object, checked against shapes and scikit-image."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from skimage.measure import marching_cubes, mesh_surface_area, regionprops, regionprops_table

import microlab
from microlab.data.synthetic import synthetic_nuclei
from microlab.measure import column_names, neighbours, objects


def disk(shape, centre, radius):
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    return sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)) <= radius**2


# --- hand-computable shapes -------------------------------------------------------------


def test_a_disk_has_the_area_and_axes_of_a_disk():
    labels = disk((64, 64), (32, 32), 20).astype(np.uint8)
    row = objects(labels).iloc[0]
    assert row["area_px²"] == labels.sum()
    assert row["area_px²"] == pytest.approx(math.pi * 20**2, rel=0.01)
    assert row["equivalent_diameter_px"] == pytest.approx(40, rel=0.01)
    assert row["major_axis_length_px"] == pytest.approx(40, rel=0.02)
    assert row["minor_axis_length_px"] == pytest.approx(40, rel=0.02)
    assert row["eccentricity"] < 0.05
    assert (row["centroid_y_px"], row["centroid_x_px"]) == (32, 32)
    assert row["perimeter_px"] == pytest.approx(2 * math.pi * 20, rel=0.05)


def test_a_square_has_perimeter_4_n_minus_1_through_pixel_centres():
    labels = np.zeros((20, 20), np.uint8)
    labels[5:15, 5:15] = 1
    row = objects(labels).iloc[0]
    assert row["area_px²"] == 100
    assert row["perimeter_px"] == 36
    assert row["extent"] == 1 and row["solidity"] == 1
    assert (row["centroid_y_px"], row["centroid_x_px"]) == (9.5, 9.5)


def test_physical_units_scale_lengths_and_areas_and_name_the_columns():
    labels = np.zeros((20, 20), np.uint8)
    labels[5:15, 5:15] = 1
    row = objects(labels, spacing=0.5).iloc[0]
    assert row["area_µm²"] == 25
    assert row["perimeter_µm"] == 18
    assert row["centroid_x_µm"] == 4.75
    assert objects(labels, spacing=0.5, unit="nm").columns[3] == "area_nm²"


def test_a_rectangle_with_rectangular_pixels_weights_each_step_by_its_length():
    labels = np.zeros((12, 30), np.uint8)
    labels[2:8, 3:23] = 1  # 6 rows, 20 columns
    row = objects(labels, spacing=(2.0, 0.5)).iloc[0]
    assert row["area_µm²"] == 6 * 20 * 1.0
    assert row["perimeter_µm"] == pytest.approx(2 * 19 * 0.5 + 2 * 5 * 2.0)
    assert row["extent"] == 1
    # 12 µm tall, 10 µm wide: the major axis runs along the rows (Y)
    assert row["orientation_deg"] == pytest.approx(0)
    assert objects(labels).iloc[0]["orientation_deg"] in (-90, 90)


def test_an_l_shape_has_the_solidity_and_extent_of_an_l():
    labels = np.zeros((14, 14), np.uint8)
    labels[2:12, 2:12] = 1
    labels[2:7, 7:12] = 0
    row = objects(labels).iloc[0]
    assert row["area_px²"] == 75
    assert row["extent"] == 0.75
    assert 0.75 < row["solidity"] < 0.95
    assert row["solidity"] == pytest.approx(regionprops(labels)[0].solidity)


def test_an_ellipse_has_its_orientation_and_eccentricity():
    yy, xx = np.mgrid[:80, :80] - 40.0
    angle = np.radians(30)
    u = xx * np.cos(angle) - yy * np.sin(angle)
    v = xx * np.sin(angle) + yy * np.cos(angle)
    labels = ((u / 30) ** 2 + (v / 10) ** 2 <= 1).astype(np.uint8)
    row = objects(labels).iloc[0]
    assert row["major_axis_length_px"] == pytest.approx(60, rel=0.02)
    assert row["minor_axis_length_px"] == pytest.approx(20, rel=0.03)
    assert row["eccentricity"] == pytest.approx(math.sqrt(1 - (10 / 30) ** 2), rel=0.01)
    # the major axis is 30° above the X axis: 60° from the rows axis, counter-clockwise
    assert abs(row["orientation_deg"]) == pytest.approx(60, abs=1)


def test_a_ball_has_the_volume_surface_and_axes_of_a_ball():
    labels = disk((50, 50, 50), (25, 25, 25), 15).astype(np.uint8)
    row = objects(labels).iloc[0]
    assert row["volume_px³"] == pytest.approx(4 / 3 * math.pi * 15**3, rel=0.01)
    # binary marching cubes: the voxel staircase adds about 9 % on a smooth sphere
    assert 1.0 < row["surface_area_px²"] / (4 * math.pi * 15**2) < 1.12
    assert row["equivalent_diameter_px"] == pytest.approx(30, rel=0.01)
    assert row["major_axis_length_px"] == pytest.approx(30, rel=0.02)
    assert row["minor_axis_length_px"] == pytest.approx(30, rel=0.02)
    assert "eccentricity" not in row.index and "orientation_deg" not in row.index


def test_a_box_has_the_marching_cubes_surface_of_a_box():
    labels = np.zeros((8, 9, 10), np.uint8)
    labels[1:5, 1:6, 1:7] = 1  # 4 x 5 x 6 voxels: centres span 3 x 4 x 5
    a, b, c = 3, 4, 5
    # flat faces, edges cut at 45° (strips sqrt(2)/2 wide), corners cut by triangles
    faces = 2 * (a * b + b * c + a * c)
    edges = 4 * (a + b + c) * math.sqrt(2) / 2
    corners = 8 * math.sqrt(3) / 8
    row = objects(labels).iloc[0]
    assert row["surface_area_px²"] == pytest.approx(faces + edges + corners)
    assert row["volume_px³"] == 120 and row["extent"] == 1 and row["solidity"] == 1


def test_a_ball_sampled_anisotropically_keeps_its_physical_size():
    # radius 12 µm, z step 3 µm, pixels 1 µm
    zz, yy, xx = np.ogrid[:12, :40, :40]
    labels = (((zz - 6) * 3.0) ** 2 + (yy - 20.0) ** 2 + (xx - 20.0) ** 2 <= 144).astype(np.uint8)
    row = objects(labels, spacing=(3, 1, 1)).iloc[0]
    assert row["volume_µm³"] == pytest.approx(4 / 3 * math.pi * 12**3, rel=0.03)
    assert 1.0 < row["surface_area_µm²"] / (4 * math.pi * 12**2) < 1.15
    assert row["centroid_z_µm"] == pytest.approx(18)


# --- agreement with scikit-image ----------------------------------------------------------


@pytest.mark.parametrize("spacing", [None, (0.5, 0.5)])
def test_2d_values_match_skimage_regionprops(spacing):
    image, labels = synthetic_nuclei((160, 160), seed=4, radius=(2, 12))
    labels[labels == 3] = 0  # a missing label
    table = objects(labels, image, spacing=spacing)
    ref = pd.DataFrame(regionprops_table(
        labels, image, spacing=spacing or (1, 1),
        properties=["label", "centroid", "area", "perimeter", "equivalent_diameter_area",
                    "axis_major_length", "axis_minor_length", "eccentricity", "orientation",
                    "solidity", "extent", "intensity_mean", "intensity_min", "intensity_max",
                    "intensity_std"],
    ))
    u = "px" if spacing is None else "µm"
    assert table["label"].tolist() == ref["label"].tolist()
    pairs = {
        f"centroid_y_{u}": "centroid-0", f"centroid_x_{u}": "centroid-1",
        f"area_{u}²": "area", f"perimeter_{u}": "perimeter",
        f"equivalent_diameter_{u}": "equivalent_diameter_area",
        f"major_axis_length_{u}": "axis_major_length",
        f"minor_axis_length_{u}": "axis_minor_length",
        "eccentricity": "eccentricity", "solidity": "solidity", "extent": "extent",
        "intensity_min": "intensity_min", "intensity_max": "intensity_max",
    }
    for ours, theirs in pairs.items():
        np.testing.assert_allclose(table[ours], ref[theirs], rtol=1e-9, atol=1e-9, err_msg=ours)
    np.testing.assert_allclose(table["orientation_deg"], np.degrees(ref["orientation"]),
                               atol=1e-6)
    # regionprops sums float32 intensities in float32; microlab in float64
    np.testing.assert_allclose(table["intensity_mean"], ref["intensity_mean"], rtol=1e-5)
    np.testing.assert_allclose(table["intensity_std"], ref["intensity_std"], rtol=1e-4)


def test_3d_values_match_skimage_regionprops_and_marching_cubes():
    image, labels = synthetic_nuclei((20, 48, 48), seed=2, radius=(3, 8), spacing=(2, 1, 1))
    spacing = (2.0, 0.5, 0.5)
    table = objects(labels, image, spacing=spacing)
    ref = pd.DataFrame(regionprops_table(
        labels, image, spacing=spacing,
        properties=["label", "centroid", "area", "equivalent_diameter_area",
                    "axis_major_length", "axis_minor_length", "extent", "intensity_max"],
    ))
    pairs = {
        "centroid_z_µm": "centroid-0", "centroid_x_µm": "centroid-2", "volume_µm³": "area",
        "equivalent_diameter_µm": "equivalent_diameter_area",
        "major_axis_length_µm": "axis_major_length",
        "minor_axis_length_µm": "axis_minor_length", "extent": "extent",
        "intensity_max": "intensity_max",
    }
    for ours, theirs in pairs.items():
        np.testing.assert_allclose(table[ours], ref[theirs], rtol=1e-9, err_msg=ours)
    surfaces, solidities = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # regionprops warns on flat objects
        for region in regionprops(labels, spacing=spacing):
            padded = np.pad(region.image, 1).astype(np.float32)
            verts, faces, _, _ = marching_cubes(padded, 0.5, spacing=spacing)
            surfaces.append(mesh_surface_area(verts, faces))
            solidities.append(region.solidity)
    np.testing.assert_allclose(table["surface_area_µm²"], surfaces, rtol=1e-6)
    finite = np.isfinite(solidities)  # regionprops fails on objects one voxel thick
    np.testing.assert_allclose(table["solidity"][finite], np.array(solidities)[finite])
    assert np.all((table["solidity"] > 0) & (table["solidity"] <= 1))


# --- images, units and channels -----------------------------------------------------------


def test_every_channel_gets_intensity_columns_whichever_axis_holds_them():
    labels = np.zeros((10, 10), np.uint8)
    labels[2:5, 2:5] = 1
    labels[6:9, 6:9] = 2
    stack = np.stack([np.full((10, 10), 3.0), np.arange(100.0).reshape(10, 10)])
    first = objects(labels, stack)
    last = objects(labels, np.moveaxis(stack, 0, -1))
    image = objects(labels, microlab.Image(stack, "CYX"))
    pd.testing.assert_frame_equal(first, last)
    pd.testing.assert_frame_equal(first, image)
    assert first["intensity_mean_ch0"].tolist() == [3.0, 3.0]
    assert first["intensity_min_ch1"].tolist() == [22.0, 66.0]
    assert first["intensity_max_ch1"].tolist() == [44.0, 88.0]
    block = np.arange(100.0).reshape(10, 10)[2:5, 2:5]
    assert first["intensity_std_ch1"][0] == pytest.approx(block.std())


def test_spacing_and_unit_come_from_the_image_or_the_labels():
    labels = np.zeros((10, 10), np.uint8)
    labels[2:6, 2:6] = 1
    image = microlab.Image(np.ones((10, 10)), "YX", spacing=(0.25, 0.25), unit="nm")
    assert objects(labels, image)["area_nm²"][0] == 1
    labelled = microlab.Image(labels, "YX", spacing=(2.0, 2.0), unit="µm")
    assert objects(labelled)["area_µm²"][0] == 64
    assert objects(labelled, spacing=1)["area_µm²"][0] == 16


def test_labels_need_not_be_consecutive():
    labels = np.zeros((10, 10), np.int64)
    labels[1:3, 1:3] = 7
    labels[5:9, 5:9] = 10**12
    table = objects(labels)
    assert table["label"].tolist() == [7, 10**12]
    assert table["area_px²"].tolist() == [4, 16]


def test_an_empty_label_image_gives_an_empty_table_with_the_right_columns():
    table = objects(np.zeros((8, 8), np.uint16), np.zeros((2, 8, 8)), spacing=0.5)
    assert len(table) == 0
    assert table.columns.tolist() == column_names(2, "µm", channels=2)
    assert table["label"].dtype == np.int64
    volume = objects(np.zeros((3, 8, 8), np.uint8))
    assert volume.columns.tolist() == column_names(3, "px")
    assert len(neighbours(volume)) == 0


@pytest.mark.parametrize(
    ("labels", "kwargs", "error", "match"),
    [
        (np.zeros((4, 4)), {}, TypeError, "integer label image"),
        (np.zeros((4, 4), bool), {}, TypeError, "boolean mask"),
        (np.full((4, 4), -1), {}, ValueError, "negative"),
        (np.zeros((2, 2, 2, 2), int), {}, ValueError, "2D"),
        (np.zeros((4, 4), int), {"image": np.zeros((5, 5))}, ValueError, "pixel for pixel"),
        (np.zeros((4, 4), int), {"image": np.zeros((4, 4), str)}, TypeError, "real numbers"),
        (np.zeros((4, 4), int), {"spacing": (1, 0)}, ValueError, "positive"),
        (np.zeros((4, 4), int), {"spacing": -2}, ValueError, "positive"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(labels, kwargs, error, match):
    with pytest.raises(error, match=match):
        objects(labels, **kwargs)




# --- labels or intensities? ---------------------------------------------------------------


def test_measure_refuses_intensity_image_as_labels():
    """An integer intensity image used to give one "object" per grey value (case 8)."""
    image = microlab.data.sandstone()[0].data[:96, :96]
    values = len(np.unique(image[image > 0]))
    with pytest.raises(ValueError, match=f"does not look like a label image: its {values} values"):
        objects(image)
    assert len(objects(image, force=True)) == values  # force: the user says they are labels


def spots():
    labels = np.zeros((50, 50), np.uint16)
    labels[::7, ::5] = np.arange(1, 81).reshape(8, 10)
    return labels


LABEL_IMAGES = {
    "instances": lambda: synthetic_nuclei((96, 96), n=12, seed=3)[1],
    "class map": lambda: microlab.data.sandstone()[1],
    "single pixels": spots,
    "one object": lambda: disk((30, 30), (15, 15), 9).astype(np.uint8),
}


@pytest.mark.parametrize("kind", LABEL_IMAGES)
def test_label_images_of_every_kind_are_measured(kind):
    labels = np.asarray(LABEL_IMAGES[kind]())
    assert len(objects(labels)) == len(np.unique(labels[labels > 0]))


def test_measure_cyx_image_is_not_measured_as_z():
    """A CYX label image used to have its channels measured as z-slices (case 8)."""
    labels = np.zeros((3, 30, 30), np.uint8)
    labels[0, 2:8, 2:8] = 1
    labels[1, 10:20, 10:20] = 2
    with pytest.raises(ValueError, match=r"3 different channels \(axes 'CYX'\).*channel\(0\)"):
        objects(microlab.Image(labels, "CYX"))
    table = objects(microlab.Image(labels, "CYX").channel(1))
    assert table["label"].tolist() == [2] and "area_px²" in table.columns
    grey_as_rgb = microlab.Image(np.stack([labels[0]] * 3), "CYX")  # a mask saved as RGB
    assert objects(grey_as_rgb)["area_px²"].tolist() == [36.0]


def test_a_single_time_point_is_measured_and_several_are_refused():
    labels = np.zeros((1, 20, 20), np.uint8)
    labels[0, 2:6, 2:6] = 1
    assert len(objects(microlab.Image(labels, "TYX"))) == 1
    with pytest.raises(ValueError, match="2 time points"):
        objects(microlab.Image(np.concatenate([labels, labels]), "TYX"))
