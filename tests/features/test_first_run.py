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
