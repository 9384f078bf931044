"""Project folders under misuse: scripts without close(), two sessions, foreign files, names."""

import json
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import tifffile

import microlab
from microlab.project import Project


def run(script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=timeout, check=False)


def quiet_open(path) -> Project:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Project(path)


def test_strokes_are_kept_when_a_script_ends_without_close(tmp_path):
    folder = tmp_path / "p"
    done = run(f"""
        import numpy as np, microlab
        p = microlab.Project({str(folder)!r}, classes=["a", "b"])
        p.add_image(np.zeros((40, 50), np.uint8), name="img")
        layer = np.zeros((40, 50), np.uint8)
        layer[5:9, 5:30] = 2
        p.set_annotation(0, layer)
        p.paint(0, (30, 5), (30, 40), radius=1, value=1)
        # the script ends here: no end_stroke(), no close(), no save()
        """)
    assert done.returncode == 0, done.stderr
    layer = Project(folder).annotation(0)
    assert (layer[5:9, 5:30] == 2).all()
    assert (layer[30, 5:41] == 1).all()


def test_two_sessions_on_one_project_keep_both_strokes(tmp_path):
    folder = tmp_path / "shared"
    p1 = Project(folder, classes=["a", "b"])
    p1.add_image(np.zeros((40, 40), np.uint8), name="img")
    with pytest.warns(UserWarning, match="open in another session"):
        p2 = Project(folder)
    assert p2.read_only and "another session" in p2.why_read_only
    p1.paint(0, (5, 5), radius=1, value=1)  # A
    p1.end_stroke()
    p2.paint(0, (20, 20), radius=1, value=2)  # B: kept in p2's memory, never written over p1
    p2.end_stroke()
    p1.paint(0, (35, 35), radius=1, value=1)  # C
    p1.end_stroke()
    with pytest.raises(PermissionError, match="another session"):
        p2.save()
    with pytest.raises(PermissionError, match=r"not saved.*save_as"):
        p2.close()
    p1.add_image(np.ones((40, 40), np.uint8), name="b")
    p2.add_class("c")  # in p2's memory only: the project file is p1's
    assert "another session" in p2.last_error
    p2.save_as(tmp_path / "second")  # B is kept in a folder of its own
    p1.close()
    p2.close()
    reopened = Project(folder)
    assert reopened.annotation(0)[5, 5] == 1 and reopened.annotation(0)[35, 35] == 1
    assert [i.name for i in reopened.images] == ["img", "b"]
    second = Project(tmp_path / "second")
    assert second.annotation(0)[20, 20] == 2 and second.classes[-1] == "c"


