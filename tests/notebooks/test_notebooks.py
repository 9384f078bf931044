"""Every tutorial notebook runs top to bottom (as CI does), without errors."""

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_tutorials():
    names = [nb.name for nb in NOTEBOOKS]
    assert "00_quickstart.ipynb" in names and "02_random_forest.ipynb" in names


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.setenv("MICROLAB_PROJECT", str(tmp_path / "quickstart-project"))
    monkeypatch.setenv("MICROLAB_TUTORIAL_MINUTES", "0.1")  # tiny training budgets in CI
    nb = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
