"""The locked environment: requirements.lock pins every dependency, environment.yml and the venv agree with it."""

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sslsv.book import REPO


def locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s#;]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("dev", "book"):
        reqs += project["optional-dependencies"][extra]
    return [Requirement(r) for r in reqs]


def test_lock_pins_every_declared_dependency_within_its_range():
    pins = locked()
    assert len(pins) > 50, "requirements.lock should pin the full resolved set, not only the direct dependencies"
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not in requirements.lock: run `make lock`"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"requirements.lock pins {req.name}=={pins[name]}, outside pyproject.toml's {req}: run `make lock`"
    assert pins["torch"] == "2.14.1" and pins["torchaudio"] == "2.11.0"
    assert int(pins["jupyter-book"].split(".")[0]) < 2


def test_environment_yml_installs_from_the_lock():
    text = (REPO / "environment.yml").read_text()
    assert re.search(r"^\s*-\s*-r requirements\.lock\s*$", text, re.M), "environment.yml must install requirements.lock"
    assert re.search(r"^\s*-\s*python=3\.11\s*$", text, re.M)
    assert "--python-version 3.11" in (REPO / "Makefile").read_text(), "the lock is resolved for Python 3.11"


def test_the_running_environment_is_the_locked_one():
    mismatched = []
    for name, version in locked().items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # platform-specific pins (e.g. CUDA wheels) may be absent
        if installed != version:
            mismatched.append(f"{name} {installed} (lock: {version})")
    assert not mismatched, "installed packages differ from requirements.lock: " + ", ".join(mismatched) + \
        "; reinstall with `rm .venv/.installed && make env`"