def test_a_project_held_by_another_process_opens_read_only(tmp_path):
    folder = tmp_path / "p"
    Project(folder, classes=["a", "b"]).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time, microlab
            p = microlab.Project({str(folder)!r})
            print("open", flush=True)
            sys.stdin.readline()
            """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.warns(UserWarning, match=r"another session \(pid \d+"):
            p = Project(folder)
        assert p.read_only
        p.close()
    finally:
        holder.communicate("\n", timeout=60)
    p = Project(folder)  # the holder ended: the lock is free again
    assert not p.read_only
    p.close()


def test_a_killed_session_does_not_lock_the_project_forever(tmp_path):
    folder = tmp_path / "p"
    done = run(f"""
        import os, microlab
        microlab.Project({str(folder)!r}, classes=["a", "b"])
        os._exit(9)
        """)
    assert done.returncode == 9
    p = Project(folder)
    assert not p.read_only
    p.close()


def test_project_never_overwrites_or_adopts_files_it_did_not_write(tmp_path):
    folder = tmp_path / "mydata"
    (folder / "images").mkdir(parents=True)
    (folder / "annotations").mkdir()
    mine = np.full((16, 16), 7, np.uint8)
    tifffile.imwrite(folder / "images" / "cells.tif", mine)
    tifffile.imwrite(folder / "annotations" / "cells.tif", np.ones((16, 16), np.uint8))
    before = {p: p.read_bytes() for p in folder.rglob("*.tif")}
    p = Project(folder, classes=["a", "b"])
    index = p.add_image(np.zeros((16, 16), np.uint8), name="cells")
    assert not p.annotation(index).any()  # the user's file is not adopted as strokes
    p.paint(index, (8, 8), radius=2, value=1)
    p.close()
    for path, data in before.items():
        assert path.read_bytes() == data, f"{path} was overwritten"
    reopened = Project(folder)
    info = reopened.images[0]
    assert info.name == "cells" and info.file != "images/cells.tif"
    assert info.annotations != "annotations/cells.tif"
    assert reopened.annotation(0)[8, 8] == 1


def test_same_name_images_from_two_folders_are_both_added(tmp_path):
    for sub, value in (("dA", 1), ("dB", 2)):
        (tmp_path / sub).mkdir()
        tifffile.imwrite(tmp_path / sub / "img.tif", np.full((8, 8), value, np.uint8))
    p = Project(tmp_path / "p")
    a = p.add_image(tmp_path / "dA" / "img.tif")
    b = p.add_image(tmp_path / "dB" / "img.tif")
    assert (a, b) == (0, 1)
    assert [i.name for i in p.images] == ["img", "img (dB)"]
    assert p.image(1).data.max() == 2
    assert p.add_image(tmp_path / "dA" / "img.tif") == 0  # re-running a notebook
    assert len({i.file for i in p.images}) == 2
    p.close()


def test_image_file_names_do_not_double_the_extension(tmp_path):
    p = Project(tmp_path / "p")
    p.add_image(np.zeros((8, 8), np.uint8), name="cells.tif")
    assert p.images[0].file == "images/cells.tif"
    p.close()


@pytest.mark.parametrize("entry", ["annotations", "file"])
def test_paths_in_project_json_must_stay_inside_the_folder(tmp_path, entry):
    folder = tmp_path / "p"
    p = Project(folder)
    p.add_image(np.zeros((8, 8), np.uint8), name="a")
    p.close()
    meta = json.loads((folder / "project.json").read_text())
    meta["images"][0][entry] = "../X.tif"
    (folder / "project.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="outside the project folder"):
        Project(folder)
    assert not (tmp_path / "X.tif").exists()


def test_save_as_changes_nothing_when_a_write_fails(tmp_path, monkeypatch):
    p = Project(tmp_path / "p")
    p.add_image(np.zeros((8, 8), np.uint8), name="a")
    p.paint(0, (4, 4), radius=1, value=1)
    p.end_stroke()
    from microlab.project import store

    def broken(self, relative, layer, info):
        raise OSError("disk full")

    monkeypatch.setattr(store.Store, "write_layer", broken)
    with pytest.raises(OSError, match="disk full"):
        p.save_as(tmp_path / "copy")
    monkeypatch.undo()
    assert p.path == tmp_path / "p" and not (tmp_path / "copy").exists()
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".copy")]
    p.close()
    assert Project(tmp_path / "p").annotation(0)[4, 4] == 1


def test_strokes_are_flushed_by_the_context_manager_and_garbage_collection(tmp_path):
    with Project(tmp_path / "p", autosave=False) as p:
        p.add_image(np.zeros((8, 8), np.uint8), name="a")
        p.paint(0, (4, 4), radius=0, value=1)
    assert quiet_open(tmp_path / "p").annotation(0)[4, 4] == 1
    q = Project(tmp_path / "q", autosave=False)
    q.add_image(np.zeros((8, 8), np.uint8), name="a")
    q.paint(0, (2, 2), radius=0, value=2)
    del q
    import gc

    gc.collect()
    time.sleep(0.05)
    assert Project(tmp_path / "q").annotation(0)[2, 2] == 2


def test_read_only_project_messages_name_the_remedy(tmp_path):
    folder = tmp_path / "p"
    first = Project(folder)
    second = quiet_open(folder)
    with pytest.raises(PermissionError, match=r"save_as\('new/folder'\)"):
        second.add_image(np.zeros((4, 4), np.uint8), name="x")
    second.close(discard=True)
    first.close()
    assert microlab.Project(folder).images == []
