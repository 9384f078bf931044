import logging
import warnings

import pytest

from microlab.deep.runtime import quiet, resolve_device


def test_resolve_device_names_the_choices():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda'"):
        resolve_device("tpu")


def test_cuda_without_gpu_says_so():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_quiet_hides_library_chatter_and_restores_the_loggers():
    logger = logging.getLogger("lightning.pytorch")
    before = logger.level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet(progress=False):
            assert logger.level == logging.ERROR
            warnings.warn("Your dataloader does not have many workers", UserWarning, stacklevel=1)
        warnings.warn("ours", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["ours"]
    assert logger.level == before


def test_quiet_can_keep_lightnings_warnings_without_a_bar():
    """A pretraining writing plain lines to a log keeps Lightning's warnings there."""
    logger = logging.getLogger("lightning.fabric")
    before = logger.level
    with quiet(progress=False, warn=True):
        assert logger.level == logging.WARNING
    with quiet(progress=True, warn=False):
        assert logger.level == logging.ERROR
    with quiet(progress=True):
        assert logger.level == logging.WARNING
    assert logger.level == before
