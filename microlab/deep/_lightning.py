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


class InputSkipHead(torch.nn.Module):
    """Segmentation head that also sees the input image at full resolution.

    smp's U-Net decoder has no skip connection at full resolution (its finest skip is at
    half resolution), so fine, per-pixel intensity detail reaches the head only through an
    upsampling. This head concatenates the decoder's output with the input image and
    applies two 3×3 convolutions, giving the last layers the full-resolution pixels.
    """

    def __init__(self, decoder_channels: int, in_channels: int, classes: int, hidden: int = 16):
        super().__init__()
        self.refine = torch.nn.Sequential(
            torch.nn.Conv2d(decoder_channels + in_channels, hidden, 3, padding=1, bias=False),
            torch.nn.BatchNorm2d(hidden),
            torch.nn.ReLU(inplace=True),
        )
        self.classify = torch.nn.Conv2d(hidden, classes, 3, padding=1)

    def forward(self, decoded, image):
        return self.classify(self.refine(torch.cat([decoded, image], 1)))


class UNet(torch.nn.Module):
    """An smp ``Unet`` (encoder + decoder) with an :class:`InputSkipHead` (or smp's own head)."""

    def __init__(self, unet, head=None):
        super().__init__()
        self.encoder = unet.encoder
        self.decoder = unet.decoder
        self.head = head
        self.segmentation_head = unet.segmentation_head if head is None else None

    def forward(self, x):
        decoded = self.decoder(self.encoder(x))
        if self.head is None:
            return self.segmentation_head(decoded)
        return self.head(decoded, x)


def build_network(encoder: str, width: float, in_channels: int, classes: int,
                  input_skip: bool = True):
    """A U-Net from smp with ``encoder``, decoder channels scaled by ``width``.

    ``input_skip``: replace smp's head by :class:`InputSkipHead` (full-resolution input
    skip connection).
    """
    import segmentation_models_pytorch as smp

    decoder = tuple(max(4, round(c * width)) for c in DECODER_CHANNELS)
    unet = smp.Unet(
        encoder_name=encoder,
        encoder_weights=None,  # never download: pretrained weights come from a local file
        in_channels=in_channels,
        classes=classes,
        decoder_channels=decoder,
    )
    head = InputSkipHead(decoder[-1], in_channels, classes) if input_skip else None
    return UNet(unet, head)


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


def inference_network(network):
    """A copy of ``network`` for prediction only: batch norms folded into the convolutions
    (torch.fx), channels-last memory layout. About twice as fast on a CPU; same outputs to
    float rounding.
    """
    fast = copy.deepcopy(network).eval()
    try:
        from torch.fx.experimental.optimization import fuse

        fast = fuse(fast)
    except Exception:  # an untraceable encoder: keep the unfused copy
        warnings.warn("could not fold batch norms for faster prediction; using the network "
                      "as it is", stacklevel=2)
    return fast.to(memory_format=torch.channels_last)


def spread_input(value, shape):
    """Fit a layer pretrained on 1 input channel to ``shape`` (its input channels differ).

    The layer's input is ``[features…, image]`` with one image channel last (the encoder's
    first convolution has no features; the input-skip head has the decoder's). The image
    weights are shared equally over the new image channels, so a grey image copied into
    every channel gives the pretrained response. None when the shapes do not fit that way.
    """
    if value.ndim != len(shape) or value.ndim < 2 or value.shape[0] != shape[0] \
            or value.shape[2:] != tuple(shape[2:]):
        return None
    features = value.shape[1] - 1
    channels = shape[1] - features
    if channels < 1:
        return None
    image = value[:, features:].repeat(1, channels, *([1] * (value.ndim - 2))) / channels
    return torch.cat([value[:, :features], image], 1)


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


class CosineSchedule(L.Callback):
    """Learning rate: short linear warm-up, then cosine decay to 2 % over the budget.

    The budget is whichever ends first of ``max_steps`` and ``max_seconds`` (a time budget:
    the schedule follows the clock, so a ``max_minutes`` run anneals fully by its end).
    Annealing matters for short trainings: the last, small steps settle the weights.
    """

    def __init__(self, base_lr: float, max_steps: int | None, max_seconds: float | None,
                 warmup: int = 50):
        import time

        self.base_lr = base_lr
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.warmup = warmup
        self._clock = time.perf_counter
        self._start = None

    def progress(self, step: int) -> float:
        done = 0.0
        if self.max_steps:
            done = step / self.max_steps
        if self.max_seconds and self._start is not None:
            done = max(done, (self._clock() - self._start) / self.max_seconds)
        return min(1.0, done)

    def rate(self, step: int) -> float:
        scale = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * self.progress(step)))
        if step < self.warmup:
            scale *= (step + 1) / self.warmup
        return self.base_lr * scale

    def on_train_start(self, trainer, module) -> None:
        self._start = self._clock()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        rate = self.rate(trainer.global_step)
        for optimiser in trainer.optimizers:
            for group in optimiser.param_groups:
                group["lr"] = rate


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
