import sys

import numpy as np

import microlab


def test_sandstone_samples_have_all_four_classes_and_a_pixel_size():
    for index in range(3):
        image, truth = microlab.data.sandstone(index)
        assert image.data.shape == truth.shape == (512, 512)
        assert image.data.dtype == np.uint8
        assert set(np.unique(truth)) == {1, 2, 3, 4}
        assert image.unit == "µm" and image.spacing[0] > 1


def test_osteosarcoma_nuclei_are_the_blue_channel():
    img = microlab.data.osteosarcoma()
    assert img.axes == "CYX"
    # DAPI nuclei: the blue channel is the brightest one
    assert img.data[2].mean() > img.data[0].mean()


def test_sandstone_rejects_unknown_index():
    import pytest

    with pytest.raises(ValueError, match="0 to 2"):
        microlab.data.sandstone(5)


def test_import_microlab_does_not_import_torch():
    import subprocess

    code = "import sys, microlab; microlab.data.sandstone(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
