"""Fault injection: a process killed at random points while it paints and saves."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from microlab.project import Project
from microlab.project.autosave import MAX_AFTER_STROKE

WRITE_ALLOWANCE = 0.75
"""Seconds a write itself may take on a loaded 2-core machine, on top of the autosave delay."""

PAINTER = textwrap.dedent("""
    import random, sys, time, numpy as np, microlab
    folder, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    p = microlab.Project(folder, classes=["a", "b"])
    p.add_image(np.zeros((512, 512), np.uint8), name="img")
    print("ready", flush=True)
    for i in range(500):
        p.paint(0, (i % 500 + 4, 4), (i % 500 + 4, 500), radius=0, value=1 + i % 2)
        p.end_stroke()
        print(i, time.monotonic(), flush=True)
        time.sleep(rng.uniform(0.0, 0.08))
""")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_a_kill_at_any_point_keeps_every_stroke_older_than_one_autosave_period(tmp_path, seed):
    folder = tmp_path / "p"
    child = subprocess.Popen([sys.executable, "-c", PAINTER, str(folder), str(seed)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    rng = np.random.default_rng(seed)
    time.sleep(rng.uniform(0.3, 2.0))
    killed_at = time.monotonic()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(30)
    ended = {}
    out = child.stdout.read()
    lines = out.splitlines()
    if not out.endswith("\n") and lines:
        lines.pop()  # the kill cut the last line short: its stroke is the newest, not old
    for line in lines:
        i, t = line.split()
        ended[int(i)] = float(t)
    old = [i for i, t in ended.items() if t < killed_at - MAX_AFTER_STROKE - WRITE_ALLOWANCE]
    reopened = Project(folder)  # always reopens: every file was written atomically
    layer = reopened.annotation(0)
    missing = [i for i in old if not (layer[i % 500 + 4, 4:501] == 1 + i % 2).all()]
    assert not missing, f"strokes {missing} of {len(old)} old ones were lost (seed {seed})"
    leftovers = [f.name for f in folder.rglob("*.tmp")]  # a write killed half-way
    assert all(name.startswith(".") for name in leftovers), leftovers
    reopened.close()
