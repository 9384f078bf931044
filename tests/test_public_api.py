"""The public surface: every package says what it exports, and exports nothing private."""

import importlib
import pkgutil

import pytest

import microlab

PACKAGES = sorted(
    m.name for m in pkgutil.walk_packages(microlab.__path__, "microlab.")
    if m.ispkg and not m.name.split(".")[-1].startswith("_")
)


def test_the_top_level_exports_resolve_and_are_public():
    assert microlab.__all__ == sorted(microlab.__all__)
    for name in microlab.__all__:
        assert name == "__version__" or not name.startswith("_")
        assert getattr(microlab, name) is not None


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_declares_a_public_all(name):
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    for item in exported:
        assert not item.startswith("_"), f"{name} exports private {item}"
        assert hasattr(module, item), f"{name}.__all__ names missing {item}"


def test_the_version_is_defined_once():
    import pathlib
    import re

    root = pathlib.Path(microlab.__file__).parent
    defined = [p for p in root.rglob("*.py")
               if re.search(r"^(def _version|__version__ =)", p.read_text(), re.M)]
    assert [p.relative_to(root).as_posix() for p in defined] == ["__init__.py"]
