"""Training pieces for the U-Net: network factory, LightningModule, LightningDataModule.

Imports torch and lightning at module level: only :mod:`microlab.deep.unet` imports this,
and only inside the methods that need it.
"""

from __future__ import annotations

import copy
import math
import warnings

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

IGNORE = -1
DECODER_CHANNELS = (256, 128, 64, 32, 16)


def build_network(encoder: str, width: float, in_channels: int, classes: int):
    """One smp factory call: a U-Net with ``encoder``, decoder channels scaled by ``width``."""
    import segmentation_models_pytorch as smp

    decoder = tuple(max(4, round(c * width)) for c in DECODER_CHANNELS)
    return smp.Unet(
        encoder_name=encoder,
        encoder_weights=None,  # never download: pretrained weights come from a local file
        in_channels=in_channels,
        classes=classes,
        decoder_channels=decoder,
    )


def adapt_state(state: dict, target: dict) -> dict:
    """Fit 3-channel (ImageNet) first-layer weights to another number of input channels."""
    out = {}
    for key, value in state.items():
        want = target.get(key)
        if (
            want is not None
            and value.ndim == 4
            and want.ndim == 4
            and value.shape[0] == want.shape[0]
            and value.shape[2:] == want.shape[2:]
            and value.shape[1] != want.shape[1]
        ):
            n = want.shape[1]
            index = torch.arange(n) % value.shape[1]
            value = value.sum(1, keepdim=True) if n == 1 else value[:, index] * (3.0 / n)
        out[key] = value
    return out


def sparse_loss(logits, labels, weight=None):
    """Cross-entropy over labelled pixels only (labels 0 = unlabelled → ignored).

    ``labels`` hold 0..C; they are shifted to 0..C-1 with 0 → ``ignore_index``, so an
    unlabelled pixel contributes neither to the loss nor to the gradient.
    """
    target = labels.long() - 1
    if not (target != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE)


class SegmentationModule(L.LightningModule):
    """The U-Net, its sparse weighted loss, pixel accuracy and the AdamW optimiser."""

    def __init__(self, network, class_weights, learning_rate: float):
        super().__init__()
        from torchmetrics.classification import MulticlassAccuracy

        self.network = network
        self.register_buffer("class_weights", torch.as_tensor(class_weights, dtype=torch.float32))
        self.learning_rate = learning_rate
        n = len(class_weights)
        self.train_accuracy = MulticlassAccuracy(n, average="micro", ignore_index=IGNORE)
        self.val_accuracy = MulticlassAccuracy(n, average="micro", ignore_index=IGNORE)

    def forward(self, x):
        return self.network(x)

    def _step(self, batch, accuracy, stage):
        x, y = batch
        logits = self(x)
        y = y[:, 0]
        loss = sparse_loss(logits, y, self.class_weights)
        accuracy(logits.argmax(1), y.long() - 1)
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=stage == "train", on_epoch=True)
        self.log(f"{stage}_acc", accuracy, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, self.train_accuracy, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, self.val_accuracy, "val")

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.learning_rate, weight_decay=1e-4)


class PatchSampler(torch.utils.data.Dataset):
    """Random training patches centred on labelled pixels.

    ``balanced=True``: each sample picks a class uniformly among the classes present, then a
    labelled pixel of that class (rare classes over-sampled). ``balanced=False``: a labelled
    pixel uniformly (classes as often as they are annotated). The centre is jittered by up
    to a quarter patch. Images are padded by mirroring and labels by 0, so images smaller
    than a patch work.
    """

    def __init__(self, images, labels, size: int, length: int, seed, balanced: bool = True):
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
                self.where.setdefault(int(k), []).append(np.hstack([index, coords]))
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
                from .unet import _ignore_library_noise

                _ignore_library_noise()
                self.augmenter.to(x.device)
                x, y = self.augmenter(x, y)
            return x.contiguous(), y.round().contiguous()
        return batch


class KeepBest(L.Callback):
    """Remember the weights with the lowest validation loss (in memory, no checkpoint files)."""

    def __init__(self):
        self.best = math.inf
        self.state = None

    def on_validation_epoch_end(self, trainer, module):
        value = trainer.callback_metrics.get("val_loss")
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in
                                        module.network.state_dict().items()})

    def restore(self, network) -> None:
        if self.state is not None:
            network.load_state_dict(self.state)


def class_weights(labels, n_classes: int) -> np.ndarray:
    """Loss weights ∝ 1/sqrt(frequency) of each class among the training pixels (mean 1)."""
    counts = np.zeros(n_classes, np.float64)
    for lab in labels:
        counts += np.bincount(lab.ravel(), minlength=n_classes + 1)[1 : n_classes + 1]
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = 1.0 / np.sqrt(counts[present] / counts[present].sum())
    weights[present] /= weights[present].mean()
    return weights.astype(np.float32)
