"""Fixtures of the browser suite: Debian's Chromium through Playwright, and a JupyterLab
server serving a copy of the quick-start notebook (see ``_lab.py``).

Needs the ``chromium`` Debian package (``/usr/bin/chromium``, or ``MICROLAB_CHROMIUM``) and the
``playwright`` Python package; the tests are skipped with the reason when either is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ._lab import CHROMIUM, CHROMIUM_ARGS, REPO, Lab


@pytest.fixture(scope="session")
def browser():
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="pip install playwright (the test extra)")
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory):
    """A folder with a copy of the quick-start notebook, and the project folder beside it."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "notebooks"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / "00_quickstart.ipynb", root)
    return root


@pytest.fixture(scope="module")
def lab(lab_root):
    server = Lab(lab_root, {"MICROLAB_PROJECT": str(lab_root.parent / "project")})
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1500, "height": 1100},
                                  device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
