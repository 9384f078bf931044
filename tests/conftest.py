import os
from pathlib import Path

import matplotlib
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
matplotlib.use("Agg")


def pytest_configure(config):
    """One torch thread: on a 2-core machine torch's own threads fight the suite's."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real data folder ../shared/data beside the repository (skips if absent)."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA
