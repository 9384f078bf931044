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
3. does not learn alone: a Random Forest trained on the same strokes gives it, beside the
   image, its probabilities of each class (ilastik's *autocontext*); the network learns a
   correction of the forest's answer, and its own answer is averaged with the forest's
   (70 % forest by default),
4. is compared side by side with the Random Forest, and with a random initialisation given the
   same time,
5. shows where it is unsure, so the next strokes go there, and continues training from its
   current weights,
6. separates touching nuclei in *instance* mode (background / boundary / interior).

Everything runs on a laptop CPU. `MINUTES` is the training budget of each fit; CI runs this
notebook with a tiny budget, so its scores there are low. The committed outputs used 1 minute
(`benchmarks/bench_unet.py` gives the full-budget figures).

**What the committed run shows** (1 minute per fit on 2 CPUs; every number below is in the
outputs). On sandstone, grey-level phases and the forest's home ground, the U-Net and the
Random Forest are level on a test slice neither saw (mean IoU 0.838 vs 0.842), and `compare`,
scoring both on strokes they did not see, puts the U-Net ahead (0.79 vs 0.60, mostly on the
rare yellow phase). The shipped weights are not ahead of a random initialisation on sandstone
(0.838 vs 0.834, within what single runs spread by). Strokes added where the U-Net is unsure
raise it to 0.868. On touching, elongated nuclei, where shape is the cue, the instance U-Net
is ahead of both forests: trained 30 s from the shipped weights it scores AP@0.5 0.95
(AP@0.75 0.86) on a test image, from a random initialisation 0.91 (0.75), the forest in
instance mode 0.88 (0.71) and the forest + `microlab.instances` 0.80 (0.59). `compare`, with
a quarter of a minute per U-Net and half the strokes per fold, finds the two tiers on par on
the held-out nuclei (AP@0.5 0.79 vs 0.73, within the folds' spread) and so recommends the
faster forest there.

The full-budget figures are in `benchmarks/` (medians of several runs; `docs/benchmarks.md`):
on sandstone the U-Net reaches 0.899–0.900 mean IoU at 10 minutes against the forest's 0.892,
and its start weights make no measurable difference (+0.0001 at 3 minutes); on nuclei 2.5
times longer than wide, AP@0.5 / AP@0.75 0.923 / 0.818 after 1 minute against the forest +
`instances`' 0.799 / 0.596; on round nuclei of radius 6–12 px the two are level (1.000 / 0.991
against 1.000 / 0.989).

A word on time budgets: a 1-minute fit stops after however many steps fit in the minute, and
that depends on the machine. The first fit below made 99 steps; the same code made 286 on an
earlier day on the same kind of 2-CPU machine. The conclusions above held in both runs; single
figures moved by up to about 0.01 mean IoU and 0.04 AP between them.

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
from the shipped weights, the last layer is new for our 4 classes. `autocontext=True` is the
default too: `fit` first trains a Random Forest on the same strokes (seconds, counted in the
budget), and the network gets its four class probabilities as four more input channels. So
that the network does not learn to copy a forest that has seen the very pixels it is trained
on, those inputs are *out of fold*: each square of a checkerboard gets the probabilities of a
forest trained without the strokes in it. `plot=True` draws the loss and the held-out
validation curves while it trains (about 12 % of the strokes, in 16-pixel blocks, are held
out; training stops early when their loss stops improving, and `max_minutes` stops it
cleanly).
''',
    r'''unet = UNetSegmenter(CLASSES, colors=COLORS, max_minutes=MINUTES, progress=False, seed=0)
start = time.perf_counter()
unet.fit(train_image, scribbles, plot=True)
print(f"trained in {time.perf_counter() - start:.0f} s:", unet.fit_info)''',
    r'''md:
## 3 · Side by side with the Random Forest

The Random Forest of notebook 02 on the same scribbles, both predicting a slice neither saw.
In the committed run the two are level (mean IoU 0.838 for the U-Net, 0.842 for the forest):
the same on yellow and green, a little behind on red (0.940 vs 0.944) and on blue (0.828 vs
0.840). The network's own answer (`forest_weight = 0`) is lower (0.818): it learns a correction
of the forest from a few strokes, and the 70/30 average with the forest is what it predicts.
Grey levels and local texture separate these phases, and that is what the forest's filter bank
measures; the network adds the shapes around them.

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
    print(f"{name:>20}: " + ", ".join(f"{c} {v:.3f}" for c, v in zip(CLASSES, ious, strict=True)))
share, unet.forest_weight = unet.forest_weight, 0  # the network's own answer, without the forest
print(f"U-Net's network alone: mean IoU {mean_iou(unet.predict(test_image), test_truth, classes=4):.3f}")
unet.forest_weight = share  # back to the default, 70 % forest''',
    r'''md:
## 3b · One honest comparison: `microlab.compare`

A single test slice is one draw. `microlab.compare` asks the strokes themselves: it deals them
into spatial folds (blocks, with a gap so that neighbouring pixels do not leak), trains each
tier on all folds but one, scores it on the strokes it did not see, and ends with a plain
recommendation. The same call is the workbench's *Compare tiers* button. Small budgets here
(two folds, a quarter of the notebook's budget per U-Net fit) keep the notebook within the
course's five minutes.

In the committed run the held-out strokes put the U-Net ahead (0.79 vs 0.60): trained on half
the strokes, the forest loses most of the rare yellow phase (0.33) and the U-Net keeps it
(0.98). A fold of a few strokes is a harsher test than the slice above, and folds spread (here
± 0.12 on the difference; in ten earlier committed runs the U-Net was ahead nine times, 0.66 to
0.78 against 0.60, and on par once): read `compare`'s spread before its verdict.

''',
    r'''sandstone_comparison = microlab.compare(train_image, scribbles, classes=CLASSES, folds=2,
                                       minutes=MINUTES / 4, progress=False)
display(sandstone_comparison.table.round(3))
sandstone_comparison.plot()
print(sandstone_comparison.recommendation)''',
    r'''md:
## 4 · Pretrained vs random initialisation, same budget

Transfer learning is the point of shipping weights: with the same strokes and the same time,
the network that starts from pretrained weights should be ahead. On sandstone it is not,
beyond what single runs spread by: here the pretrained U-Net scores 0.838 and the randomly
initialised one 0.834 (over ten earlier committed runs the pretrained one was ahead four times
and behind six, never by more than 0.012; over three seeds `benchmarks/bench_unet.py` measured
+0.0001 at 3 minutes). With the forest's probabilities as input, the start weights matter
little on this micro-CT slice. Section 6 tries nuclei.

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
## 6 · Instance mode: touching, elongated nuclei

For objects, annotations become three classes — background, boundary, interior — with
`microlab.labels.boundary_labels` (a configurable boundary width). A few *whole* painted nuclei
and some background are enough (`instance_annotations`, which also labels the ring just
outside each painted nucleus as *background or boundary*: it is background, or the edge of a
touching nucleus nobody painted, and the loss accepts either there); `predict_instances` takes
each connected part of the predicted interior as one object's seed (divided only at a deep
neck, as where the interiors of two touching nuclei meet) and grows the seeds over the
foreground, the predicted boundary acting as a ridge between them. The instance model starts
from the pretraining's own nuclei outputs.

The nuclei here are those of adherent cells: elongated, lying side by side, touching along a
long edge where no neck shows in the foreground's shape. This is where the application note
expects deep learning to pay: the shape is the cue.

The Random Forest gets the same strokes twice: as classes (painted nuclei = class 1,
background and the rings = class 2), its foreground split by `microlab.instances` with the
image's help (`image=test`), as in notebook 03; and in its own instance mode, learning
background / boundary / interior from the U-Net's very annotations
(`RandomForestSegmenter(mode="instance")`, what the workbench's instance mode and
`microlab train --objects` train). All are scored on an image neither saw, and a randomly
initialised instance U-Net gets the same budget. Each instance U-Net keeps half of its start
weights after training (`keep_start=0.5`, the default in instance mode): on real
overlapping nuclei that raised AP@0.5 from 0.909 to 0.945 from the weights shipped then
(`docs/benchmarks.md`, session 35).

In the committed run the instance U-Nets, trained 30 s each, score AP@0.5 0.95 (AP@0.75 0.86)
from the shipped weights and 0.91 (0.75) from a random initialisation, which keeps half of its
random start too and has had only 30 s to move from it (single 30-s runs spread: the run on an
earlier day had 0.92 (0.79) against 0.87 (0.65)). The forest in instance mode scores 0.88
(0.71), and the forest given the same strokes *and* the rings, with the image guiding its
split, 0.80 (0.59).

`microlab.measure.object_errors` says why each nucleus was lost and `microlab.viz.show_errors`
draws it (green: matched; red: one object over two or more nuclei; orange: a piece; cyan: a
nucleus no object matches). The forest with the image finds 62 objects for 62 nuclei but loses 7
of them: 6 merged with a side-by-side neighbour, because nothing in its foreground's shape or
in the image's blobs marks where two elongated nuclei meet, and one misshapen; it also leaves
6 pieces. In instance mode the forest loses only one nucleus (merged), but leaves 7 pieces
cut off nuclei beside the objects it matched, each an extra object (AP counts them as false
positives, and AP@0.75 the nuclei they were cut from; before microlab merged touching pieces
that its predicted boundary does not divide, it left 11 and scored 0.84 (0.60)). The
pretrained U-Net, which has learnt what the boundary of two elongated nuclei looks like,
loses 2 nuclei (merged) and leaves 1 piece; the randomly initialised one, 2 and 4.
`benchmarks/bench_unet_nuclei.py` (medians of 3 runs, 2 unseen images each) measures
the same on nuclei 2.5 times longer than wide: the U-Net 0.923 / 0.818 after 1 minute, the
forest + `instances` 0.799 / 0.596. On round nuclei of radius 6–12 px the two are level at
AP@0.5 and the U-Net a little ahead at AP@0.75 (1.000 / 0.991 against the forest's 1.000 /
0.989 with the image, 0.991 / 0.980 without): there, telling a classifier where each painted
object ends matters about as much as the tier.

''',
    r'''# nuclei as adherent cells have them: 2.5 times longer than wide, side by side
# (drawn round on pixels 2.5 times wider than tall)
stretched = dict(spacing=(1 / 2.5**0.5, 2.5**0.5))
image, objects = microlab.data.synthetic_nuclei((256, 256), seed=3, **stretched)
test, test_objects = microlab.data.synthetic_nuclei((256, 256), seed=4, **stretched)
painted = np.where(np.isin(objects, np.arange(1, objects.max() + 1, 3)), objects, 0)  # a third of them
background = np.zeros(objects.shape, bool)
background[::16] = objects[::16] == 0
annotations = microlab.labels.instance_annotations(painted, background, width=2)
nuclei = UNetSegmenter(mode="instance", max_minutes=MINUTES / 2, progress=False, seed=0).fit(image, annotations)
scratch_nuclei = UNetSegmenter(mode="instance", max_minutes=MINUTES / 2, progress=False, seed=0,
                               pretrained=False).fit(image, annotations)
# the same strokes for the forest: painted nuclei = 1; background rows and the rings = 2
strokes = np.where(painted > 0, 1, np.where(np.isin(annotations, (1, 4)), 2, 0)).astype(np.uint8)
forest = microlab.RandomForestSegmenter(["nuclei", "background"]).fit(image, strokes, progress=False)
# the forest learning background / boundary / interior from the same annotations, as the
# workbench's instance mode and `microlab train --objects` train it
object_forest = microlab.RandomForestSegmenter(mode="instance").fit(image, annotations, progress=False)
found = {"Random Forest + instances": microlab.instances(forest.predict_proba(test), foreground=0,
                                                      image=test),
         "Random Forest, instance mode": object_forest.predict_instances(test),
         "U-Net, random init": scratch_nuclei.predict_instances(test),
         "U-Net, pretrained": nuclei.predict_instances(test)}
fig, axes = plt.subplots(2, 3, figsize=(15, 10.5))
axes[0, 0].imshow(annotations, cmap="viridis", interpolation="nearest")
axes[0, 0].set_title("annotations (training image)")
microlab.viz.overlay(test, test_objects, title=f"test image: {test_objects.max()} true nuclei", ax=axes[0, 1])
for ax, (name, labels) in zip(axes.flat[2:], found.items(), strict=True):
    ap50, ap75 = microlab.measure.average_precision(test_objects, labels, iou=[0.5, 0.75])
    why = microlab.measure.object_errors(test_objects, labels)  # what went wrong, object by object
    print(f"{name:29s} AP@0.5 {ap50:.2f}  AP@0.75 {ap75:.2f}  ({labels.max()} objects, {test_objects.max()} true)"
          f"  lost: merged {why['merged']}, missed {why['missed']}, split {why['split']}, misshapen {why['misshapen']};"
          f"  extra: pieces {why['fragments']}, spurious {why['spurious']}")
    # green: matched; red: one object over two or more nuclei; orange: a piece; cyan: a nucleus lost
    microlab.viz.show_errors(test, test_objects, labels, title=f"{name}\nAP@0.5 {ap50:.2f}, AP@0.75 {ap75:.2f}", ax=ax)
for ax in axes.flat:
    ax.axis("off")''',
    r'''md:
`compare` on the nuclei strokes, with `objects="nuclei"`: each painted nucleus in a held-out
fold is a true object, and the objects each tier finds there are scored (AP@0.5, with how many
held-out nuclei were merged with another or missed). In the committed run the two tiers are on
par on pixels (mean IoU 0.86 vs 0.86) and on the held-out nuclei too: the U-Net's objects score
AP@0.5 0.79 against the forest's 0.73, a difference within the fold-to-fold spread (± 0.05),
so `compare` recommends the faster forest. (A run on an earlier day, whose U-Net made nearly
three times as many steps in its quarter of a minute, had 0.85 against 0.73 and recommended the
U-Net; section 6's test image, with twice the budget and all the strokes, is the steadier
view.) Neither merges or misses a held-out nucleus; what lowers the APs is extra objects (a
piece cut off a nucleus, as on the test image above, or a nucleus nobody painted that a
held-out ring of the strokes crosses). Both APs are below section 6's: each fold's model learns
from half the strokes, and with only the few nuclei held out scored, each extra object weighs
much. An object nobody painted whose edge merely touches a held-out stroke is not counted
against a tier (only strokes that reach an object's inner half make it count).

''',
    r'''nuclei_comparison = microlab.compare(image, strokes, classes=["nuclei", "background"],
                                    objects="nuclei", folds=2, minutes=MINUTES / 4, progress=False)
display(nuclei_comparison.table.round(3))
print(nuclei_comparison.recommendation)''',
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
