"""The Binder configuration installs what the tutorials need, with the pinned versions."""

import ast
import importlib.metadata
import json
import re
import sys
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _pins(lines):
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            exact = [spec.version for spec in req.specifier if spec.operator == "=="]
            if exact:
                pins[req.name.lower()] = exact[0]
    return pins


def test_torch_pins_match_the_constraints_and_are_cpu_builds():
    binder = _pins((BINDER / "requirements.txt").read_text().splitlines())
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    for name in ("torch", "torchvision"):
        version, _, local = binder[name].partition("+")
        assert version == constraints[name], (name, binder[name], constraints[name])
        assert local == "cpu", f"{name} should be the CPU-only build on Binder"
    assert "download.pytorch.org/whl/cpu" in (BINDER / "requirements.txt").read_text()


def test_python_version_and_install_follow_the_project():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    major_minor = runtime.removeprefix("python-")
    assert major_minor == f"{sys.version_info.major}.{sys.version_info.minor}"  # the tested one
    post = (BINDER / "postBuild").read_text()
    assert "-c constraints.txt" in post and "pip install" in post
    assert (BINDER / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_the_installed_extras_cover_every_tutorial_import():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = re.search(r'-e "\.\[([a-z,]+)\]"', (BINDER / "postBuild").read_text()).group(1)
    wanted = {Requirement(r).name.lower() for r in pyproject["dependencies"]}
    for extra in extras.split(","):
        wanted |= {Requirement(r).name.lower()
                   for r in pyproject["optional-dependencies"][extra]}
    distributions = importlib.metadata.packages_distributions()
    missing = set()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        source = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "microlab":
                    continue
                dists = {d.lower() for d in distributions.get(top, [])}
                # a module of a dependency's dependency (e.g. zarr through dask[...]) counts
                # only when a wanted distribution requires it
                if not dists & wanted and not any(_required_by(d, wanted) for d in dists):
                    missing.add(f"{notebook.name}: {top}")
    assert not missing, f"Binder would lack: {sorted(missing)}"


def _required_by(dist: str, wanted: set[str]) -> bool:
    for name in wanted:
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        if any(Requirement(r).name.lower() == dist for r in requires
               if "extra" not in r.partition(";")[2]):  # installed without any extra
            return True
    return False
