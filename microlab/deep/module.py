"""The LightningModules: loss, metrics, optimiser and the one learning-rate schedule.

:class:`SegmentationModule` trains a :class:`~microlab.deep.UNetSegmenter`'s network on
sparse labels; :class:`TaskModule` pretrains one network on several tasks at once
(:mod:`microlab.deep.pretrain`). Both optimise with AdamW under :class:`WarmupCosine`,
set up in :meth:`ScheduledModule.configure_optimizers`. Imports torch and lightning at
module level; imports no other part of :mod:`microlab.deep` (of microlab, only the
label convention of :mod:`microlab.labels.boundary`).
"""

from __future__ import annotations

import math
import time

import lightning as L
import torch
import torch.nn.functional as F

from ..labels.boundary import OUTSIDE

IGNORE = -1
"""Target value of unlabelled pixels in the loss (labels 0 shifted by one)."""
WEIGHT_DECAY = 1e-4


class WarmupCosine:
    """Learning-rate factor: a linear warm-up, then cosine decay to ``floor`` over the budget.

    ``schedule(step)`` is the factor of the peak rate at optimiser step ``step``, so it is
    a :class:`torch.optim.lr_scheduler.LambdaLR` lambda. The budget is whichever ends first
    of ``max_steps`` and ``max_seconds``: with a time budget the decay follows the clock
    (counted from :meth:`start`), so a ``max_minutes`` run anneals fully by its end.
    Annealing matters for short trainings: the last, small steps settle the weights.
    After the budget the factor stays at ``floor``.

    Parameters
    ----------
    max_steps : int, optional
        Steps of the decay.
    max_seconds : float, optional
        Seconds of the decay.
    warmup : int
        Steps of linear warm-up (0: none).
    floor : float
        Final factor.

    Examples
    --------
    >>> schedule = WarmupCosine(max_steps=100, warmup=10)
    >>> [round(schedule(s), 3) for s in (0, 9, 50, 100, 200)]
    [0.1, 0.981, 0.51, 0.02, 0.02]
    """

    def __init__(self, max_steps: int | None, max_seconds: float | None = None, *,
                 warmup: int = 50, floor: float = 0.02) -> None:
        self.max_steps = max_steps
        self.max_seconds = max_seconds
        self.warmup = warmup
        self.floor = floor
        self.clock = time.perf_counter
        self._start: float | None = None

    def start(self) -> None:
        """Start the clock of a time budget (at the start of training)."""
        self._start = self.clock()

    def progress(self, step: int) -> float:
        """Fraction of the budget spent at ``step`` (0 to 1)."""
        done = 0.0
        if self.max_steps:
            done = step / self.max_steps
        if self.max_seconds and self._start is not None:
            done = max(done, (self.clock() - self._start) / self.max_seconds)
        return min(1.0, done)

    def __call__(self, step: int) -> float:
        scale = self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * self.progress(step)))
        if step < self.warmup:
            scale *= (step + 1) / self.warmup
        return scale


def sparse_loss(logits, labels, weight=None):
    """Cross-entropy over labelled pixels only (labels 0 = unlabelled → ignored).

    ``labels`` hold 0..C; they are shifted to 0..C-1 with 0 → ``ignore_index``, so an
    unlabelled pixel contributes neither to the loss nor to the gradient. With 3 classes
    (instance mode), label :data:`OUTSIDE` (4) says "background or boundary": its loss is
    ``-log(p_background + p_boundary)``, weighted as background.

    Examples
    --------
    >>> logits = torch.zeros(1, 2, 1, 2)
    >>> round(float(sparse_loss(logits, torch.tensor([[[0, 2]]]))), 4)  # log 2
    0.6931
    >>> round(float(sparse_loss(torch.zeros(1, 3, 1, 1), torch.tensor([[[4]]]))), 4)  # log 1.5
    0.4055
    """
    target = labels.long() - 1
    outside = _outside(target, logits.shape[1])
    if outside.any():
        target = torch.where(outside, IGNORE, target)
        w = torch.ones(3, device=logits.device) if weight is None else weight
        log_p = torch.log_softmax(logits, dim=1)
        ce = F.nll_loss(log_p, target, weight=w, ignore_index=IGNORE, reduction="sum")
        total = w[target[target != IGNORE]].sum()
        partial = -torch.logsumexp(log_p[:, :2], dim=1)[outside]
        return (ce + w[0] * partial.sum()) / (total + w[0] * outside.sum())
    if not (target != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE)


def _outside(target, classes: int):
    """Where ``target`` (labels shifted by one) is :data:`OUTSIDE`, "background or
    boundary": a label of instance mode's 3 classes only."""
    if classes != 3:
        return torch.zeros_like(target, dtype=torch.bool)
    return target == OUTSIDE - 1


class ScheduledModule(L.LightningModule):
    """A network trained by AdamW at ``learning_rate`` × ``schedule(step)``."""

    def __init__(self, network, learning_rate: float, schedule: WarmupCosine) -> None:
        super().__init__()
        self.network = network
        self.learning_rate = learning_rate
        self.schedule = schedule

    def forward(self, x):
        return self.network(x)

    def configure_optimizers(self):
        optimiser = torch.optim.AdamW(self.parameters(), lr=self.learning_rate,
                                      weight_decay=WEIGHT_DECAY)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, self.schedule)
        return {"optimizer": optimiser,
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self) -> None:
        self.schedule.start()


class SegmentationModule(ScheduledModule):
    """The U-Net, its sparse class-weighted loss and pixel accuracy."""

    def __init__(self, network, class_weights, learning_rate: float,
                 schedule: WarmupCosine) -> None:
        super().__init__(network, learning_rate, schedule)
        from torchmetrics.classification import MulticlassAccuracy

        self.register_buffer("class_weights", torch.as_tensor(class_weights, dtype=torch.float32))
        n = len(class_weights)
        self.train_accuracy = MulticlassAccuracy(n, average="micro", ignore_index=IGNORE)
        self.val_accuracy = MulticlassAccuracy(n, average="micro", ignore_index=IGNORE)

    def _step(self, batch, accuracy, stage):
        x, y = batch
        logits = self(x)
        y = y[:, 0]
        loss = sparse_loss(logits, y, self.class_weights)
        target = y.long() - 1  # "background or boundary" is not one class to score
        accuracy(logits.argmax(1),
                 torch.where(_outside(target, logits.shape[1]), IGNORE, target))
        self.log(f"{stage}_loss", loss, prog_bar=True, on_step=stage == "train", on_epoch=True)
        self.log(f"{stage}_acc", accuracy, prog_bar=True, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, self.train_accuracy, "train")

    def validation_step(self, batch, batch_idx):
        return self._step(batch, self.val_accuracy, "val")


class TaskModule(ScheduledModule):
    """Cross-entropy on the current task's slice of the shared head's outputs.

    Batches are ``(images, labels 1..n, task index)``; ``offsets`` holds each task's
    ``(first output, number of outputs)`` in task order.
    """

    def __init__(self, network, offsets: dict, learning_rate: float,
                 schedule: WarmupCosine) -> None:
        super().__init__(network, learning_rate, schedule)
        self.offsets = list(offsets.values())

    def training_step(self, batch, batch_idx):
        x, y, task = batch
        start, n = self.offsets[int(task)]
        logits = self.network(x)[:, start : start + n]
        loss = F.cross_entropy(logits, y - 1)
        self.log("loss", loss, prog_bar=True)
        return loss
