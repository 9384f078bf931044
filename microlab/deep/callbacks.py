"""Lightning callbacks of a U-Net fit: best weights, history, live curves, stopping on request.

:class:`KeepBest`, :class:`History` and :class:`StopOnEvent` run in every
:meth:`UNetSegmenter.fit <microlab.deep.UNetSegmenter.fit>` (the history becomes
``model.history``), :class:`Deadline` in every fit with a time budget; :class:`LivePlot`
is added by ``fit(..., plot=True)`` and redraws the curves in the notebook cell while
training runs; :class:`LogProgress` writes plain progress lines where no live bar can show
(a pretraining whose output goes to a file). Imports lightning at module level (and
IPython only to display); of :mod:`microlab.deep` only :mod:`~microlab.deep.curves`.
"""

from __future__ import annotations

import copy
import io
import math
import sys
import threading
import time

import lightning as L
import numpy as np

from .curves import plot_history


class KeepBest(L.Callback):
    """Remember the weights with the lowest validation loss (in memory, no checkpoint files)."""

    def __init__(self) -> None:
        self.best = math.inf
        self.state = None

    def on_validation_epoch_end(self, trainer, module) -> None:
        value = trainer.callback_metrics.get("val_loss")
        if value is not None and float(value) < self.best:
            self.best = float(value)
            self.state = copy.deepcopy({k: v.detach().cpu() for k, v in
                                        module.network.state_dict().items()})

    def restore(self, network) -> None:
        """Load the best weights into ``network`` (nothing when none was validated)."""
        if self.state is not None:
            network.load_state_dict(self.state)


class StopOnEvent(L.Callback):
    """End training after the current step once ``event`` is set (``trainer.should_stop``).

    Checked at the end of every training step. Lightning then finishes cleanly: a last
    validation runs and the loop ends, as with early stopping.

    Examples
    --------
    >>> import threading
    >>> from types import SimpleNamespace
    >>> event, trainer = threading.Event(), SimpleNamespace(should_stop=False)
    >>> stop = StopOnEvent(event)
    >>> stop.on_train_batch_end(trainer, None, None, None, 0); trainer.should_stop
    False
    >>> event.set(); stop.on_train_batch_end(trainer, None, None, None, 1); trainer.should_stop
    True
    """

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if self.event.is_set():
            trainer.should_stop = True


class Deadline(L.Callback):
    """End training after the step during which the clock (``time.monotonic``) passes
    ``deadline``, and fit a time-based learning-rate ``schedule`` to the time left when
    training starts.

    A time budget counted from before Lightning sets up: its own timer (``max_time``)
    starts with the first step, so a process's first fit, whose set-up takes seconds,
    ran that much over its budget (measured: 39 s for a 30-s budget, 322 s for 300).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> trainer = SimpleNamespace(should_stop=False)
    >>> Deadline(time.monotonic() + 60).on_train_batch_end(trainer, None, None, None, 0)
    >>> trainer.should_stop
    False
    >>> Deadline(time.monotonic()).on_train_batch_end(trainer, None, None, None, 0)
    >>> trainer.should_stop
    True
    >>> from microlab.deep.module import WarmupCosine
    >>> schedule = WarmupCosine(None, max_seconds=120)   # decays over the time left
    >>> Deadline(time.monotonic() + 30, schedule).on_train_start(None, None)
    >>> 29 < schedule.max_seconds <= 30
    True
    """

    def __init__(self, deadline: float, schedule=None) -> None:
        self.deadline = deadline
        self.schedule = schedule

    def on_train_start(self, trainer, module) -> None:
        if self.schedule is not None and self.schedule.max_seconds:
            self.schedule.max_seconds = max(self.deadline - time.monotonic(), 1.0)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if time.monotonic() >= self.deadline:
            trainer.should_stop = True


class History(L.Callback):
    """Record the training loss of every step and the validation figures of every epoch.

    ``before`` (the ``records`` of an earlier run) makes this run go on from it: its steps
    and seconds count on from the earlier run's last ones, as self-training's second half
    goes on from its first.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> first = {"step": [1, 2], "train_loss": [0.9, 0.8], "val_step": [2], "val_loss": [1.0],
    ...          "val_acc": [0.5], "seconds": [0.1, 0.2]}
    >>> history = History(first)      # the second run's first step is step 1 of its own
    >>> history.on_train_batch_end(SimpleNamespace(global_step=1), None, 0.7, None, 0)
    >>> history.records["step"], history.records["train_loss"]
    ([1, 2, 3], [0.9, 0.8, 0.7])
    >>> history.records["seconds"][-1] >= 0.2       # and its seconds from the first run's last
    True
    """

    def __init__(self, before: dict | None = None) -> None:
        self.records: dict[str, list] = {"step": [], "train_loss": [], "val_step": [],
                                         "val_loss": [], "val_acc": [], "seconds": []}
        self._offset = (0, 0.0)
        if before:
            self.records = {key: list(before.get(key, [])) for key in self.records}
            self._offset = (max(self.records["step"] + self.records["val_step"], default=0),
                            max(self.records["seconds"], default=0.0))
        self._start = time.perf_counter()

    def on_train_start(self, trainer, module) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:
            steps, seconds = self._offset
            self.records["step"].append(steps + int(trainer.global_step))
            self.records["train_loss"].append(float(loss))
            self.records["seconds"].append(
                round(seconds + time.perf_counter() - self._start, 3))

    def on_validation_epoch_end(self, trainer, module) -> None:
        metrics = trainer.callback_metrics
        if "val_loss" in metrics:
            self.records["val_step"].append(self._offset[0] + int(trainer.global_step))
            self.records["val_loss"].append(float(metrics["val_loss"]))
            self.records["val_acc"].append(float(metrics.get("val_acc", np.nan)))


