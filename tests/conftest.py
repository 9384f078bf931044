import os
from pathlib import Path

import matplotlib
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
matplotlib.use("Agg")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real data folder ../shared/data beside the repository (skips if absent)."""
    if not SHARED_DATA.exists():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA
