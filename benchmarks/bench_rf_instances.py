"""Objects from a scribble-trained forest: microlab.instances vs a plain scikit-image pipeline.

Task (issue 15): strokes → ``RandomForestSegmenter`` → objects, on nuclei of every size. The
forest's foreground carries debris (small false blobs, speckled holes in large nuclei); the
defaults of :func:`microlab.instances` must clean it up relative to the objects' size.

Scenes: ``microlab.data.synthetic.synthetic_nuclei`` swept over nucleus radius (5 to 45 px,
each image's radii spread ±30 %), density (30 % / 50 % of the area covered), contrast
(1.0 / 0.4 of the default) and noise (0.05 / 0.15), each with and without *debris*: as many
small bright fragments as nuclei (radius 0.15–0.45 of a nucleus') and a faint textured haze
within two radii of the nuclei. Images are 24 radii wide (256 to 1024 px).

With ``--profile flat`` the same nuclei are imaged flat and textured, as the nuclei of
adherent cells are (an even brightness dimming a little at the edge, chromatin grain and
bright spots, see :func:`flat`) instead of the generator's domes, which are brightest in the
middle: the case where a split that follows the image's blobs may cut one nucleus in two.

Strokes: 1 % of each class's pixels in dabs of radius 3 (``scribbles_from_truth``), from the
true foreground/background. Both methods get the same forest probabilities (default
features and forest).

* **microlab**: ``microlab.instances(proba)`` with its defaults;
* **+ image**: ``microlab.instances(proba, image=image)``: seeds and dividing lines also
  follow the image's blobs at the objects' scale (what the notebooks and the workbench do);
* **anchor** (scikit-image): foreground = probability > 0.5, one binary opening with a disk
  of radius R/6, distance transform, ``peak_local_max(min_distance=R/2)``, watershed — with
  R the true mean radius of the scene (an advantage the anchor gets for free);
* **old defaults**: ``instances(proba, min_size=16, denoise=0, core=None)`` (before
  issue 15: a fixed size floor, no denoising, seeds in the mask).

Score: AP@0.5 (``microlab.measure.average_precision``: TP / (TP + FP + FN)) per image; the
table gives means per radius and per debris setting over the seeds.

Usage::

    python benchmarks/bench_rf_instances.py [--seeds 3] [--radii 5 8 12 20 30 45]
        [--profile dome|flat] [--elongation 1] [--unpruned]

``--unpruned`` adds a column: microlab's defaults on a forest that keeps every feature
(``RandomForestSegmenter(prune=False)``), to see what pruning the forest costs.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import warnings

import numpy as np
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.segmentation import watershed

import microlab
from microlab.data.synthetic import synthetic_nuclei
from microlab.labels import scribbles_from_truth
from microlab.measure import average_precision


def scene(radius, density, contrast, noise, debris, seed, profile="dome", elongation=1.0):
    """A nuclei image and its truth; with debris, fragments and haze the truth leaves out.

    ``elongation`` > 1 draws the nuclei on pixels that are that much wider than tall, so
    that in the image they are that much taller than wide (same area)."""
    rng = np.random.default_rng(seed)
    size = int(np.clip(radius * 24, 256, 1024))
    n = int(density * size * size / (np.pi * radius * radius))
    stretch = np.sqrt(elongation)
    image, truth = synthetic_nuclei((size, size), n,
                                    radius=(0.7 * radius, 1.3 * radius),
                                    noise=noise, blur=max(1.0, radius / 12), seed=seed,
                                    spacing=(1.0 / stretch, stretch))
    if profile == "flat":
        image = flat(truth, radius, noise, rng)
    background = np.percentile(image[truth == 0], 50)
    image = background + (image - background) * contrast
    if debris:
        yy, xx = np.mgrid[:size, :size]
        extra = np.zeros_like(image)
        for _ in range(n):
            cy, cx = rng.uniform(0, size, 2)
            r = rng.uniform(0.15, 0.45) * radius
            extra += rng.uniform(0.3, 0.9) * contrast * np.exp(
                -((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r))
        haze = ndi.gaussian_filter(rng.normal(size=image.shape), radius / 2)
        haze = np.clip(haze / haze.std(), 0, None) * 0.06 * contrast
        near = ndi.distance_transform_edt(truth == 0) < 2 * radius
        image = image + (extra + haze * near) * (truth == 0)
    return image.astype(np.float32), truth


def flat(truth, radius, noise, rng):
    """The same nuclei imaged as flat, textured ones (adherent cells' nuclei): an even
    brightness that dims a little towards each nucleus' edge (to 0.75 within 0.2 R),
    chromatin grain at 0.12 R (±20 %) and bright spots of 0.12 R, about three per nucleus."""
    from skimage.segmentation import find_boundaries

    brightness = rng.uniform(0.45, 1.0, truth.max() + 1)
    inside = truth > 0
    depth = ndi.distance_transform_edt(~(find_boundaries(truth, mode="inner") | ~inside))
    body = brightness[truth] * np.clip(0.75 + 0.25 * depth / (0.2 * radius), 0, 1) * inside
    sigma = 0.12 * radius
    grain = ndi.gaussian_filter(rng.normal(size=truth.shape), sigma)
    spots = np.zeros(truth.shape)
    where = np.flatnonzero(inside)
    chosen = rng.choice(where, min(len(where), 3 * truth.max()), replace=False)
    spots.flat[chosen] = rng.uniform(0.3, 0.7, len(chosen)) * 2 * np.pi * sigma**2
    spots = ndi.gaussian_filter(spots, sigma) * brightness[truth]
    signal = 0.04 + body * (1 + 0.2 * grain / grain.std()) + spots * inside
    signal = ndi.gaussian_filter(signal, max(1.0, radius / 12))
    scale = noise**2
    signal = rng.poisson(np.clip(signal, 0, None) / scale) * scale
    return np.clip(signal + rng.normal(0.0, noise / 2, truth.shape), 0, None)


def anchor(mask, radius):
    """A plain scikit-image pipeline: opening, distance transform, peaks, watershed."""
    from skimage.morphology import disk

    opened = ndi.binary_opening(mask, disk(max(1, round(radius / 6))))
    distance = ndi.distance_transform_edt(opened)
    blobs, _ = ndi.label(opened)
    peaks = peak_local_max(distance, min_distance=max(1, round(radius / 2)), labels=blobs,
                           exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=opened)


def one(radius, density, contrast, noise, debris, seed, unpruned=False, profile="dome",
        elongation=1.0):
    image, truth = scene(radius, density, contrast, noise, debris, seed, profile, elongation)
    strokes = scribbles_from_truth((truth > 0).astype(np.uint8) + 1, 0.01, radius=3,
                                   seed=seed)
    rf = microlab.RandomForestSegmenter().fit(image, strokes, progress=False)
    proba = rf.predict_proba(image)
    scores = {
        "microlab": average_precision(truth, microlab.instances(proba)),
        "+ image": average_precision(truth, microlab.instances(proba, image=image)),
        "anchor": average_precision(truth, anchor(proba[1] > 0.5, radius)),
        "old defaults": average_precision(
            truth, microlab.instances(proba, min_size=16, denoise=0, core=None)),
    }
    if unpruned:  # the same forest settings with every feature kept (prune=False)
        whole = microlab.RandomForestSegmenter(prune=False).fit(image, strokes, progress=False)
        scores["unpruned"] = average_precision(truth, microlab.instances(
            whole.predict_proba(image)))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--radii", type=float, nargs="+", default=[5, 8, 12, 20, 30, 45])
    parser.add_argument("--profile", choices=["dome", "flat"], default="dome",
                        help="dome: the generator's nuclei, brightest in the middle; flat: "
                             "the same nuclei flat and textured, as adherent cells' nuclei")
    parser.add_argument("--elongation", type=float, default=1.0,
                        help="nuclei this many times taller than wide (same area)")
    parser.add_argument("--unpruned", action="store_true",
                        help="add microlab with a forest that keeps every feature (prune=False)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", FutureWarning)
    rows = []
    grid = itertools.product(args.radii, [0.3, 0.5], [1.0, 0.4], [0.05, 0.15], [False, True])
    for i, (radius, density, contrast, noise, debris) in enumerate(grid):
        for seed in range(args.seeds):
            scores = one(radius, density, contrast, noise, debris, 7919 * seed + i,
                         args.unpruned, args.profile, args.elongation)
            rows.append(((radius, debris), scores))
            print(f"r={radius:g} density={density} contrast={contrast} noise={noise} "
                  f"debris={debris} seed={seed}: "
                  + "  ".join(f"{k} {v:.3f}" for k, v in scores.items()), flush=True)
    methods = list(rows[0][1])
    print(f"\nAP@0.5 ({args.profile} nuclei, elongation {args.elongation:g}), mean over "
          "densities, contrasts, noise levels and seeds")
    print(f"{'radius':>7} {'debris':>7} " + " ".join(f"{m:>13}" for m in methods))
    for key in sorted({k for k, _ in rows}):
        chosen = [s for k, s in rows if k == key]
        print(f"{key[0]:>7g} {key[1]!s:>7} " + " ".join(
            f"{statistics.mean(s[m] for s in chosen):>13.3f}" for m in methods))
    for debris in (False, True):
        chosen = [s for k, s in rows if k[1] == debris]
        print(f"{'all':>7} {debris!s:>7} " + " ".join(
            f"{statistics.mean(s[m] for s in chosen):>13.3f}" for m in methods))


if __name__ == "__main__":
    main()
