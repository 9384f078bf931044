"""Scenes of real nuclei with exact truth, for benchmarks of objects on real images.

The real fluorescence images in ``../shared/data`` have no ground truth. Their isolated,
single nuclei do: cut out (smoothed image above Otsu's level, holes filled, solidity ≥ 0.93,
which leaves out two nuclei in one mask, 0.4–2.5 times the median area, nothing else within
4 px) with their own light around them (faded out over 4 px), they are rescaled to a chosen
radius (±15 %), turned, flipped and packed touching one another (70 % of them placed next to
one already there, masks never overlapping) on the image's own background level, with
Gaussian noise of the image's background. The nuclei's texture, shape and brightness spread
are real; only their arrangement is made, and their mask (the truth) is the one their own
image gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import regionprops
from skimage.transform import rescale

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_MARGIN = 4


def sources() -> dict[str, np.ndarray]:
    """The nuclei channel of each real fluorescence image in ``../shared/data``."""
    import tifffile

    return {
        "osteosarcoma": tifffile.imread(SHARED / "osteosarcoma" / "Osteosarcoma_01.tif")[..., 2],
        "bbbc022": tifffile.imread(SHARED / "unlabelled" / "BBBC022_IXMtest_A02_s9.tif")[0],
        "bbbc038": tifffile.imread(SHARED / "unlabelled" / "BBBC038_0bf4b1.tif"),
    }


def isolated_nuclei(image):
    """``(nuclei, background, noise)``: crops ``(light, mask, radius)`` of the image's single,
    isolated nuclei, its background level and the background's standard deviation."""
    image = np.asarray(image, np.float32)
    smooth = ndi.gaussian_filter(image, 1.0)
    mask = ndi.binary_fill_holes(ndi.binary_opening(smooth > threshold_otsu(smooth)))
    labels, _ = ndi.label(mask)
    far = ~ndi.binary_dilation(mask, iterations=5)
    background, noise = float(np.median(image[far])), float(np.std(image[far]))
    typical = np.median(np.bincount(labels.ravel())[1:])
    m, nuclei = _MARGIN, []
    for p in regionprops(labels):
        y0, x0, y1, x1 = p.bbox
        if (not 0.4 * typical <= p.area <= 2.5 * typical or p.solidity < 0.93 or y0 < m
                or x0 < m or y1 > image.shape[0] - m or x1 > image.shape[1] - m):
            continue
        window = (slice(y0 - m, y1 + m), slice(x0 - m, x1 + m))
        own = labels[window] == p.label
        if ((labels[window] > 0) & ~own).any():  # a neighbour within the margin
            continue
        fade = np.clip(1 - ndi.distance_transform_edt(~own) / m, 0, 1)
        light = np.clip(image[window] - background, 0, None) * fade
        nuclei.append((light, own, float(np.sqrt(p.area / np.pi))))
    return nuclei, background, noise


def collage(nuclei, background, noise, radius, density, size, seed, overlap=0.0, spread=None):
    """``(image, truth)``: ``nuclei`` rescaled to ``radius`` (±15 %) packed touching over
    ``density`` of a ``size``² image; with ``overlap`` > 0, up to that share of a nucleus may
    lie over the ones already there (their light adds up, as a fluorescence image's does, and
    the truth gives the shared pixels to the nucleus on top). With ``spread`` (> 1), radii
    are drawn log-uniformly from ``radius / spread`` to ``radius * spread`` instead: large
    and small nuclei in one image."""
    rng = np.random.default_rng(seed)
    typical = np.median([r for *_, r in nuclei])
    light = np.zeros((size, size), np.float32)
    truth = np.zeros((size, size), np.int32)
    covered, count, fails = 0, 0, 0
    while covered < density * size * size and fails < 400:
        signal, own, _ = nuclei[rng.integers(len(nuclei))]
        factor = (rng.uniform(0.85, 1.15) if spread is None
                  else np.exp(rng.uniform(-np.log(spread), np.log(spread))))
        scale, turns = radius / typical * factor, int(rng.integers(4))
        signal = np.rot90(rescale(signal, scale, anti_aliasing=scale < 1,
                                  preserve_range=True), turns)
        own = np.rot90(rescale(own.astype(np.float32), scale, order=1) > 0.5, turns)
        if rng.random() < 0.5:
            signal, own = signal[:, ::-1], own[:, ::-1]
        h, w = own.shape
        if h >= size or w >= size:
            fails += 1
            continue
        if count and rng.random() < 0.7:  # next to a nucleus already there
            ys, xs = np.nonzero(ndi.binary_dilation(truth > 0, iterations=2) & (truth == 0))
            j = rng.integers(len(ys))
            y = int(ys[j] - h // 2 + rng.integers(-(h // 3), h // 3 + 1))
            x = int(xs[j] - w // 2 + rng.integers(-(w // 3), w // 3 + 1))
        else:
            y, x = int(rng.integers(0, size - h)), int(rng.integers(0, size - w))
        y, x = int(np.clip(y, 0, size - h)), int(np.clip(x, 0, size - w))
        window = (slice(y, y + h), slice(x, x + w))
        if (truth[window][own] > 0).sum() > overlap * own.sum():
            fails += 1
            continue
        count += 1
        covered += int((own & (truth[window] == 0)).sum())
        truth[window][own] = count
        light[window] += signal
    noisy = background + light + rng.normal(0.0, noise, light.shape)
    return noisy.astype(np.float32), truth


DEGRADATIONS = ("noise", "blur", "illumination", "dim")


def degrade(kind, image, truth, level, noise, radius, seed):
    """``image`` made harder the way microscopes do: ``"noise"`` adds twice the image's own
    noise again (about 2.2 times the noise in all); ``"blur"`` a Gaussian of radius / 6
    (at least 1.5 px); ``"illumination"`` dims the light above the background smoothly
    across the field, down to 0.35 in one corner; ``"dim"`` gives every nucleus (and its
    faded halo) its own brightness, 0.25 to 1 of what it had."""
    rng = np.random.default_rng(seed)
    if kind == "noise":
        return (image + rng.normal(0, 2 * noise, image.shape)).astype(np.float32)
    if kind == "blur":
        return ndi.gaussian_filter(image, max(1.5, radius / 6)).astype(np.float32)
    if kind == "illumination":
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]] / image.shape[0]
        gain = 0.35 + 0.65 * (0.5 + 0.5 * np.cos(np.pi * (yy + 0.5 * xx)))
        return (level + (image - level) * gain).astype(np.float32)
    if kind == "dim":
        factor = rng.uniform(0.25, 1.0, truth.max() + 1)
        _, nearest = ndi.distance_transform_edt(truth == 0, return_indices=True)
        return (level + (image - level) * factor[truth[tuple(nearest)]]).astype(np.float32)
    raise ValueError(f"unknown degradation {kind!r}; one of {DEGRADATIONS}")
