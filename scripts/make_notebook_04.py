"""Write notebooks/04_unet_transfer_learning.ipynb (then run: python scripts/nb.py run ...)."""

from pathlib import Path

from nb import build

ROOT = Path(__file__).resolve().parents[1]

CELLS = [
    r'''md:
# 04 · A U-Net from the same scribbles: transfer learning, uncertainty, instances

The *deep learning* tier of the ZEISS application note. The same 1 % sandstone scribbles as
notebook 02 train a U-Net (segmentation-models-pytorch, trained by PyTorch Lightning) that

1. ignores unlabelled pixels in its loss (partial annotations),
2. starts from **pretrained weights shipped with microlab** (made by
   `python -m microlab.deep.pretrain` from generated micrographs and real images; nothing is
   downloaded),
3. is compared side by side with the Random Forest, and with a random initialisation given the
   same time,
4. shows where it is unsure, so the next strokes go there, and continues training from its
   current weights,
5. separates touching nuclei in *instance* mode (background / boundary / interior).

Everything runs on a laptop CPU. `MINUTES` is the training budget of each fit; CI runs this
notebook with a tiny budget, so its scores there are low. The committed outputs used 1 minute
(`benchmarks/bench_unet.py` gives the full-budget figures).
''',
    r'''%config InlineBackend.figure_formats = ["jpeg"]
import os
import time

import matplotlib.pyplot as plt
import numpy as np

import microlab
from microlab.deep import UNetSegmenter
from microlab.measure import class_iou, mean_iou

plt.rcParams["figure.dpi"] = 60
MINUTES = float(os.environ.get("MICROLAB_TUTORIAL_MINUTES", 1))
CLASSES = microlab.data.SANDSTONE_CLASSES
COLORS = ["#%02x%02x%02x" % c for c in microlab.data.SANDSTONE_COLOURS]
train_image, train_truth = microlab.data.sandstone(0)
test_image, test_truth = microlab.data.sandstone(2)
scribbles = microlab.labels.scribbles_from_truth(train_truth, fraction=0.01, radius=3, seed=0)
print(f"budget per fit: {MINUTES} min; labelled pixels: {np.mean(scribbles > 0):.2%}")''',
    r'''md:
## 1 · What the network sees: augmented patches

Training draws random patches centred on labelled pixels (each class equally often, so the rare
green and yellow strokes count) and augments them on the fly with kornia. Image and scribbles
move together; labels are resampled by nearest neighbour and anything brought in from outside
stays *unlabelled* — never invented. The default is flips plus mild brightness/contrast;
`make_augmenter(heavy=True)` adds rotation by any angle, zoom, anisotropic stretch, elastic
deformation, gamma, noise and blur (shown here).
''',
    r'''microlab.deep.show_augmentations(train_image, scribbles, n=6, colors=COLORS, heavy=True);''',
    r'''md:
## 2 · Fine-tune the pretrained U-Net

`UNetSegmenter(pretrained=True)` is the default: encoder, decoder and the head's first layer come
from the shipped weights, the last layer is new for our 4 classes. `plot=True` draws the loss
and the held-out validation curves while it trains (about 12 % of the strokes, in 16-pixel
blocks, are held out; training stops early when their loss stops improving, and `max_minutes`
stops it cleanly).
''',
    r'''unet = UNetSegmenter(CLASSES, colors=COLORS, max_minutes=MINUTES, progress=False, seed=0)
start = time.perf_counter()
unet.fit(train_image, scribbles, plot=True)
print(f"trained in {time.perf_counter() - start:.0f} s:", unet.fit_info)''',
    r'''md:
## 3 · Side by side with the Random Forest

The Random Forest of notebook 02 on the same scribbles, both predicting a slice neither saw.
''',
    r'''rf = microlab.RandomForestSegmenter(classes=CLASSES, colors=COLORS).fit(train_image, scribbles)
predictions = {"Random Forest": rf.predict(test_image), "U-Net (pretrained)": unet.predict(test_image)}
fig, axes = plt.subplots(1, 3, figsize=(15, 5))
microlab.viz.show_prediction(test_image.data, test_truth, classes=CLASSES, colors=COLORS,
                             title="ground truth", ax=axes[0])
for ax, (name, prediction) in zip(axes[1:], predictions.items(), strict=True):
    ious = class_iou(prediction, test_truth, classes=4)
    microlab.viz.show_prediction(test_image.data, prediction, classes=CLASSES, colors=COLORS,
                                 title=f"{name}: mean IoU {np.mean(ious):.3f}", ax=ax)
    print(f"{name:>20}: " + ", ".join(f"{c} {v:.3f}" for c, v in zip(CLASSES, ious, strict=True)))''',
    r'''md:
## 4 · Pretrained vs random initialisation, same budget

Transfer learning is the point of shipping weights: with the same strokes and the same time,
the network that starts from pretrained weights should be ahead. (`benchmarks/bench_unet.py`
measures this over several runs and all eight test slices.)
''',
    r'''scratch = UNetSegmenter(CLASSES, colors=COLORS, pretrained=False, max_minutes=MINUTES,
                        progress=False, seed=0).fit(train_image, scribbles)
scores = {"random init": mean_iou(scratch.predict(test_image), test_truth, classes=4),
          "pretrained": mean_iou(predictions["U-Net (pretrained)"], test_truth, classes=4)}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
axes[0].bar(list(scores), list(scores.values()), color=["#9e9e9e", "#1f77b4"])
axes[0].set_ylim(0, 1); axes[0].set_ylabel("mean IoU"); axes[0].set_title(f"{MINUTES} min each")
for name, model in (("random init", scratch), ("pretrained", unet)):
    loss = np.asarray(model.history["train_loss"])
    w = max(1, min(10, len(loss)))  # moving average over 10 steps
    axes[1].plot(model.history["step"][w - 1 :], np.convolve(loss, np.ones(w) / w, "valid"), label=name)
axes[1].set_xlabel("step"); axes[1].set_ylabel("training loss"); axes[1].set_yscale("log"); axes[1].legend()
print({k: round(v, 3) for k, v in scores.items()})''',
    r'''md:
## 5 · Where is it unsure? Annotate there, continue training

`microlab.uncertainty` turns probabilities into a per-pixel uncertainty (1 − margin between the
two most likely classes); `microlab.worst_regions` ranks tiles across all images — the places to
paint next. Here the "person" adds strokes from the ground truth in the three worst tiles of the
training slice, and `fit` continues from the current weights (fine-tuning, not from scratch).
''',
    r'''proba = unet.predict_proba(test_image)
regions = microlab.worst_regions(unet, [train_image], n=3, size=128)
fig, axes = plt.subplots(1, 2, figsize=(10, 5))
axes[0].imshow(microlab.uncertainty(proba), cmap="magma"); axes[0].set_title("uncertainty (test slice)")
axes[1].imshow(microlab.uncertainty(unet.predict_proba(train_image)), cmap="magma")
for _, (ys, xs), _ in regions:
    axes[1].add_patch(plt.Rectangle((xs.start, ys.start), xs.stop - xs.start, ys.stop - ys.start,
                                    fill=False, ec="cyan", lw=2))
axes[1].set_title("training slice: 3 regions to annotate next")
for ax in axes:
    ax.axis("off")
more = scribbles.copy()
extra = microlab.labels.scribbles_from_truth(train_truth, fraction=0.05, radius=3, seed=1)
for _, window, _ in regions:
    more[window] = np.where(more[window] > 0, more[window], extra[window])
before = mean_iou(unet.predict(test_image), test_truth, classes=4)
unet.max_minutes = MINUTES / 2
unet.fit(train_image, more)
print(f"added {np.sum(more > 0) - np.sum(scribbles > 0)} labelled pixels; test mean IoU "
      f"{before:.3f} -> {mean_iou(unet.predict(test_image), test_truth, classes=4):.3f}")''',
    r'''md:
## 6 · Instance mode: touching nuclei

For objects, annotations become three classes — background, boundary, interior — with
`microlab.labels.boundary_labels` (a configurable boundary width). A few painted objects and
some background are enough (`instance_annotations`); `predict_instances` runs a watershed from
the interior seeds. The instance model starts from the pretraining's own nuclei outputs.
''',
    r'''image, objects = microlab.data.synthetic_nuclei((256, 256), seed=3)
painted = np.where(np.isin(objects, np.arange(1, objects.max() + 1, 3)), objects, 0)  # a third of them
background = np.zeros(objects.shape, bool)
background[::16] = objects[::16] == 0
annotations = microlab.labels.instance_annotations(painted, background, width=2)
nuclei = UNetSegmenter(mode="instance", max_minutes=MINUTES / 2, progress=False).fit(image, annotations)
found = nuclei.predict_instances(image, min_size=15)
ap = microlab.measure.average_precision(objects, found, iou=0.5)
fig, axes = plt.subplots(1, 4, figsize=(16, 4))
axes[0].imshow(image, cmap="gray"); axes[0].set_title("synthetic nuclei")
axes[1].imshow(microlab.labels.boundary_labels(objects, width=2), cmap="viridis")
axes[1].set_title("boundary_labels: background / boundary / interior")
axes[2].imshow(annotations, cmap="viridis", interpolation="nearest"); axes[2].set_title("sparse annotations")
microlab.viz.overlay(image, found, title=f"{found.max()} objects, AP@0.5 {ap:.2f}", ax=axes[3])
for ax in axes:
    ax.axis("off")''',
    r'''md:
## 7 · Save, load, segment anything big

A model is one safetensors file (weights + JSON configuration, no pickle); `load_segmenter`
reads any microlab model. For images larger than memory see notebook 05
(`microlab.predict_tiled`).
''',
    r'''import tempfile

with tempfile.TemporaryDirectory() as folder:
    unet.save(f"{folder}/sandstone-unet.safetensors")
    again = microlab.load_segmenter(f"{folder}/sandstone-unet.safetensors")
    print(again, np.array_equal(again.predict(test_image), unet.predict(test_image)))''',
]

if __name__ == "__main__":
    build(ROOT / "notebooks" / "04_unet_transfer_learning.ipynb", CELLS)
