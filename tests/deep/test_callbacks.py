import threading
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("lightning")

from microlab.deep import UNetSegmenter, plot_history
from microlab.deep.callbacks import History, LivePlot, StopOnEvent

from .helpers import TINY, two_phase


def test_stop_on_event_asks_the_trainer_to_stop_once_set():
    event, trainer = threading.Event(), SimpleNamespace(should_stop=False)
    stop = StopOnEvent(event)
    stop.on_train_batch_end(trainer, None, None, None, 0)
    assert not trainer.should_stop
    event.set()
    stop.on_train_batch_end(trainer, None, None, None, 1)
    assert trainer.should_stop


def test_fit_records_history_and_plots_it_live(trained):
    model, *_ = trained
    history = model.history
    assert len(history["step"]) == model.fit_info["steps"] == 60
    assert np.all(np.diff(history["step"]) > 0) and np.isfinite(history["train_loss"]).all()
    assert len(history["val_loss"]) == len(history["val_acc"]) >= 1
    fig = plot_history(history)
    labels = [line.get_label() for ax in fig.axes for line in ax.lines]
    assert "validation loss (held-out strokes)" in labels and "validation accuracy" in labels

    class Seen(History):
        pass

    image, _, scribbles = two_phase(seed=2)
    extra = Seen()
    again = UNetSegmenter(["dark", "bright"], max_steps=4, **TINY)
    again.fit(image, scribbles, plot=True, callbacks=[extra])
    assert len(extra.records["step"]) == 4  # extra Lightning callbacks run
    live = LivePlot(History(), every=0.0)
    live.history.records.update(step=[1, 2], train_loss=[1.0, 0.5])
    live.on_train_end(None, None)  # outside IPython: draws, keeps the figure, shows nothing
    assert live.figure is not None
