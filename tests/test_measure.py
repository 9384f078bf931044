"""microlab.measure: per-object tables, neighbourhoods and batch measurement."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from skimage.measure import marching_cubes, mesh_surface_area, regionprops, regionprops_table

import microlab
from microlab.data.synthetic import synthetic_nuclei
from microlab.measure import column_names, files, neighbours, objects


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


# --- neighbours ---------------------------------------------------------------------------


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


# --- many files -----------------------------------------------------------------------------


def write_pair(folder, name, seed, spacing=0.5):
    image, labels = synthetic_nuclei((64, 64), n=6, seed=seed)
    (folder / "labels").mkdir(exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    microlab.write_labels(folder / "labels" / f"{name}_labels.tif", labels, spacing=spacing)
    import tifffile

    tifffile.imwrite(folder / "images" / f"{name}.tif", image)
    return labels


def test_files_measures_each_label_image_into_one_table(tmp_path):
    a = write_pair(tmp_path, "a", 1)
    b = write_pair(tmp_path, "b", 2)
    table = files(tmp_path / "labels" / "*.tif", image_dir=tmp_path / "images",
                  neighbours=3, progress=False)
    assert table.columns[0] == "image"
    counts = table["image"].value_counts()
    assert counts["a_labels.tif"] == a.max() and counts["b_labels.tif"] == b.max()
    assert "intensity_mean" in table.columns and "mean_distance_k3_µm" in table.columns
    assert table["area_µm²"].sum() == pytest.approx(((a > 0).sum() + (b > 0).sum()) * 0.25)
    same = files([tmp_path / "labels"], progress=False)
    assert len(same) == len(table)


def test_files_says_which_image_is_missing(tmp_path):
    write_pair(tmp_path, "a", 1)
    (tmp_path / "images" / "a.tif").unlink()
    with pytest.raises(FileNotFoundError, match=r"no intensity image for a_labels\.tif"):
        files(tmp_path / "labels", image_dir=tmp_path / "images", progress=False)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        files(tmp_path / "nothing*.tif", progress=False)
    with pytest.raises(ValueError, match="no label images"):
        files([], progress=False)
