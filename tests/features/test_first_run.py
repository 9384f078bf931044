"""The first run after install compiles numba kernels once, and says so."""

import os
import subprocess
import sys

import pytest

SCRIPT = """
import microlab
image, truth = microlab.data.sandstone()
crop, marks = image.data[:96, :96], microlab.labels.scribbles_from_truth(truth[:96, :96], 0.05)
rf = microlab.RandomForestSegmenter(n_estimators=5).fit(crop, marks, progress=False)
rf.predict(crop)
"""


@pytest.mark.slow
def test_kernels_compile_once_with_a_message_and_load_silently_after(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def run() -> str:
        done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                              text=True, timeout=600, check=True)
        return done.stderr

    first = run()
    assert "compiling the feature kernels once" in first
    assert "compiling the forest kernel once" in first
    second = run()
    assert "compiling" not in second


SCRIPT_3D = """
import sys, threading
import numpy as np
from microlab.features import FeatureBank, _kernels
volume = np.random.default_rng(0).random((8, 24, 24)).astype(np.float32)
FeatureBank(["Gaussian σ=1.0", "Variance r=2", "LoG σ=1.0"], ndim=3).compute(volume)
print("numba" in sys.modules)
eig = FeatureBank(["Hessian eig1 σ=1.0"], ndim=3).compute(volume)
print(_kernels.start_volume_kernels() is _kernels.start_volume_kernels(),
      _kernels.volume_kernels() is sys.modules["microlab.features._jit_volume"],
      bool(np.isfinite(eig).all()))
"""


def test_a_3d_window_loads_numba_beside_its_first_filters_and_only_when_needed():
    """A 3D bank of filters alone never imports numba; one with eigenvalues loads the
    kernels on one background thread (started once) while its Gaussians run."""
    done = subprocess.run([sys.executable, "-c", SCRIPT_3D], capture_output=True, text=True,
                          timeout=600, check=True)
    assert done.stdout.split() == ["False", "True", "True", "True"]


SCRIPT_RETRY = """
from microlab.features import _kernels
calls, load = [], _kernels._load_volume_kernels
def flaky():
    calls.append(1)
    if len(calls) == 1:
        raise OSError("a transient failure")
    return load()
_kernels._load_volume_kernels = flaky
try:
    _kernels.volume_kernels()
except OSError as error:
    print(error)
print(_kernels.volume_kernels().__name__, len(calls))
"""


def test_a_failed_kernel_load_raises_where_needed_and_is_tried_again():
    done = subprocess.run([sys.executable, "-c", SCRIPT_RETRY], capture_output=True,
                          text=True, timeout=600, check=True)
    assert done.stdout.splitlines() == ["a transient failure",
                                        "microlab.features._jit_volume 2"]
