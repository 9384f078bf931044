"""`microlab demo`: JupyterLab on copies of the tutorials, opened at the quick start."""

from microlab.cli import main, notebooks_dir


def test_demo_serves_copies_and_opens_the_quickstart(tmp_path, capsys):
    folder = tmp_path / "demo"
    assert main(["demo", "--print-command", "--no-browser", "--folder", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    originals = sorted(p.name for p in notebooks_dir().glob("*.ipynb"))
    assert sorted(p.name for p in folder.glob("*.ipynb")) == originals
    assert out[0] == f"microlab demo: {len(originals)} notebook(s) copied to {folder}"
    command = out[-1]
    assert "jupyterlab" in command and f"--notebook-dir {folder}" in command
    assert "--ServerApp.default_url=/lab/tree/00_quickstart.ipynb" in command
    assert command.endswith(str(folder / "00_quickstart.ipynb"))
    assert str(notebooks_dir()) not in command  # never the repository's own notebooks


def test_demo_keeps_the_users_changes(tmp_path, capsys):
    folder = tmp_path / "demo"
    folder.mkdir()
    mine = folder / "00_quickstart.ipynb"
    mine.write_text("my edited notebook")
    assert main(["demo", "--print-command", "--folder", str(folder)]) == 0
    assert mine.read_text() == "my edited notebook"
    assert "1 kept as you left them" in capsys.readouterr().out


def test_demo_folder_that_is_a_file_is_a_clean_error(tmp_path, capsys):
    file = tmp_path / "x"
    file.write_text("")
    assert main(["demo", "--print-command", "--folder", str(file)]) == 2
    assert "is a file" in capsys.readouterr().err
