"""Helpers of the browser suite: a real JupyterLab server on a free local port, Chromium's
settings and screenshots.

Needs the ``chromium`` Debian package (``/usr/bin/chromium``, or ``MICROLAB_CHROMIUM``) and the
``playwright`` Python package; the tests are skipped with the reason when either is missing.
Screenshots go to ``test-artifacts/browser/``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("MICROLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# JupyterLab settings that keep pop-ups (news, update checks) off the page
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none"},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server process serving ``root``."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        settings = root.parent / "lab-settings"
        for name, value in LAB_SETTINGS.items():
            file = settings / name
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(value))
        self.log = (root.parent / "jupyterlab.log").open("w")
        env = {**os.environ, **env, "JUPYTERLAB_SETTINGS_DIR": str(settings),
               "JUPYTERLAB_WORKSPACES_DIR": str(root.parent / "lab-workspaces"),
               "JUPYTER_RUNTIME_DIR": str(root.parent / "runtime"),
               "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={self.port}",
             "--ip=127.0.0.1", "--allow-root", f"--ServerApp.token={self.token}",
             f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
             "--ServerApp.jpserver_extensions=microlab.widgets._nodelay=True",
             "--LabApp.news_url=None", "--LabApp.check_for_updates_class="
             "jupyterlab.NeverCheckForUpdate"],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90.0) -> None:
        url = f"http://127.0.0.1:{self.port}/api/status?token={self.token}"
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early; see {self.log.name}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer on port {self.port} in {timeout} s")

    def url(self, notebook: str) -> str:
        """The notebook's address, with a fresh workspace (no tabs restored from before)."""
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?reset&token={self.token}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
