"""The training panel: choose a tier, train off the UI thread, watch the overlay update.

Training runs in a background thread, so the kernel keeps answering the canvas while the
model trains; Stop sets the :class:`threading.Event` given to ``fit``, and the tier ends
its training at its next step with a usable model, which is saved and predicts. In live
mode a tier that offers it retrains after every stroke and predicts only the visible
window first, as ilastik's live update does.

The panel knows the tiers only through :mod:`microlab.tiers` (choices, live options, the
time-budget option) and the :class:`microlab.Segmenter` contract.
"""

from __future__ import annotations

import html
import threading
import time
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np

from ..project import training
from ..segmenter import BORDER_STROKES, strokes_only_at_the_border
from ..tiers import TIERS, available_tiers, tier
from ._common import MessageLine, guarded, short_channel_names

if TYPE_CHECKING:
    from ..project import Project
    from .annotator import Annotator


class TrainingPanel(widgets.VBox):
    """Train a segmenter on a project's annotations, with progress, Stop and live mode.

    Parameters
    ----------
    project : microlab.Project
        Whose annotations to train on; predictions are stored back into it (the viewer
        and annotator observe them).
    annotator : Annotator, optional
        Gives the visible window for live mode.
    messages : MessageLine, optional
        Where to show information and errors.
    minutes : float
        Initial training time budget, for the tiers that take one.

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> from microlab.widgets import TrainingPanel
    >>> project = microlab.Project(tempfile.mkdtemp())
    >>> _ = project.add_image(np.zeros((32, 32), np.uint8))
    >>> panel = TrainingPanel(project)
    >>> panel.tier.value
    'random-forest'
    >>> panel.train().join()
    >>> panel.messages.text
    'there are no strokes yet: paint strokes of at least two classes, then train'
    """

    def __init__(self, project: Project, annotator: Annotator | None = None, *,
                 messages: MessageLine | None = None, minutes: float = 5.0) -> None:
        self.project = project
        self.annotator = annotator
        self.messages = messages or MessageLine()
        self.segmenter = None
        self.live_timings: list[float] = []
        self.live_steps: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._live_thread: threading.Thread | None = None
        self._live_pending: str | None = None
        self._live_since = 0.0
        self._live_model = None
        self._live_count = 0

        kinds = available_tiers()
        self.tier = widgets.Dropdown(options=[(label, kind) for kind, label in kinds.items()],
                                     value=next(iter(kinds)), description="model",
                                     layout=widgets.Layout(width="220px"),
                                     style={"description_width": "44px"})
        self.minutes = widgets.BoundedFloatText(
            value=float(minutes), min=0.1, max=24 * 60, step=0.5, description="minutes",
            tooltip="training time budget", layout=widgets.Layout(width="150px"),
            style={"description_width": "56px"})
        self.train_button = widgets.Button(description="Train", icon="play",
                                           button_style="primary",
                                           tooltip="train on all strokes, predict all images (t)",
                                           layout=widgets.Layout(width="90px"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          tooltip="stop training (the model so far is kept) "
                                                  "and live mode",
                                          layout=widgets.Layout(width="80px"))
        self.train_button.add_class("microlab-train")
        self.stop_button.add_class("microlab-stop")
        self.live = widgets.Checkbox(value=False, description="live update",
                                     indent=False, layout=widgets.Layout(width="120px"))
        self.self_train = widgets.Checkbox(
            value=False, description="self-train", indent=False,
            tooltip="instance mode: halfway through training, add the objects the model is "
                    "sure of to the annotations and train the rest on both",
            layout=widgets.Layout(width="110px"))
        self.live.add_class("microlab-live")
        self.self_train.add_class("microlab-self-train")
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, description="",
                                              layout=widgets.Layout(width="200px"))
        self.status = widgets.HTML(layout=widgets.Layout(min_height="1.4em"))
        self.curve = widgets.Image(format="png", layout=widgets.Layout(
            width="300px", display="none"))
        self.curve.add_class("microlab-loss-curve")
        self.trained_on = widgets.HTML()
        self.reports: list[dict] = []
        self._drawn = 0.0
        self.compare_button = widgets.Button(
            description="Compare tiers", icon="balance-scale",
            tooltip="train every tier on part of the strokes, score it on the others "
                    "(microlab.compare), and recommend one",
            layout=widgets.Layout(width="140px"))
        self.compare_button.add_class("microlab-compare")
        self.comparison = widgets.HTML()
        self.comparison.add_class("microlab-comparison")
        self.compare_button.on_click(lambda _: self.compare())
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.live.observe(self._on_live, "value")
        self.tier.observe(lambda _: self._show_tier_options(), "value")
        project.on("stroke", self._on_stroke)
        project.on("settings", self._show_tier_options)
        if annotator is not None:
            annotator.on("window", self._on_window)
            annotator.add_shortcut("t", "train", self.train)
        missing = [t.label for kind, t in TIERS.items() if kind not in kinds]
        note = (f'<span style="font-size:85%;color:#777">not installed: {", ".join(missing)}'
                "</span>") if missing else ""
        super().__init__([
            widgets.HTML("<b>Training</b>"),
            widgets.HBox([self.tier, self.train_button, self.stop_button]),
            widgets.HBox([self.minutes, self.self_train]),
            widgets.HBox([self.live, self.progress]),
            self.status,
            self.curve,
            self.trained_on,
            self.compare_button,
            self.comparison,
            widgets.HTML(note),
        ])
        self.add_class("microlab-training")
        self._load_saved()
        self._show_tier_options()

    def _load_saved(self) -> None:
        try:
            self.segmenter = self.project.load_model()
        except (OSError, ValueError, KeyError, ImportError) as exc:
            self.messages.error(f"the saved model could not be loaded ({exc}); train again")
            return
        if self.segmenter is not None:
            kind = tier(self.segmenter.kind).kind
            if kind in dict(self.tier.options).values():
                self.tier.value = kind
            self.status.value = f"model: {self.project.models[-1]['name']} (saved)"
            self._show_trained_on()

    def _show_tier_options(self, *_) -> None:
        """Show the time budget, self-training (instance mode) and allow live mode as far as
        the chosen tier has them."""
        chosen = tier(self.tier.value)
        self.minutes.layout.display = None if chosen.budget is not None else "none"
        offered = (chosen.self_training is not None
                   and chosen.learns_objects(self.project.settings))
        self.self_train.layout.display = None if offered else "none"
        self.live.disabled = chosen.live is None
        self.live.tooltip = ("retrain after every stroke, predict the visible window" if
                             chosen.live is not None else f"{chosen.label} has no live update")
        if chosen.live is None and self.live.value:
            self.live.value = False

    def _new_segmenter(self, *, live: bool = False):
        """An untrained segmenter of the chosen tier, with its time budget (and its fast
        options in live mode)."""
        chosen = tier(self.tier.value)
        options = {} if chosen.budget is None else {chosen.budget: float(self.minutes.value)}
        if live:
            options.update(chosen.live or {})
        if chosen.learns_objects(self.project.settings) \
                and not live:  # it learns objects (boundary/interior) from whole objects
            if self.self_train.value and chosen.self_training is not None:
                options.update(chosen.self_training)
            return chosen.create(None, None, **{**options, **chosen.instance})
        return chosen.create(self.project.classes, self.project.colors, **options)

    # ------------------------------------------------------------------ training
    @property
    def running(self) -> bool:
        """Whether a training run is in progress."""
        return self._thread is not None and self._thread.is_alive()

    @guarded
    def train(self) -> threading.Thread | None:
        """Train on every stroke and predict every image, in a background thread.

        Returns the thread (``.join()`` it to wait), or None if a run is already going.
        """
        return self._start(self._train_job, "microlab-train")

    @guarded
    def compare(self) -> threading.Thread | None:
        """Compare the installed tiers on the project's strokes (:func:`microlab.compare`)
        in a background thread; the table, the figure and the recommendation appear below.
        Stop ends it (the tiers finished are shown)."""
        return self._start(self._compare_job, "microlab-compare")

    def _start(self, job, name: str) -> threading.Thread | None:
        """Run ``job`` in a background thread unless a run is going (then None)."""
        with self._lock:
            if self.running:
                self.messages.info("training is already running")
                return None
            self._stop.clear()
            self._thread = threading.Thread(target=job, name=name, daemon=True)
            self.train_button.disabled = self.compare_button.disabled = True
            self.stop_button.disabled = False
            self._thread.start()
            return self._thread

    def _finished(self) -> None:
        """Buttons back after a run: Train and Compare on, Stop only for live mode."""
        self.train_button.disabled = self.compare_button.disabled = False
        self.stop_button.disabled = not self.live.value

    def _compare_job(self) -> None:
        from ..comparison import compare

        start = time.perf_counter()
        try:
            images, layers = training.training_data(self.project)
            if not images:
                raise ValueError("there are no strokes yet: paint strokes of at least two "
                                 "classes, then compare")
            settings = self.project.settings
            kinds = list(available_tiers())
            budget = float(self.minutes.value)
            self._progress(0.05, f"comparing {', '.join(tier(k).label for k in kinds)} "
                                 f"(up to {budget:g} min per fold for tiers with a budget)…",
                           "info")
            result = compare(images, layers, tiers=kinds, minutes=budget,
                             classes=self.project.classes, progress=False, stop=self._stop,
                             objects=settings["object_class"]
                             if settings["mode"] == "instance" else None)
            self.comparison.value = _comparison_html(result)
            elapsed = time.perf_counter() - start
            self._progress(1.0, f"compared in {elapsed:.0f} s", "success")
            self.messages.ok(result.recommendation)
        except Exception as exc:
            self._progress(0.0, "", "danger")
            self.messages.error(exc)
        finally:
            self._finished()

    def _train_job(self) -> None:
        start = time.perf_counter()
        try:
            self._progress(0.02, "training…", "info")
            self.reports = []
            self.curve.layout.display = "none"
            segmenter = training.train(self.project, self._new_segmenter(), stop=self._stop,
                                       save=True, progress=self._on_report)
            self._draw_curve()
            early = self._stop.is_set()
            self._stop.clear()  # the model trained so far predicts; Stop again ends that
            self.segmenter = segmenter
            self._show_trained_on()
            self._live_model = None
            current = self.annotator.index if self.annotator is not None else 0
            order = sorted(range(len(self.project)), key=lambda i: i != current)
            done = 0
            for i in order:
                if self._stop.is_set():
                    break
                self._progress(0.3 + 0.7 * done / len(order),
                               f"predicting {self.project.images[i].name}…", "info")
                training.predict(self.project, segmenter, i)
                done += 1
            elapsed = time.perf_counter() - start
            labelled = sum(self.project.counts().values())
            predicted = f"{done} of {len(order)} image(s) predicted"
            if early:
                self._progress(done / len(order), "stopped early", "warning")
                self.messages.info(f"stopped early: the model trained so far is saved; "
                                   f"{predicted} with it in {elapsed:.1f} s")
            elif self._stop.is_set():
                self._progress(done / len(order), "stopped", "warning")
                self.messages.info(f"stopped: the model is trained and saved; {predicted}")
            elif strokes_only_at_the_border(
                    self.project.annotation(i) for i in range(len(self.project))):
                self._progress(1.0, f"done in {elapsed:.1f} s", "warning")
                self.messages.info(f"trained and predicted {done} image(s), but "
                                   f"{BORDER_STROKES}")
            else:
                self._progress(1.0, f"done in {elapsed:.1f} s", "success")
                self.messages.ok(f"trained on {labelled} labelled pixels and predicted "
                                 f"{done} image(s) in {elapsed:.1f} s")
        except Exception as exc:
            self._progress(0.0, "", "danger")
            self.messages.error(exc)
        finally:
            self._finished()

    def _on_report(self, report: dict) -> None:
        """A tier's report after a training step: bar, status line, loss curve."""
        self.reports.append(report)
        parts = [f"{report['seconds']:.0f} s"]
        if report.get("step") is not None:
            parts.insert(0, f"step {report['step']}")
        if report.get("trees") is not None:
            parts.insert(0, f"{report['trees']} trees")
        if report.get("loss") is not None:
            parts.append(f"loss {report['loss']:.3f}")
        if report.get("remaining") is not None:
            left = report["remaining"]
            parts.append(f"about {left / 60:.1f} min left" if left >= 90 else
                         f"about {left:.0f} s left")
        self._progress(0.02 + 0.28 * float(report["fraction"]),
                       "training: " + " · ".join(parts), "info")
        if report.get("loss") is not None and time.perf_counter() - self._drawn > 2.0:
            self._draw_curve()

    def _draw_curve(self) -> None:
        """The training loss so far (a smoothed line over the steps), as a PNG."""
        losses = [(r["step"], r["loss"]) for r in self.reports if r.get("loss") is not None]
        if len(losses) < 2:
            return
        import io

        from matplotlib.figure import Figure

        steps, values = (np.asarray(v, float) for v in zip(*losses, strict=True))
        window = max(1, len(values) // 20)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        figure = Figure(figsize=(3.1, 1.5), dpi=96)
        ax = figure.add_axes([0.17, 0.28, 0.78, 0.62])
        ax.plot(steps, values, color="#bbbbbb", linewidth=0.8)
        ax.plot(steps[window - 1:], smooth, color="#d62728", linewidth=1.5)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("loss", fontsize=8)
        ax.tick_params(labelsize=7)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        self.curve.value = buffer.getvalue()
        self.curve.layout.display = None
        self._drawn = time.perf_counter()

    def _show_trained_on(self) -> None:
        """Say what the model uses: tier, classes, channels of the images."""
        segmenter = self.segmenter
        if segmenter is None:
            self.trained_on.value = ""
            return
        label = tier(segmenter.kind).label
        n = segmenter.channels
        infos = [i for i in self.project.images if i.channels == n]
        names = (f" ({', '.join(short_channel_names(infos[0].channel_names, n))})"
                 if n > 1 and infos and infos[0].channel_names else "")
        self.trained_on.value = (
            f"<span style='font-size:85%;color:#555'>{html.escape(label)} uses "
            f"{'all ' if n > 1 else ''}{n} channel{'s' if n > 1 else ''} of the image"
            f"{html.escape(names)}; "
            f"classes: {html.escape(', '.join(segmenter.classes))}{_helper(segmenter)}"
            "</span>")

    def _progress(self, value: float, text: str, style: str) -> None:
        self.progress.value = value
        self.progress.bar_style = style
        self.status.value = f'<span class="microlab-status">{text}</span>'

    @guarded
    def stop(self) -> None:
        """Stop training, and switch live mode off.

        Training ends at the tier's next step (the forest between groups of trees, the
        U-Net between optimiser steps); the model trained so far is saved and predicts
        the images, which Stop pressed again ends too.
        """
        self._stop.set()
        with self._lock:
            self._live_pending = None
        if self.live.value:
            self.live.value = False
        if self.running:
            self.messages.info("stopping after the current step…")
        self.stop_button.disabled = not self.running

    def wait(self, timeout: float = 120.0) -> None:
        """Block until training and live updates are finished (for scripts and tests)."""
        end = time.monotonic() + timeout
        for thread in (self._thread, self._live_thread):
            if thread is not None:
                thread.join(max(0.0, end - time.monotonic()))
        while self._live_pending is not None and time.monotonic() < end:
            time.sleep(0.01)
        if self._live_thread is not None:
            self._live_thread.join(max(0.0, end - time.monotonic()))

    def close(self) -> None:
        """Stop training and live mode, stop observing the project and the annotator, and
        close the widgets."""
        self.stop()
        self.project.off("stroke", self._on_stroke)
        self.project.off("settings", self._show_tier_options)
        if self.annotator is not None:
            self.annotator.off("window", self._on_window)
            self.annotator.remove_shortcut("t")
        super().close()

    # ------------------------------------------------------------------ live mode
    def _on_live(self, change) -> None:
        if change["new"]:
            chosen = tier(self.tier.value)
            if chosen.live is None:
                self.live.value = False
                offer = [t.label for t in TIERS.values() if t.live is not None]
                self.messages.error(f"{chosen.label} has no live update; pick "
                                    f"{' or '.join(offer)}")
                return
            self._stop.clear()
            self.stop_button.disabled = False
            self._request("retrain")
        else:
            self.stop_button.disabled = not self.running

    def _on_stroke(self, index: int) -> None:
        if self.live.value:
            self._request("retrain")

    def _on_window(self, region) -> None:
        if self.live.value:
            self._request("predict")

    def _request(self, what: str) -> None:
        """Ask the live worker to retrain (and predict) or only predict; coalesces."""
        with self._lock:
            self._live_since = time.perf_counter()
            if self._live_pending != "retrain":
                self._live_pending = what
            if self._live_thread is None or not self._live_thread.is_alive():
                self._live_thread = threading.Thread(target=self._live_loop,
                                                     name="microlab-live", daemon=True)
                self._live_thread.start()

    def _live_loop(self) -> None:
        while True:
            with self._lock:
                what, self._live_pending = self._live_pending, None
                since = self._live_since
            if what is None or self._stop.is_set():
                return
            try:
                self._live_step(what == "retrain")
                self.live_timings.append(time.perf_counter() - since)
                if self.messages.text.startswith("live update waits"):
                    self.messages.clear()
            except ValueError as exc:
                self.messages.info(f"live update waits: {exc}")
            except Exception as exc:
                self.messages.error(exc)

    def _live_step(self, retrain: bool) -> None:
        start = time.perf_counter()
        if retrain or self._live_model is None:
            self._live_model = training.train(self.project, self._new_segmenter(live=True),
                                              stop=self._stop, save=False)
        trained = time.perf_counter()
        if self.annotator is None:
            return
        region = self.annotator.visible_region()
        if region is not None:
            training.predict(self.project, self._live_model, self.annotator.index, region,
                             save=False)
            self.live_steps.append((trained - start, time.perf_counter() - trained))
            self._live_count += 1
            self.status.value = (f'<span class="microlab-status">live update '
                                 f"{self._live_count}: {time.perf_counter() - self._live_since:.2f}"
                                 " s</span>")


def _comparison_html(result) -> str:
    """The comparison's own HTML (table, recommendation, figure), sized for the panel."""
    return ("<style>.microlab-comparison img {max-width: 340px}</style>"
            f"<div style='font-size:85%;max-width:360px;overflow-x:auto'>"
            f"{result._repr_html_()}</div>")


def _helper(segmenter) -> str:
    """The segmenter's own description (:attr:`microlab.Segmenter.description`) as a clause
    of the panel's status line, or ""."""
    description = segmenter.description
    return f"; {description}" if description else ""
