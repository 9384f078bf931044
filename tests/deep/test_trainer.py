import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")

from lightning.pytorch.utilities.exceptions import SIGTERMException  # noqa: E402

from microlab.deep.trainer import SIGTERM_EXIT, fit, training  # noqa: E402

from .helpers import raise_at  # noqa: E402


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader():
    return torch.utils.data.DataLoader(torch.ones(64, 2), batch_size=4)


def test_training_honours_the_step_budget_and_a_stop_event():
    with training(device="cpu", progress=False, max_steps=5) as trainer:
        assert fit(trainer, Tiny(), train_dataloaders=loader()) is False
    assert trainer.global_step == 5
    stop = threading.Event()
    stop.set()
    with training(device="cpu", progress=False, stop=stop, max_steps=50) as trainer:
        assert fit(trainer, Tiny(), train_dataloaders=loader()) is False
    assert trainer.global_step == 1  # stopped after the step under way


def test_ctrl_c_ends_training_and_restores_the_handler():
    handler = signal.getsignal(signal.SIGINT)
    with training(device="cpu", progress=False, callbacks=[raise_at(2, KeyboardInterrupt)],
                  max_steps=50) as trainer:
        assert fit(trainer, Tiny(), train_dataloaders=loader()) is True
    assert trainer.global_step == 2
    assert signal.getsignal(signal.SIGINT) is handler  # Lightning had set SIG_IGN


def test_other_errors_propagate():
    with pytest.raises(RuntimeError, match="boom"), \
            training(device="cpu", progress=False, callbacks=[raise_at(1, RuntimeError("boom"))],
                     max_steps=50) as trainer:
        fit(trainer, Tiny(), train_dataloaders=loader())


def test_sigterm_with_the_default_handler_ends_the_process_after_the_step():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(SystemExit) as info, \
            training(device="cpu", progress=False,
                     callbacks=[raise_at(2, SIGTERMException())], max_steps=50) as trainer:
        fit(trainer, Tiny(), train_dataloaders=loader())
    assert info.value.code == SIGTERM_EXIT == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


class SendAt(L.Callback):
    def __init__(self, step, signum):
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def test_sigterm_where_the_program_handles_it_interrupts_training_only():
    calls = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        with training(device="cpu", progress=False, callbacks=[SendAt(2, signal.SIGTERM)],
                      max_steps=50) as trainer:
            assert fit(trainer, Tiny(), train_dataloaders=loader()) is True
        assert trainer.global_step == 2  # no step after the one under way
        assert calls == [signal.SIGTERM]  # Lightning called the program's handler too
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_real_sigterm_during_training_ends_the_process_with_status_143(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        import signal
        from tests.deep.test_trainer import SendAt, Tiny, loader
        from microlab.deep.trainer import fit, training

        with training(device="cpu", progress=False, callbacks=[SendAt(2, signal.SIGTERM)],
                      max_steps=50) as trainer:
            fit(trainer, Tiny(), train_dataloaders=loader())
        print("went on after step", trainer.global_step)
    """))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=root, env=env, timeout=300)
    assert done.returncode == SIGTERM_EXIT, done.stderr[-2000:]
    assert "went on" not in done.stdout
