"""The training panel: choose a tier, train off the UI thread, watch the overlay update.

Training runs in a background thread, so the kernel keeps answering the canvas while the
forest grows; a progress bar follows it and Stop ends it after the current step. In live
mode the Random Forest retrains after every stroke and predicts only the visible window
first, as ilastik's live update does.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
import time

import ipywidgets as widgets

from ._common import MessageLine, guarded

TIERS = {
    "rf": ("Random Forest", "microlab.classic:RandomForestSegmenter"),
    "unet": ("U-Net", "microlab.deep:UNetSegmenter"),
}
"""Tier key → (label, "module:class"). A tier whose module is not installed is hidden."""


def available_tiers() -> dict[str, str]:
    """Tier key → label of the tiers this installation has.

    Examples
    --------
    >>> available_tiers()["rf"]
    'Random Forest'
    """
    found = {}
    for key, (label, target) in TIERS.items():
        module = target.split(":")[0]
        try:
            present = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            present = False
        if present:
            found[key] = label
    return found


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
    live_estimators : int
        Trees of the forest retrained after each stroke in live mode (fewer is faster).

    Examples
    --------
    >>> import tempfile, numpy as np, microlab
    >>> from microlab.widgets import TrainingPanel
    >>> project = microlab.Project(tempfile.mkdtemp())
    >>> _ = project.add_image(np.zeros((32, 32), np.uint8))
    >>> panel = TrainingPanel(project)
    >>> panel.train().join()
    >>> panel.messages.text
    'there are no strokes yet: paint strokes of at least two classes, then train'
    """

    def __init__(self, project, annotator=None, *, messages: MessageLine | None = None,
                 live_estimators: int = 16) -> None:
        self.project = project
        self.annotator = annotator
        self.messages = messages or MessageLine()
        self.live_estimators = int(live_estimators)
        self.segmenter = None
        self.live_timings: list[float] = []
        self.live_steps: list[tuple[float, float]] = []
        self.train_seconds: float | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._live_thread: threading.Thread | None = None
        self._live_pending: str | None = None
        self._live_since = 0.0
        self._live_model = None
        self._live_count = 0
        self._fitting = False

        tiers = available_tiers()
        self.tier = widgets.Dropdown(options=[(label, key) for key, label in tiers.items()],
                                     value="rf", description="model",
                                     layout=widgets.Layout(width="220px"),
                                     style={"description_width": "44px"})
        self.train_button = widgets.Button(description="Train", icon="play",
                                           button_style="primary",
                                           tooltip="train on all strokes, predict all images (t)",
                                           layout=widgets.Layout(width="90px"))
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True,
                                          tooltip="stop training and live mode",
                                          layout=widgets.Layout(width="80px"))
        self.train_button.add_class("microlab-train")
        self.stop_button.add_class("microlab-stop")
        self.live = widgets.Checkbox(value=False, description="live update",
                                     indent=False, layout=widgets.Layout(width="120px"))
        self.progress = widgets.FloatProgress(value=0, min=0, max=1, description="",
                                              layout=widgets.Layout(width="200px"))
        self.status = widgets.HTML(layout=widgets.Layout(min_height="1.4em"))
        self.train_button.on_click(lambda _: self.train())
        self.stop_button.on_click(lambda _: self.stop())
        self.live.observe(self._on_live, "value")
        project.on("stroke", self._on_stroke)
        if annotator is not None:
            annotator.on_view_change(self._on_view)
            annotator.add_shortcut("t", "train", self.train)
        note = "" if "unet" in tiers else (
            '<span style="font-size:85%;color:#777">U-Net: coming with the deep tier</span>')
        super().__init__([
            widgets.HTML("<b>Training</b>"),
            widgets.HBox([self.tier, self.train_button, self.stop_button]),
            widgets.HBox([self.live, self.progress]),
            self.status,
            widgets.HTML(note),
        ])
        self.add_class("microlab-training")
        self._load_saved()

    def _load_saved(self) -> None:
        try:
            self.segmenter = self.project.load_model()
        except (OSError, ValueError, KeyError) as exc:
            self.messages.error(f"the saved model could not be loaded ({exc}); train again")
            return
        if self.segmenter is not None:
            self.status.value = f"model: {self.project.models[-1]['name']} (saved)"

    # ------------------------------------------------------------------ training
    @property
    def running(self) -> bool:
        """Whether a training run is in progress."""
        return self._thread is not None and self._thread.is_alive()

    def _new_segmenter(self, live: bool = False):
        key = self.tier.value
        if key not in TIERS:
            raise ValueError(f"unknown model tier {key!r}")
        module, name = TIERS[key][1].split(":")
        cls = getattr(importlib.import_module(module), name)
        kwargs = {"n_estimators": self.live_estimators} if live and key == "rf" else {}
        return cls(self.project.classes, colors=self.project.colors, **kwargs)

    @guarded
    def train(self) -> threading.Thread | None:
        """Train on every stroke and predict every image, in a background thread.

        Returns the thread (``.join()`` it to wait), or None if a run is already going.
        """
        with self._lock:
            if self.running:
                self.messages.info("training is already running")
                return None
            self._stop.clear()
            self._thread = threading.Thread(target=self._train_job, name="microlab-train",
                                            daemon=True)
            self.train_button.disabled = True
            self.stop_button.disabled = False
            self._thread.start()
            return self._thread

    def _train_job(self) -> None:
        start = time.perf_counter()
        try:
            self._progress(0.02, "training…", "info")
            segmenter = self._new_segmenter()
            self._fitting = self.tier.value != "rf"  # its fit stops cleanly on Ctrl-C
            try:
                self.project.train(segmenter, save=True)
            finally:
                self._fitting = False
            self.segmenter = segmenter
            self._live_model = None
            self.train_seconds = time.perf_counter() - start
            current = self.annotator.index if self.annotator is not None else 0
            order = sorted(range(len(self.project)), key=lambda i: i != current)
            done = 0
            for i in order:
                if self._stop.is_set():
                    break
                self._progress(0.3 + 0.7 * done / len(order),
                               f"predicting {self.project.images[i].name}…", "info")
                self.project.predict(segmenter, i)
                done += 1
            elapsed = time.perf_counter() - start
            labelled = sum(self.project.counts().values())
            if self._stop.is_set():
                self._progress(done / len(order), "stopped", "warning")
                self.messages.info(f"stopped: the model is trained; {done} of {len(order)} "
                                   "image(s) predicted")
            else:
                self._progress(1.0, f"done in {elapsed:.1f} s", "success")
                self.messages.ok(f"trained on {labelled} labelled pixels and predicted "
                                 f"{done} image(s) in {elapsed:.1f} s")
        except KeyboardInterrupt:
            self._progress(0.0, "stopped", "warning")
            self.messages.info("stopped")
        except Exception as exc:
            self._progress(0.0, "", "danger")
            self.messages.error(exc)
        finally:
            self.train_button.disabled = False
            self.stop_button.disabled = not self.live.value

    def _progress(self, value: float, text: str, style: str) -> None:
        self.progress.value = value
        self.progress.bar_style = style
        self.status.value = f'<span class="microlab-status">{text}</span>'

    @guarded
    def stop(self) -> None:
        """Stop training, and switch live mode off.

        A Random Forest trains in seconds: Stop takes effect after it, between the images
        being predicted. A U-Net is interrupted inside its training loop (as Ctrl-C would:
        it keeps the best weights so far) and the run goes on to predict with them.
        """
        self._stop.set()
        thread = self._thread
        if self._fitting and thread is not None and thread.is_alive():
            import ctypes

            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(thread.ident), ctypes.py_object(KeyboardInterrupt))
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

    # ------------------------------------------------------------------ live mode
    def _on_live(self, change) -> None:
        if change["new"]:
            if self.tier.value != "rf":
                self.live.value = False
                self.messages.error("live update is for the Random Forest; pick it first")
                return
            self._stop.clear()
            self.stop_button.disabled = False
            self._request("retrain")
        else:
            self.stop_button.disabled = not self.running

    def _on_stroke(self, index: int) -> None:
        if self.live.value:
            self._request("retrain")

    def _on_view(self) -> None:
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
            model = self._new_segmenter(live=True)
            self.project.train(model, save=False)
            self._live_model = model
        trained = time.perf_counter()
        if self.annotator is None:
            return
        region = self.annotator.visible_region()
        if region is not None:
            self.project.predict(self._live_model, self.annotator.index, region, save=False)
            self.live_steps.append((trained - start, time.perf_counter() - trained))
            self._live_count += 1
            self.status.value = (f'<span class="microlab-status">live update '
                                 f"{self._live_count}: {time.perf_counter() - self._live_since:.2f}"
                                 " s</span>")
