"""The one Lightning ``Trainer`` set-up of the deep tier, for fitting and pretraining alike.

:func:`training` configures the Trainer (device, budgets, callbacks, no logger and no
checkpoint files) inside what it needs: Lightning kept quiet, a scratch folder, and the
Ctrl-C handler put back afterwards. :func:`fit` runs it and says whether Ctrl-C ended it;
a SIGTERM ends the process, as it would without Lightning.
Imports lightning at module level; of :mod:`microlab.deep` only
:mod:`~microlab.deep.runtime` and :mod:`~microlab.deep.callbacks`.
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from .callbacks import StopOnEvent
from .runtime import quiet


@contextlib.contextmanager
def training(
    *,
    device: str,
    progress: bool,
    callbacks: Sequence[L.Callback] = (),
    stop: threading.Event | None = None,
    max_epochs: int = -1,
    max_steps: int | None = None,
    max_minutes: float | None = None,
    validate: bool = False,
    warn: bool | None = None,
) -> Iterator[L.Trainer]:
    """A configured Trainer, in a context that keeps Lightning quiet and restores Ctrl-C.

    Parameters
    ----------
    device : str
        A resolved device (:func:`~microlab.deep.runtime.resolve_device`).
    progress : bool
        Show Lightning's progress bar.
    callbacks : sequence of lightning.Callback
        Callbacks of the run.
    stop : threading.Event, optional
        Once set, training ends after the current step (:class:`StopOnEvent`).
    max_epochs, max_steps, max_minutes : optional
        Budgets; training ends at whichever is reached first (-1 / None: unbounded).
    validate : bool
        Run the validation loop (at every epoch's end); False skips it.
    warn : bool, optional
        Let Lightning's warnings through to the log (default: when ``progress`` is true);
        for a run that reports progress other than by Lightning's bar.

    Yields
    ------
    lightning.Trainer
    """
    main = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if main else None
    callbacks = [*callbacks, *([StopOnEvent(stop)] if stop is not None else [])]
    try:
        with tempfile.TemporaryDirectory() as root, quiet(progress, warn):
            yield L.Trainer(
                accelerator="gpu" if device.startswith("cuda") else "cpu",
                devices=1,
                max_epochs=max_epochs,
                max_steps=max_steps or -1,
                max_time={"minutes": max_minutes} if max_minutes else None,
                limit_val_batches=1.0 if validate else 0,
                num_sanity_val_steps=0,
                callbacks=callbacks,
                logger=False,
                enable_checkpointing=False,
                enable_progress_bar=progress,
                enable_model_summary=False,
                default_root_dir=root,
                log_every_n_steps=1,
            )
    finally:
        if sigint is not None:  # Lightning ignores Ctrl-C while it shuts down
            signal.signal(signal.SIGINT, sigint)


SIGTERM_EXIT = 128 + signal.SIGTERM
"""The exit status of a process that a SIGTERM ended during training (the shell's)."""


def fit(trainer: L.Trainer, module: L.LightningModule, **data) -> bool:
    """``trainer.fit(module, **data)``; True when Ctrl-C interrupted it.

    Lightning answers Ctrl-C with a graceful shutdown followed by ``sys.exit(1)``; that
    exit is caught here, so the caller keeps the weights trained so far. Lightning also
    catches SIGTERM (``kill``, a job scheduler, ``docker stop``) and ends training after the
    step under way; where nothing else in the process handles SIGTERM, the process then
    ends as SIGTERM asks (``SystemExit`` with status :data:`SIGTERM_EXIT`) instead of
    going on with a half-trained model; where the program has its own SIGTERM handler
    (Lightning has called it), training counts as interrupted. Other errors propagate.

    Raises
    ------
    SystemExit
        Status :data:`SIGTERM_EXIT`, after a SIGTERM with the default handler.
    """
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        trainer.fit(module, **data)
    except SIGTERMException:
        if sigterm in (signal.SIG_DFL, None):
            raise SystemExit(SIGTERM_EXIT) from None
        return True
    except SystemExit:
        if not trainer.interrupted:
            raise
        return True
    return False
