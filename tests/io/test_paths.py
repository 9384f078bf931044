"""microlab.io.paths: file lists, names that never collide, files paired by name."""

import pytest

from microlab.io.paths import distinct_names, expand_paths, partner


def test_distinct_names_add_parent_folders_only_where_names_collide(tmp_path):
    paths = [tmp_path / "e1" / "img.tif", tmp_path / "e2" / "img.tif", tmp_path / "e2" / "b.tif"]
    assert distinct_names(paths) == ["e1/img.tif", "e2/img.tif", "b.tif"]


def test_distinct_names_go_up_as_far_as_it_takes():
    assert distinct_names(["a/x/img.tif", "b/x/img.tif"]) == ["a/x/img.tif", "b/x/img.tif"]


def test_names_differing_only_in_case_collide_as_on_macos_and_windows():
    assert distinct_names(["a/IMG.tif", "b/img.tif"]) == ["a/IMG.tif", "b/img.tif"]


def test_the_same_file_twice_cannot_be_named_apart():
    with pytest.raises(ValueError, match="name the same file"):
        distinct_names(["a/img.tif", "a/img.tif"])


def test_expand_paths_keeps_a_file_listed_twice_once(tmp_path):
    for name in ("a.tif", "b.tif", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = expand_paths([tmp_path / "b.tif", tmp_path / "*.tif", tmp_path])
    assert [p.name for p in found] == ["b.tif", "a.tif"]


def test_expand_paths_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such annotation"):
        expand_paths(tmp_path / "none.tif", what="annotation")
    with pytest.raises(ValueError, match="holds no image"):
        expand_paths(tmp_path, what="image")


@pytest.mark.parametrize("name", ["cells.tif", "cells.png", "cells_labels.tif",
                                  "cells_annotations.tif", "cells.ome.tif"])
def test_partner_finds_the_file_of_the_same_name(tmp_path, name):
    images = [tmp_path / "cells.tif", tmp_path / "cells2.tif"]
    assert partner(tmp_path / "ann" / name, images, where="here") == images[0]


def test_partner_refuses_an_ambiguous_or_missing_match(tmp_path):
    with pytest.raises(ValueError, match="several images"):
        partner(tmp_path / "x_labels.tif", [tmp_path / "a" / "x.png", tmp_path / "b" / "x.tif"],
                where="here", what="image")
    with pytest.raises(FileNotFoundError, match=r"no image for y\.tif"):
        partner(tmp_path / "y.tif", [tmp_path / "x.tif"], where="here", what="image")
