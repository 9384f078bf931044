"""Rebuild the bundled sample crops in microlab/data from ../shared/data.

Run from the repository root: ``python scripts/make_sample_data.py [SHARED_DATA_DIR]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tifffile

import microlab
from microlab.data import SANDSTONE_COLOURS

ROOT = Path(__file__).resolve().parents[1]
SLICES = ("0000", "0200", "0400")
CROP = 512


def rgb_to_classes(mask: np.ndarray) -> np.ndarray:
    """Map the RGB-coded sandstone masks (C, Y, X) to classes 1..4 (0 where unknown)."""
    out = np.zeros(mask.shape[1:], np.uint8)
    for k, colour in enumerate(SANDSTONE_COLOURS, start=1):
        out[np.all(mask == np.array(colour)[:, None, None], axis=0)] = k
    return out


def main(shared: Path) -> None:
    target = ROOT / "microlab" / "data"
    images, truths = [], []
    spacing = None
    for s in SLICES:
        img = microlab.read_image(shared / "sandstone" / "images" / f"Sandstone_Versa{s}.tif")
        mask = microlab.read_image(shared / "sandstone" / "masks" / f"Sandstone_Versa{s}.tif")
        y0 = (img.data.shape[0] - CROP) // 2
        x0 = (img.data.shape[1] - CROP) // 2
        images.append(img.data[y0 : y0 + CROP, x0 : x0 + CROP])
        truths.append(rgb_to_classes(mask.data)[y0 : y0 + CROP, x0 : x0 + CROP])
        spacing = img.spacing
    meta = {"axes": "ZYX", "unit": "micron", "Labels": [f"Sandstone_Versa{s}" for s in SLICES]}
    res = (1 / spacing[1], 1 / spacing[0])
    tifffile.imwrite(target / "sandstone.tif", np.stack(images), imagej=True, metadata=meta,
                     resolution=res, compression="zlib")
    tifffile.imwrite(target / "sandstone_truth.tif", np.stack(truths), imagej=True,
                     metadata=meta, resolution=res, compression="zlib")
    osteo = microlab.read_image(shared / "osteosarcoma" / "Osteosarcoma_01.tif").data
    y0, x0 = 200, 600
    crop = np.ascontiguousarray(osteo[:, y0 : y0 + CROP, x0 : x0 + CROP])
    tifffile.imwrite(target / "osteosarcoma.tif", crop, photometric="minisblack",
                     metadata={"axes": "CYX"}, compression="zlib")
    for t in truths:
        print("class pixels:", np.bincount(t.ravel(), minlength=5))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data")
