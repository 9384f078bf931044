import signal
import threading

import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")

from microlab.deep.trainer import fit, training  # noqa: E402

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
