"""Channel names: read from OME-TIFF, ImageJ and OME-Zarr files, written back, checked."""

import numpy as np
import pytest
import tifffile

import microlab
from microlab.io.omezarr_write import write_ome_zarr
from microlab.io.write import write_image


def test_imagej_slice_labels_name_the_channels_of_a_real_file(shared_data):
    image = microlab.read_image(shared_data / "unlabelled" / "BBBC022_IXMtest_A02_s9.tif")
    assert image.channel_names == ("IXMtest_A02_s9_c1", "IXMtest_A02_s9_c2",
                                   "IXMtest_A02_s9_c3")  # the ".tif" of the labels dropped


def test_ome_tiff_channel_names_are_read_and_unescaped(tmp_path):
    path = tmp_path / "cells.ome.tif"
    tifffile.imwrite(path, np.zeros((3, 16, 16), np.uint16), ome=True,
                     metadata={"axes": "CYX", "Channel": {"Name": ["DAPI", "GFP & RFP", "actin"]}})
    assert microlab.read_image(path).channel_names == ("DAPI", "GFP & RFP", "actin")


@pytest.mark.parametrize("axes, shape", [("CYX", (2, 16, 16)), ("CZYX", (2, 3, 16, 16)),
                                         ("TCYX", (2, 2, 16, 16))])
def test_names_survive_imagej_tiff_and_ome_zarr_round_trips(tmp_path, axes, shape):
    image = microlab.Image(np.arange(np.prod(shape), dtype=np.uint16).reshape(shape), axes,
                           channel_names=["Hoechst", "phalloidin"])
    write_image(tmp_path / "a.tif", image)
    write_ome_zarr(tmp_path / "a.ome.zarr", image, levels=1)
    for back in (microlab.read_image(tmp_path / "a.tif"),
                 microlab.read_image(tmp_path / "a.ome.zarr")):
        assert back.axes == axes and back.channel_names == ("Hoechst", "phalloidin")


def test_labels_that_do_not_name_each_channel_once_are_dropped_not_refused(tmp_path):
    path = tmp_path / "dup.tif"
    tifffile.imwrite(path, np.zeros((2, 16, 16), np.uint8), imagej=True,
                     metadata={"axes": "CYX", "Labels": ["same", "same"]})
    image = microlab.read_image(path)
    assert image.channels == 2 and image.channel_names is None
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((16, 16), np.uint8))
    assert microlab.read_image(plain).channel_names is None


@pytest.mark.parametrize("names, problem", [(["a"], "1 channel name"), (["a", "a"], "distinct"),
                                            (["a", " "], "not empty")])
def test_channel_names_given_by_hand_are_checked(names, problem):
    with pytest.raises(ValueError, match=problem):
        microlab.Image(np.zeros((2, 8, 8), np.uint8), "CYX", channel_names=names)
    image = microlab.Image.from_array(np.zeros((8, 8, 2), np.uint8), "YXC",
                                      channel_names=[" DAPI ", "GFP"])
    assert image.channel_names == ("DAPI", "GFP")
