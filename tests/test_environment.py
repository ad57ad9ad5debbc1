"""The three descriptions of the environment agree: environment.yml (conda), requirements*.txt
(pip, exact pins of the whole closure) and pyproject.toml (direct dependencies)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from the pip name of the same package
CONDA_TO_PIP = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# the interpreter and the installer are not pinned in requirements*.txt
NOT_PINNED = {"python", "pip"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path, follow: bool = True) -> dict[str, str]:
    """name → exact version of every `name==version` line, following `-r other.txt`."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            if follow:
                found.update(pins(path.parent / line[3:].strip()))
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{path.name}: `{line}` is not pinned exactly with =="
        found[canonical(name)] = version.strip()
    return found


RUNTIME = pins(ROOT / "requirements.txt")
ALL = pins(ROOT / "requirements-dev.txt")


def conda_packages() -> dict[str, tuple[str, str | None]]:
    """pip name → (version, build) of every conda dependency in environment.yml."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            continue
        name, _, rest = dep.partition("=")
        version, _, build = rest.lstrip("=").partition("=")
        found[CONDA_TO_PIP.get(name, canonical(name))] = (version, build or None)
    return found


def direct_dependencies() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = [*project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        deps += extra
    return {canonical(Requirement(d).name) for d in deps}


def test_environment_yml_uses_conda_forge_only():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    assert "nodefaults" not in env["dependencies"]


def test_environment_yml_has_python_311_and_cpu_pytorch_2_13():
    packages = conda_packages()
    assert packages["python"] == ("3.11", None)
    assert packages["torch"] == ("2.13.0", "cpu*")


def test_environment_yml_installs_tutor_itself_with_pip():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    assert pip_sections and "-e ." in pip_sections[0]


@pytest.mark.parametrize("name", sorted(set(conda_packages()) - NOT_PINNED))
def test_every_conda_package_has_the_version_pinned_in_requirements(name):
    version, _ = conda_packages()[name]
    assert name in ALL, f"{name} is in environment.yml but not pinned in requirements*.txt"
    assert version == ALL[name], (f"environment.yml has {name}={version}, requirements has "
                                  f"{name}=={ALL[name]}")


@pytest.mark.parametrize("name", sorted(direct_dependencies()))
def test_every_direct_dependency_is_in_requirements_and_environment_yml(name):
    assert name in RUNTIME, f"pyproject.toml needs {name}; pin it in requirements.txt"
    assert name in conda_packages(), f"pyproject.toml needs {name}; add it to environment.yml"


def test_torch_is_pinned_to_the_cpu_release_without_a_local_label():
    assert RUNTIME["torch"] == "2.13.0"


def test_runtime_and_test_pins_do_not_overlap():
    dev_only = pins(ROOT / "requirements-dev.txt", follow=False)
    assert dev_only, "requirements-dev.txt pins the test tools"
    assert not set(dev_only) & set(RUNTIME)


def _requires(name: str) -> list[Requirement]:
    """The unconditional requirements of an installed distribution (extras left out)."""
    out = []
    for text in metadata.requires(name) or []:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out.append(req)
    return out


@pytest.mark.parametrize("pinned", [("requirements.txt", RUNTIME), ("requirements-dev.txt", ALL)],
                         ids=["runtime", "dev"])
def test_pins_are_a_closed_set_each_dependency_pinned_at_a_version_it_accepts(pinned):
    """Needs the pinned packages installed (the .venv `make test` builds)."""
    filename, table = pinned
    for name, version in table.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.skip(f"{name} is not installed here; run inside the course's .venv")
        if installed.split("+")[0] != version:
            pytest.skip(f"{name} {installed} is installed, {filename} pins {version}")
        for req in _requires(name):
            dep = canonical(req.name)
            assert dep in table, f"{name} needs {req}, which {filename} does not pin"
            assert req.specifier.contains(table[dep], prereleases=True), (
                f"{name} needs {req}, {filename} pins {dep}=={table[dep]}")