class Report(L.Callback):
    """Call ``progress(report)`` after every training step with ``fraction`` of the planned
    training (steps or time budget, whichever is nearer its end), ``seconds``, ``step``,
    ``loss`` and ``remaining`` (estimated seconds left): what a panel needs for its bar,
    its loss curve and its estimate (:func:`microlab.segmenter.report`)."""

    def __init__(self, progress, steps: int | None, minutes: float | None) -> None:
        self.progress = progress
        self.steps = steps if steps and steps > 0 else None
        self.seconds = None if minutes is None else 60.0 * minutes
        self._start = time.perf_counter()

    def on_train_start(self, trainer, module) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        from ..segmenter import report

        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        elapsed = time.perf_counter() - self._start
        step = int(trainer.global_step)
        fractions = [f for f in (step / self.steps if self.steps else None,
                                 elapsed / self.seconds if self.seconds else None)
                     if f is not None]
        fraction = min(1.0, max(fractions)) if fractions else 0.0
        report(self.progress, fraction=fraction, seconds=elapsed, step=step,
               loss=None if loss is None else float(loss),
               remaining=elapsed * (1 - fraction) / fraction if fraction > 0 else None)


class LogProgress(Report):
    """Write a plain progress line every ``every`` seconds and one when training ends.

    For output that goes to a file (a long pretraining under ``nohup``), where Lightning's
    live bar shows nothing until the run is over: each line says the step, the minutes
    spent (of the budget), the last loss and the steps per second. The figures are those
    :class:`Report` gives after every step.

    Parameters
    ----------
    steps, minutes : int, float, optional
        The budgets, shown as "of ..." (None: not shown).
    every : float
        Seconds between lines; the first step always writes one.
    stream : file-like, optional
        Where the lines go; default ``sys.stderr`` at the time of writing.

    Examples
    --------
    >>> import io, types
    >>> out = io.StringIO()
    >>> log = LogProgress(steps=100, minutes=None, every=3600, stream=out)
    >>> log.on_train_start(None, None)
    >>> log.on_train_batch_end(types.SimpleNamespace(global_step=1), None, 0.5, None, 0)
    >>> out.getvalue().startswith("step 1 of 100, 0.0 min, loss 0.500")
    True
    """

    def __init__(self, steps: int | None, minutes: float | None, every: float = 60.0,
                 stream=None) -> None:
        super().__init__(self._take, steps, minutes)
        self.every = float(every)
        self.stream = stream
        self._last = -math.inf
        self._loss: float | None = None

    def _take(self, values: dict) -> None:
        self._loss = values["loss"]
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self._write(values["step"], values["seconds"])

    def _write(self, step: int, seconds: float, before: str = "") -> None:
        line = f"{before}step {step}" + (f" of {self.steps}" if self.steps else "")
        line += f", {seconds / 60:.1f}" + (f" of {self.seconds / 60:g}" if self.seconds else "")
        line += " min" + ("" if self._loss is None else f", loss {self._loss:.3f}")
        line += f", {step / seconds:.2f} steps/s" if seconds > 0 else ""
        print(line, file=self.stream or sys.stderr, flush=True)

    def on_train_end(self, trainer, module) -> None:
        self._write(int(trainer.global_step), time.perf_counter() - self._start, "done: ")


class LivePlot(L.Callback):
    """Redraw :func:`~microlab.deep.plot_history` in the running notebook cell every
    ``every`` seconds.

    Outside IPython it only keeps the last figure (:attr:`figure`).
    """

    def __init__(self, history: History, every: float = 2.0) -> None:
        self.history = history
        self.every = every
        self.figure = None
        self._handle = None
        self._last = -np.inf

    def _draw(self) -> None:
        self.figure = plot_history(self.history.records)
        self._last = time.perf_counter()
        try:
            from IPython import get_ipython
            from IPython.display import Image, display
        except ImportError:
            return
        if get_ipython() is None:
            return
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=72)
        image = Image(data=buffer.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if time.perf_counter() - self._last >= self.every:
            self._draw()

    def on_train_end(self, trainer, module) -> None:
        self._draw()
