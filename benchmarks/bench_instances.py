"""Instance accuracy: microlab.instances vs plain Otsu + connected components.

Task (issue 5): split touching nuclei. Data: ``microlab.data.synthetic.synthetic_nuclei``
with its defaults (touching ellipsoidal nuclei of radius 6-14 px, brightness 0.45-1, uneven
illumination, blur sigma 1 px, Poisson + Gaussian noise), seeded, with ground truth:

* 2D: ``--images`` images of 512 x 512 per run (about 250 nuclei each);
* 3D: ``--volumes`` stacks of 48 x 128 x 128 voxels, z step twice the pixel size
  (``spacing=(2, 1, 1)``, radius 5-10 µm), about 270 nuclei each.

Both methods get the same foreground: the image smoothed (Gaussian, sigma 0.5 px) and
thresholded at Otsu's level. Anchor: ``skimage.measure.label`` of that mask. Ours:
``microlab.instances(mask, spacing=...)`` with default parameters. Score: AP at IoU 0.5
(``microlab.measure.average_precision``: TP / (TP + FP + FN)), the mean over a run's images;
each run draws new images (other seeds); the figure is the median over runs. For reference,
``instances`` on the true foreground (``truth > 0``) shows what the split alone achieves.

With ``--real``: objects on **real nuclei** (issue 15). The real fluorescence images have no
truth, so their isolated nuclei are cut out with their own masks and packed touching into new
scenes (:mod:`real_nuclei`: osteosarcoma, BBBC022, BBBC038), at radii 5 to 30 px and 30 % /
50 % of the area covered. Strokes: 1 % of the true foreground and background (dabs of radius
3); the same forest probabilities (default ``RandomForestSegmenter``) go to
``microlab.instances(proba, image=image)`` (what the notebooks and the workbench do),
``microlab.instances(proba)`` and the plain scikit-image pipeline of
``bench_rf_instances.py`` (opening, distance transform, peaks at half the true radius,
watershed). AP@0.5 means per radius over the three sources, densities and seeds. With
``--overlap``, nuclei may lie over one another by up to that share of their area (crowded
tissue), their light adding up; with ``--spread F``, radii run from radius / F to radius × F
in one image; with ``--degrade``, the images get more noise, blur, uneven illumination or
nuclei of uneven brightness (:func:`real_nuclei.degrade`). Each run also counts the nuclei the
forest's objects missed and the workbench's hint of doubtful places
(:func:`microlab.postprocess.doubtful_objects`) on them and elsewhere; ``+ hint`` is the
``+ image`` column after a user follows the hint (one dab of the true class in each place,
the forest trained again).

Usage::

    python benchmarks/bench_instances.py [--runs 3] [--images 4] [--volumes 2]
    python benchmarks/bench_instances.py --real [--seeds 2] [--radii 5 8 12 20 30]
        [--overlap 0.15] [--spread 1.6] [--degrade noise|blur|illumination|dim]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import label

import microlab
from microlab.data.real_nuclei import DEGRADATIONS
from microlab.data.synthetic import synthetic_nuclei
from microlab.measure import average_precision

TARGETS = {"2D": 0.90, "3D": 0.85}


def foreground(image: np.ndarray) -> np.ndarray:
    smooth = ndi.gaussian_filter(image.astype(np.float32), 0.5)
    return smooth > threshold_otsu(smooth)


def one_run(run: int, n_images: int, n_volumes: int) -> dict[str, dict[str, float]]:
    sets = {
        "2D": [dict(shape=(512, 512), seed=1000 * run + i) for i in range(n_images)],
        "3D": [
            dict(shape=(48, 128, 128), radius=(5, 10), spacing=(2, 1, 1),
                 seed=1000 * run + 500 + i)
            for i in range(n_volumes)
        ],
    }
    result = {}
    for dim, configs in sets.items():
        scores: dict[str, list[float]] = {"ours": [], "anchor": [], "true_mask": [],
                                          "ours_s": [], "anchor_s": []}
        for config in configs:
            image, truth = synthetic_nuclei(**config)
            spacing = config.get("spacing")
            mask = foreground(image)
            t0 = time.perf_counter()
            ours = microlab.instances(mask, spacing=spacing)
            t1 = time.perf_counter()
            anchor = label(mask)
            t2 = time.perf_counter()
            scores["ours"].append(average_precision(truth, ours))
            scores["anchor"].append(average_precision(truth, anchor))
            scores["true_mask"].append(
                average_precision(truth, microlab.instances(truth > 0, spacing=spacing))
            )
            scores["ours_s"].append(t1 - t0)
            scores["anchor_s"].append(t2 - t1)
        result[dim] = {k: float(np.mean(v)) for k, v in scores.items()}
    return result


def real(radii, seeds: int, overlap: float = 0.0, spread=None, degradation=None) -> None:
    """AP@0.5 of the forest's objects on scenes of real nuclei (see the module's text)."""
    import itertools
    import warnings

    from bench_rf_instances import anchor
    from real_nuclei import collage, degrade, isolated_nuclei, sources

    from microlab.labels import scribbles_from_truth

    warnings.simplefilter("ignore", FutureWarning)
    found = {name: isolated_nuclei(image) for name, image in sources().items()}
    for name, (nuclei, _, _) in found.items():
        print(f"{name}: {len(nuclei)} isolated nuclei, radius "
              f"{np.median([r for *_, r in nuclei]):.1f} px")
    rows, totals = [], {}
    for (name, (nuclei, level, noise)), radius, density, seed in itertools.product(
            found.items(), radii, [0.3, 0.5], range(seeds)):
        size = int(np.clip(24 * radius, 256, 768))
        image, truth = collage(nuclei, level, noise, radius, density, size,
                               1000 * seed + int(10 * radius + 100 * density), overlap,
                               spread)
        if degradation is not None:
            image = degrade(degradation, image, truth, level, noise, radius, seed)
        strokes = scribbles_from_truth((truth > 0).astype(np.uint8) + 1, 0.01, radius=3,
                                       seed=seed)
        rf = microlab.RandomForestSegmenter().fit(image, strokes, progress=False)
        proba = rf.predict_proba(image)
        objects = microlab.instances(proba, image=image)
        hints, places = doubtful_places(truth, objects, proba)
        for key, value in hints.items():
            totals[key] = totals.get(key, 0) + value
        scores = {
            "+ image": average_precision(truth, objects),
            "+ hint": average_precision(truth, after_hint(image, truth, strokes, places,
                                                          objects)),
            "microlab": average_precision(truth, microlab.instances(proba)),
            "anchor": average_precision(truth, anchor(proba[1] > 0.5, radius)),
        }
        rows.append((radius, scores))
        print(f"{name} r={radius:g} density={density} seed={seed} ({truth.max()} nuclei): "
              + "  ".join(f"{k} {v:.3f}" for k, v in scores.items())
              + f"  (missed {hints['missed']}, doubtful places on them {hints['on missed']}, "
              f"outside nuclei {hints['elsewhere']})", flush=True)
    methods = list(rows[0][1])
    sizes = "±15 %" if spread is None else f"÷/× {spread:g}"
    if degradation is not None:
        sizes += f"; degraded: {degradation}"
    print(f"\nAP@0.5 on real nuclei packed touching (overlapping by up to {overlap:.0%}, "
          f"radii {sizes}), "
          "mean over sources, densities and seeds")
    print(f"{'radius':>7} " + " ".join(f"{m:>10}" for m in methods))
    for radius in radii:
        chosen = [s for r, s in rows if r == radius]
        print(f"{radius:>7g} " + " ".join(
            f"{statistics.mean(s[m] for s in chosen):>10.3f}" for m in methods))
    print(f"{'all':>7} " + " ".join(
        f"{statistics.mean(s[m] for _, s in rows):>10.3f}" for m in methods))
    print(f"\nnuclei missed (under half covered by the '+ image' objects): {totals['missed']}; "
          f"the workbench's doubtful places (microlab.postprocess.doubtful_objects): "
          f"{totals['on missed']} on missed nuclei, {totals['elsewhere']} outside every "
          "nucleus; '+ hint': the forest trained again with one dab of the true class in "
          "each place")


def doubtful_places(truth, objects, proba) -> dict[str, int]:
    """Missed nuclei (under half covered by ``objects``), and the doubtful places
    (:func:`microlab.postprocess.doubtful_objects`, as the workbench's hint finds them) that
    lie mostly on one of them or mostly outside every nucleus."""
    from microlab.postprocess import doubtful_objects

    ids = np.arange(1, truth.max() + 1)
    missed = set(ids[ndi.mean(objects > 0, truth, ids) < 0.5].tolist())
    places = doubtful_objects(microlab.uncertainty(proba), objects,
                              where=proba.argmax(0) != 1)
    on_missed = elsewhere = 0
    for k in range(1, places.max() + 1):
        under = truth[places == k]
        nuclei = under[under > 0]
        if nuclei.size and int(np.bincount(nuclei).argmax()) in missed:
            on_missed += 1
        elif nuclei.size < 0.3 * under.size:
            elsewhere += 1
    return {"missed": len(missed), "on missed": on_missed, "elsewhere": elsewhere}, places


def after_hint(image, truth, strokes, places, objects):
    """The ``+ image`` objects after a user follows the hint: one dab (radius 3) of the true
    class at the middle of each doubtful place, the forest trained again."""
    if not places.any():
        return objects
    from skimage.draw import disk

    from microlab.postprocess._doubtful import _middles  # as the workbench's hint finds them

    strokes = strokes.copy()
    for middle, _ in _middles(places):
        dab = disk(middle, 3, shape=strokes.shape)
        strokes[dab] = np.where(truth[dab] > 0, 2, 1)  # strokes: 1 background, 2 nuclei
    proba = microlab.RandomForestSegmenter().fit(image, strokes, progress=False).predict_proba(
        image)
    return microlab.instances(proba, image=image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", action="store_true",
                        help="the forest's objects on scenes of real nuclei (no 3D)")
    parser.add_argument("--seeds", type=int, default=2, help="with --real: seeds per scene")
    parser.add_argument("--radii", type=float, nargs="+", default=[5, 8, 12, 20, 30],
                        help="with --real: nuclei radii in pixels")
    parser.add_argument("--overlap", type=float, default=0.0,
                        help="with --real: the share of a nucleus that may lie over others")
    parser.add_argument("--spread", type=float, default=None,
                        help="with --real: radii from radius / spread to radius * spread in "
                             "one image (default: ±15 %%)")
    parser.add_argument("--degrade", choices=DEGRADATIONS,
                        default=None, help="with --real: make the images harder (see "
                        "real_nuclei.degrade)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=4, help="2D images per run")
    parser.add_argument("--volumes", type=int, default=2, help="3D stacks per run")
    args = parser.parse_args()
    if args.real:
        real(args.radii, args.seeds, args.overlap, args.spread, args.degrade)
        return
    runs = []
    for run in range(args.runs):
        runs.append(one_run(run, args.images, args.volumes))
        line = "  ".join(
            f"{dim}: ours {r['ours']:.3f} anchor {r['anchor']:.3f}" for dim, r in runs[-1].items()
        )
        print(f"run {run + 1}/{args.runs}  {line}", flush=True)
    print()
    print(f"{'':4} {'AP@0.5 ours':>12} {'anchor':>8} {'target':>7} {'met':>4} "
          f"{'(true mask)':>12} {'s/image ours':>13} {'anchor':>7}")
    for dim, target in TARGETS.items():
        med = {k: statistics.median(r[dim][k] for r in runs) for k in runs[0][dim]}
        met = "yes" if med["ours"] >= target else "NO"
        print(f"{dim:4} {med['ours']:12.3f} {med['anchor']:8.3f} {target:7.2f} {met:>4} "
              f"{med['true_mask']:12.3f} {med['ours_s']:13.3f} {med['anchor_s']:7.3f}")
    print(f"\nmedian of {args.runs} runs; each run {args.images} 2D images and "
          f"{args.volumes} 3D stacks with new seeds")


if __name__ == "__main__":
    main()
