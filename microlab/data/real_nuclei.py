"""Scenes of real nuclei with pseudo-labelled truth: real nuclei cut out and packed anew.

Real fluorescence images come without ground truth; their isolated, single nuclei come with
a good one of their own: cut out (smoothed image above Otsu's level, holes filled, solidity
≥ 0.93, which leaves out two nuclei in one mask, 0.4–2.5 times the median area, nothing
else within 4 px) with their own light around them (faded out over 4 px), they are rescaled
to a chosen radius, turned, flipped and packed touching one another (:func:`collage`) on the
image's own background level, with Gaussian noise of the image's background. The nuclei's
texture, shape and brightness spread are real; only their arrangement is made, and their
mask is the one their own image gives (a pseudo-label, not a person's annotation).

``python -m microlab.deep.pretrain --real-nuclei`` pretrains on such scenes made from
:func:`split_nuclei`'s first half of each image's nuclei; the benchmarks' made scenes of real
nuclei (``benchmarks/real_nuclei.py``) can hold the other half out for judging those weights.

Examples
--------
>>> from microlab.data import bbbc022
>>> from microlab.data.real_nuclei import collage, isolated_nuclei
>>> nuclei, background, noise = isolated_nuclei(bbbc022().data[0])
>>> len(nuclei) > 5
True
>>> image, truth = collage(nuclei, background, noise, radius=8, density=0.4, size=96, seed=0)
>>> image.shape, bool(truth.max() >= 5)
((96, 96), True)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import regionprops
from skimage.transform import rescale

__all__ = ["DEGRADATIONS", "collage", "degrade", "isolated_nuclei", "nuclei_sources",
           "split_nuclei"]

_MARGIN = 4
SOURCES = {"osteosarcoma": "osteosarcoma/Osteosarcoma_01.tif",
           "bbbc022": "unlabelled/BBBC022_IXMtest_A02_s9.tif",
           "bbbc038": "unlabelled/BBBC038_0bf4b1.tif"}
"""The real fluorescence images of the shared data folder whose nuclei are used, by name."""


def nuclei_sources(data) -> dict[str, np.ndarray]:
    """The nuclei channel of each real fluorescence image of :data:`SOURCES` in ``data``.

    Parameters
    ----------
    data : path
        The shared real-data folder (``osteosarcoma/``, ``unlabelled/``).

    Returns
    -------
    dict
        ``{name: 2D image}``: the osteosarcoma image's blue channel, BBBC022's first channel,
        BBBC038's only one.

    Raises
    ------
    FileNotFoundError
        When one of the images is not in ``data``, naming it.
    """
    import tifffile

    data = Path(data)
    missing = [rel for rel in SOURCES.values() if not (data / rel).is_file()]
    if missing:
        raise FileNotFoundError(f"{data} lacks {', '.join(missing)}: pass the shared data "
                                "folder (with osteosarcoma/ and unlabelled/)")
    return {"osteosarcoma": tifffile.imread(data / SOURCES["osteosarcoma"])[..., 2],
            "bbbc022": tifffile.imread(data / SOURCES["bbbc022"])[0],
            "bbbc038": tifffile.imread(data / SOURCES["bbbc038"])}


def split_nuclei(nuclei: list) -> tuple[list, list]:
    """``(pretraining, held_out)``: alternate nuclei of one image (in :func:`isolated_nuclei`'s
    order), so that weights pretrained on the first can be judged on scenes of the second.

    Examples
    --------
    >>> split_nuclei(["a", "b", "c", "d", "e"])
    (['a', 'c', 'e'], ['b', 'd'])
    """
    return list(nuclei[0::2]), list(nuclei[1::2])


def isolated_nuclei(image):
    """``(nuclei, background, noise)``: crops ``(light, mask, radius)`` of the image's single,
    isolated nuclei, its background level and the background's standard deviation.

    ``light`` is the crop above the background, faded out over 4 px beyond the mask;
    ``radius`` the radius of a disc of the nucleus's area (px)."""
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
