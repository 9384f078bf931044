"""Plot a U-Net's training curves (matplotlib imported when called)."""

from __future__ import annotations

import numpy as np


def plot_history(history: dict, ax=None, *, smooth: int = 20):
    """Draw training loss (raw and smoothed), validation loss and validation accuracy.

    Parameters
    ----------
    history : dict
        ``model.history`` of a fitted :class:`~microlab.deep.UNetSegmenter` (or
        :attr:`History.records`).
    ax : matplotlib Axes, optional
        Where to draw the losses; accuracy goes on a twin axis. A new figure by default.
    smooth : int
        Window (steps) of the moving average drawn over the raw training loss.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> history = {"step": [1, 2, 3], "train_loss": [1.0, 0.8, 0.7], "val_step": [3],
    ...            "val_loss": [0.75], "val_acc": [0.6]}
    >>> fig = plot_history(history)
    >>> [line.get_label() for line in fig.axes[0].lines][:2]
    ['training loss', 'training loss (moving average)']
    """
    from matplotlib.figure import Figure

    if ax is None:
        fig = Figure(figsize=(6.4, 3.2), layout="constrained")
        ax = fig.add_subplot()
    fig = ax.figure
    steps, loss = np.asarray(history["step"]), np.asarray(history["train_loss"], float)
    ax.plot(steps, loss, color="#9ecae1", lw=0.8, label="training loss")
    if len(loss) >= 2:
        window = max(1, min(smooth, len(loss) // 2))
        average = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], average, color="#08519c", lw=1.6,
                label="training loss (moving average)")
    if history.get("val_loss"):
        ax.plot(history["val_step"], history["val_loss"], "o-", color="#d94801", ms=3,
                label="validation loss (held-out strokes)")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy")
    if len(loss) and np.all(loss > 0):
        ax.set_yscale("log")
    lines, labels = ax.get_legend_handles_labels()
    if history.get("val_acc"):
        twin = ax.twinx()
        twin.plot(history["val_step"], history["val_acc"], "s--", color="#238b45", ms=3,
                  label="validation accuracy")
        twin.set_ylim(0, 1)
        twin.set_ylabel("accuracy")
        more = twin.get_legend_handles_labels()
        lines, labels = lines + more[0], labels + more[1]
    if lines:
        ax.legend(lines, labels, fontsize="small", loc="upper right")
    return fig
