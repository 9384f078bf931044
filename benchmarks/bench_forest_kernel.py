"""Random Forest inference: the packed engine vs scikit-learn's predict_proba, 1 megapixel.

Task: ``predict_packed`` (``microlab.classic._forest_kernel``) gives the probabilities of
``RandomForestClassifier.predict_proba`` (within 1e-5, same most probable class) for a
feature-major stack ``(40, 1024, 1000)`` float32. Target for the forest
``RandomForestClassifier(n_estimators=50, max_depth=10, max_samples=0.05, n_jobs=-1)`` fitted
on 10 000 pixels x 40 features, 4 classes: <= 0.08 s on 2 cores and >= 4x faster than
scikit-learn (n_jobs=-1) in the same run. For information, how it scales: the
RandomForestSegmenter defaults (max_depth=12, max_samples=0.25, balanced classes) and 100
fully grown trees.

Data: the three bundled sandstone slices (plus one flipped) tiled into 1024 x 1000 pixels,
40 filter responses (Gaussian, Laplacian of Gaussian, gradient magnitude, Hessian and
structure tensor eigenvalues, differences of Gaussians at several scales), trained on 10 000
random pixels of the ground truth. Also a "noise" stack of independent uniform features
(no spatial structure; the engine's speed does not depend on it). Each timing is the
median of ``--runs`` runs, both sides in the same run.

Usage::

    python benchmarks/bench_forest_kernel.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage as ndi
from sklearn.ensemble import RandomForestClassifier

from microlab.classic._forest_kernel import pack_forest, predict_packed
from microlab.data import sandstone

CONFIGS = {
    "target: 50 trees, depth 10, 5 % samples": dict(
        n_estimators=50, max_depth=10, max_samples=0.05
    ),
    "segmenter defaults: 50, depth 12, 25 %": dict(
        n_estimators=50, max_depth=12, max_samples=0.25, class_weight="balanced"
    ),
    "100 trees, full depth, all samples": dict(n_estimators=100),
}


def sandstone_mosaic() -> tuple[np.ndarray, np.ndarray]:
    """The bundled slices tiled 2 x 2 (the first one flipped again), cropped to 1024 x 1000."""
    pairs = [sandstone(i) for i in range(3)]
    images = [image.data.astype(np.float32) for image, _ in pairs]
    truths = [truth for _, truth in pairs]
    image = np.block([[images[0], images[1]], [images[2], images[0][::-1]]])
    truth = np.block([[truths[0], truths[1]], [truths[2], truths[0][::-1]]])
    return image[:, :1000], truth[:, :1000]


def filter_bank(image: np.ndarray) -> np.ndarray:
    """40 float32 filter responses, feature-major (40, Y, X)."""
    out = []
    for s in (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0):
        out.append(ndi.gaussian_filter(image, s))
        if s > 0.3:
            out.append(ndi.gaussian_laplace(image, s))
            out.append(ndi.gaussian_gradient_magnitude(image, s))
            hyy = ndi.gaussian_filter(image, s, order=(2, 0))
            hxx = ndi.gaussian_filter(image, s, order=(0, 2))
            hxy = ndi.gaussian_filter(image, s, order=(1, 1))
            mean, root = (hyy + hxx) / 2, np.hypot((hyy - hxx) / 2, hxy)
            out += [mean + root, mean - root]
    for s in (1.0, 3.5, 5.0):
        out.append(ndi.gaussian_filter(image, s) - ndi.gaussian_filter(image, 1.6 * s))
    for s in (0.7, 1.6, 3.5):
        gy = ndi.gaussian_filter(image, s, order=(1, 0))
        gx = ndi.gaussian_filter(image, s, order=(0, 1))
        jyy, jxx = ndi.gaussian_filter(gy * gy, 2 * s), ndi.gaussian_filter(gx * gx, 2 * s)
        jxy = ndi.gaussian_filter(gx * gy, 2 * s)
        mean, root = (jyy + jxx) / 2, np.hypot((jyy - jxx) / 2, jxy)
        out += [mean + root, mean - root]
    return np.ascontiguousarray(np.stack(out[:40]), dtype=np.float32)


def timed(runs: int, fn, *args, **kwargs) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    image, truth = sandstone_mosaic()
    stacks = {"sandstone": (filter_bank(image), truth)}
    noise = rng.random((40, *truth.shape), dtype=np.float32)
    stacks["noise"] = (noise, 1 + (noise[0] > 0.5) + 2 * (noise[1] + noise[2] > 1))
    print(
        f"{'features':10} {'forest':40} {'nodes/tree':>10} {'depth':>5} {'sklearn s':>9} "
        f"{'packed s':>8} {'speed-up':>8} {'max |diff|':>10} argmax  target"
    )
    for data, (features, labels) in stacks.items():
        x = features.reshape(40, -1)
        pick = rng.choice(x.shape[1], 10_000, replace=False)
        for name, params in CONFIGS.items():
            forest = RandomForestClassifier(n_jobs=-1, random_state=0, **params)
            forest.fit(x[:, pick].T, labels.reshape(-1)[pick])
            trees = [e.tree_ for e in forest.estimators_]
            packed = pack_forest(forest)
            ours = predict_packed(packed, features)  # compiles (or loads numba's cache)
            theirs = forest.predict_proba(x.T).T.reshape(ours.shape)
            diff = float(np.abs(ours - theirs).max())
            same = bool(np.array_equal(ours.argmax(0), theirs.argmax(0)))
            t_ours = timed(args.runs, predict_packed, packed, features, out=ours)
            t_sk = timed(args.runs, forest.predict_proba, x.T)
            target = ""
            if data == "sandstone" and name.startswith("target"):
                met = t_ours <= 0.08 and t_sk / t_ours >= 4
                target = "yes" if met else "NO"
            print(
                f"{data:10} {name:40} {np.mean([t.node_count for t in trees]):10.0f} "
                f"{np.mean([t.max_depth for t in trees]):5.1f} {t_sk:9.3f} {t_ours:8.3f} "
                f"{t_sk / t_ours:7.1f}x {diff:10.1e} {'same' if same else 'DIFF':6}  {target}"
            )


if __name__ == "__main__":
    main()
