"""Adding your own images from the browser: the workbench's file picker."""

import numpy as np

import microlab
from microlab.project import Project
from microlab.widgets import Workbench


def _files(*paths, truncate=None):
    files = [{"name": p.name, "content": p.read_bytes()} for p in paths]
    if truncate is not None:
        files.append({"name": "truncated.tif", "content": files[0]["content"][:truncate]})
    return files


def test_real_fluorescence_files_are_added_and_problems_named(tmp_path, shared_data):
    bbbc022 = shared_data / "unlabelled" / "BBBC022_IXMtest_A02_s9.tif"
    bbbc038 = shared_data / "unlabelled" / "BBBC038_0bf4b1.tif"
    project = Project(tmp_path / "p", classes=["nuclei", "background"])
    bench = Workbench(project)
    try:
        not_an_image = {"name": "notes.png", "content": b"\x89PNG not really"}
        added = bench.upload.add_files([*_files(bbbc022, bbbc038, truncate=5000),
                                        not_an_image])
        assert added == [0]
        info = project.images[0]
        assert info.name == "BBBC022_IXMtest_A02_s9" and info.file.endswith("s9.tif")
        assert not info.file.endswith(".tif.tif")
        assert info.axes == "CYX" and info.shape == (3, 395, 695) and info.dtype == "uint16"
        np.testing.assert_array_equal(project.image(0).data,
                                      microlab.read_image(bbbc022).data)
        text = bench.messages.text
        assert bench.messages.level == "error"
        assert text.startswith("added 1 image (BBBC022_IXMtest_A02_s9)")
        assert "BBBC038_0bf4b1.tif could not be read" in text and "1-channel" in text
        assert "truncated.tif could not be read" in text
        assert "notes.png could not be read" in text
        # the new image is shown, its canvas keeps the image's aspect
        assert bench.annotator.index == 0
        assert bench.annotator.state.channels == ["composite", 0, 1, 2]
        assert bench.annotator.channel == "composite" and bench.annotator.contrast.disabled
        again = bench.upload.add_files(_files(bbbc022))
        assert again == [] and "already in the project" in bench.messages.text
    finally:
        bench.close()
        project.close()


def test_an_empty_project_accepts_a_first_upload(tmp_path, shared_data):
    project = Project(tmp_path / "p")
    bench = Workbench(project)
    try:
        bench.upload.add_files(_files(shared_data / "unlabelled" / "BBBC038_0bf4b1.tif"))
        assert len(project) == 1 and bench.annotator.index == 0
        assert bench.messages.level == "ok"
    finally:
        bench.close()
        project.close()
