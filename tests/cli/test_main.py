"""The `microlab` command itself: its subcommands and its version."""

import pytest

from microlab.cli import main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "{demo,train,compare,segment,measure}" in out
    for command in ("demo", "train", "compare", "segment", "measure"):
        assert f"\n    {command} " in out


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("microlab ")
