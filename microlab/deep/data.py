"""Training data: patches around labelled pixels, the validation hold-out, class weights,
the LightningDataModule, and the pretraining's task batches.

Imports torch and lightning at module level; of :mod:`microlab.deep` only
:mod:`~microlab.deep.runtime`.
"""

from __future__ import annotations

import warnings

import lightning as L
import numpy as np
import torch

from .runtime import ignore_library_noise

HOLDOUT_BLOCK = 16
"""Side of the blocks of labelled pixels held out together for validation."""
HOLDOUT_FRACTION = 0.12


class PatchSampler(torch.utils.data.Dataset):
    """Random training patches centred on labelled pixels.

    ``balanced=True``: each sample picks a class uniformly among the classes present, then a
    labelled pixel of that class (rare classes over-sampled). ``balanced=False``: a labelled
    pixel uniformly (classes as often as they are annotated); ``same`` maps a label to the
    class it is sampled with (instance mode: "background or boundary" with background). The
    centre is jittered by up
    to a quarter patch. Images are padded by mirroring and labels by 0, so images smaller
    than a patch work.

    Examples
    --------
    >>> labels = np.zeros((20, 20), np.int64); labels[5, 5], labels[15, 15] = 1, 2
    >>> x, y = PatchSampler([np.zeros((1, 20, 20), np.float32)], [labels], 32, 4, seed=0)[0]
    >>> tuple(x.shape), tuple(y.shape)
    ((1, 32, 32), (1, 32, 32))
    """

    def __init__(self, images, labels, size: int, length: int, seed, balanced: bool = True,
                 same: dict | None = None):
        self.size = size
        self.balanced = balanced
        self.length = length
        self.rng = np.random.default_rng(seed)
        pad = size // 2 + 1
        self.pad = pad
        self.images = [np.pad(im, ((0, 0), (pad, pad), (pad, pad)), mode="symmetric")
                       for im in images]
        self.labels = [np.pad(lab, pad).astype(np.float32) for lab in labels]
        self.where = {}
        for i, lab in enumerate(labels):
            for k in np.unique(lab[lab > 0]):
                coords = np.argwhere(lab == k).astype(np.int32)
                index = np.full((len(coords), 1), i, np.int32)
                group = (same or {}).get(int(k), int(k))
                self.where.setdefault(group, []).append(np.hstack([index, coords]))
        self.where = {k: np.concatenate(v) for k, v in self.where.items()}
        self.classes = sorted(self.where)
        self.all = (np.concatenate([self.where[k] for k in self.classes]) if self.classes
                    else np.zeros((0, 3), np.int32))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item):
        if self.balanced:
            k = self.classes[self.rng.integers(len(self.classes))]
            i, y, x = self.where[k][self.rng.integers(len(self.where[k]))]
        else:
            i, y, x = self.all[self.rng.integers(len(self.all))]
        jitter = self.rng.integers(-(self.size // 4), self.size // 4 + 1, 2)
        image, label = self.images[i], self.labels[i]
        cy = int(np.clip(y + self.pad + jitter[0], self.size // 2, image.shape[1] - self.size // 2))
        cx = int(np.clip(x + self.pad + jitter[1], self.size // 2, image.shape[2] - self.size // 2))
        top, left = cy - self.size // 2, cx - self.size // 2
        window = (slice(top, top + self.size), slice(left, left + self.size))
        patch = np.ascontiguousarray(image[(slice(None), *window)])
        return torch.from_numpy(patch), torch.from_numpy(label[window][None].copy())


def validation_patches(images, labels, size: int, count: int, seed) -> list:
    """Fixed patches around held-out pixels, for the validation loss (no augmentation)."""
    sampler = PatchSampler(images, labels, size, count, seed)
    return [sampler[i] for i in range(count)]


def hold_out(layers, rng, sources=None) -> tuple[list, list | None]:
    """Split labelled pixels into training and validation layers (validation: ~12 %).

    Whole 16-pixel blocks of labelled pixels are held out, so validation pixels are not
    neighbours of training pixels. Returns ``(layers, None)`` when that would leave fewer
    than 20 validation pixels or lose a class from training.

    ``sources`` (one layer per layer, default ``layers``) are the labels validation is
    drawn from: their labelled pixels choose the blocks held out and are the validation
    pixels, and nothing of ``layers`` in those blocks is trained on. Self-training passes
    the person's annotations here and the annotations with pseudo-labels added as
    ``layers``, so the network is scored on what the person said, and the same blocks are
    held out as when it trained on the person's annotations alone (the same ``rng`` state).

    Examples
    --------
    >>> layer = np.zeros((64, 64), np.int64); layer[::2, :32] = 1; layer[::2, 32:] = 2
    >>> train, val = hold_out([layer], np.random.default_rng(0))
    >>> bool((train[0] + val[0] == layer).all()), int((val[0] > 0).sum())  # 4 of 16 blocks
    (True, 512)
    >>> more = np.where(layer == 0, 1, layer)  # pseudo-labels fill the gaps
    >>> train2, val2 = hold_out([more], np.random.default_rng(0), sources=[layer])
    >>> bool((val2[0] == val[0]).all()), int(((train2[0] > 0) & (val[0] > 0)).sum())
    (True, 0)
    """
    sources = layers if sources is None else sources
    train, val = [], []
    for lab, source in zip(layers, sources, strict=True):
        by, bx = (np.arange(n) // HOLDOUT_BLOCK for n in lab.shape)
        block = by[:, None] * (bx.max() + 1) + bx[None, :]
        labelled = np.unique(block[source > 0])
        chosen = rng.random(labelled.size) < HOLDOUT_FRACTION
        blocks = np.isin(block, labelled[chosen])
        train.append(np.where(blocks, 0, lab))
        val.append(np.where(blocks & (source > 0), source, 0))
    kept = np.setdiff1d(np.concatenate([np.unique(t) for t in train]), [0])
    every = np.setdiff1d(np.concatenate([np.unique(t) for t in layers]), [0])
    total = sum(int((v > 0).sum()) for v in val)
    if total < 20 or not np.array_equal(kept, every):
        return layers, None
    return train, val


def class_weights(labels, n_classes: int) -> np.ndarray:
    """Loss weights ∝ 1/sqrt(frequency) of each class among the training pixels (mean 1).

    Examples
    --------
    >>> class_weights([np.array([0, 1, 1, 1, 1, 2])], 2).round(3).tolist()
    [0.667, 1.333]
    """
    counts = np.zeros(n_classes, np.float64)
    for lab in labels:
        counts += np.bincount(lab.ravel(), minlength=n_classes + 1)[1 : n_classes + 1]
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = 1.0 / np.sqrt(counts[present] / counts[present].sum())
    weights[present] /= weights[present].mean()
    return weights.astype(np.float32)


class PatchDataModule(L.LightningDataModule):
    """Training patches (augmented on the device, after transfer) and validation patches."""

    def __init__(self, train_set, val_set, batch_size: int, augmenter):
        super().__init__()
        self.train_set = train_set
        self.val_set = val_set
        self.batch_size = batch_size
        self.augmenter = augmenter

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.train_set, batch_size=self.batch_size)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(self.val_set or [], batch_size=self.batch_size)

    def on_after_batch_transfer(self, batch, dataloader_idx):
        if self.trainer is not None and self.trainer.training:
            x, y = batch
            with torch.no_grad(), warnings.catch_warnings():
                ignore_library_noise()
                self.augmenter.to(x.device)
                x, y = self.augmenter(x, y)
            return x.contiguous(), y.round().contiguous()
        return batch


class TaskBatches(torch.utils.data.IterableDataset):
    """Endless batches of augmented random crops, one task per batch in turn (pretraining).

    ``pool`` maps each task to ``(images (N, 1 + F, S, S) float32 in [0, 1], labels (N, S, S)
    1..n)``: the image, then ``F`` forest-probability channels (autocontext pretraining,
    one per class slot, or none); a batch is ``(images, labels, task index)``.
    Augmentation: a random 90° rotation, a horizontal flip, a gain of 0.8–1.2 and an offset
    of ±0.1 of the image (clipped to [0, 1]); with ``classes`` (``{task: n}``), the task's
    ``n`` classes are shuffled in each crop, in its labels and its first ``n`` forest
    channels alike, so the network learns to correct whatever class a channel holds.

    Examples
    --------
    >>> pool = {"a": (np.zeros((2, 1, 40, 40), np.float32), np.ones((2, 40, 40), np.int64))}
    >>> x, y, task = next(iter(TaskBatches(pool, size=32, batch=3, seed=0)))
    >>> tuple(x.shape), tuple(y.shape), task
    ((3, 1, 32, 32), (3, 32, 32), 0)
    """

    def __init__(self, pool: dict, size: int, batch: int, seed: int,
                 classes: dict | None = None):
        super().__init__()
        self.pool, self.size, self.batch = pool, size, batch
        self.tasks = list(pool)
        self.classes = classes
        self.rng = np.random.default_rng(seed + 2)

    def __iter__(self):
        step = 0
        while True:
            task = self.tasks[step % len(self.tasks)]
            images, labels = self.pool[task]
            xs, ys = [], []
            for _ in range(self.batch):
                i = int(self.rng.integers(len(images)))
                top, left = self.rng.integers(0, images.shape[-1] - self.size + 1, 2)
                window = (slice(top, top + self.size), slice(left, left + self.size))
                x, y = images[i][(slice(None), *window)], labels[i][window]
                k = int(self.rng.integers(4))
                x, y = np.rot90(x, k, (1, 2)), np.rot90(y, k)
                if self.rng.random() < 0.5:
                    x, y = x[:, :, ::-1], y[:, ::-1]
                x = np.array(x, np.float32)
                gain = self.rng.uniform(0.8, 1.2)
                x[0] = np.clip(x[0] * gain + self.rng.uniform(-0.1, 0.1), 0, 1)
                if self.classes is not None:
                    n = self.classes[task]
                    order = self.rng.permutation(n)  # class c goes to slot order[c]
                    x[1 + order] = x[1 : 1 + n].copy()
                    y = np.concatenate([[0], order + 1])[y]
                xs.append(x)
                ys.append(np.ascontiguousarray(y))
            yield (torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys)),
                   self.tasks.index(task))
            step += 1
