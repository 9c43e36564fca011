"""What ``pip install .``, ``pipx install .`` or a built wheel installs is a working tool.

The suite itself runs from the source tree (an editable install), where every file is
there whether or not the package's build configuration names it. These tests build the
sdist from a copy of the tree, the wheel from that sdist (as ``python -m build`` does),
with the same build backend (setuptools, in-process hooks: no network, no isolation), and
check what a user would get: every module and data file of the tree and nothing else (no
tests, no caches), the example configs of ``configs/`` (in the sdist, and installed by the
wheel where the hint of a missing ``configs/...`` names them), the ``harvester`` command,
and every subcommand working from the unpacked wheel alone. A subpackage whose
``__init__.py`` is missing, or a data file no ``package-data`` pattern matches, is left out
of the wheel while the source tree works; the CLI would then drop the subcommands whose
modules cannot be imported, silently.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import pytest

from harvester.cli import build_parser
from harvester.emulator import EmulatorThread

ROOT = Path(__file__).resolve().parents[2]

#: What the sdist is made from: the files a clean checkout has at its top.
SOURCE_ENTRIES = ("pyproject.toml", "README.md", "LICENSE", "harvester", "configs")

#: Byte-code left beside the sources by any run: must reach neither archive.
PLANTED = ("harvester/__pycache__/planted.cpython-311.pyc", "harvester/cli/planted.pyc")

_BUILD = """
import sys
from setuptools import build_meta
print(getattr(build_meta, sys.argv[1])(sys.argv[2]))
"""


@dataclass(frozen=True)
class Built:
    """The tree the archives were built from, and the archives."""

    source: Path
    sdist: Path
    wheel: Path


def _pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _require_build_backend() -> None:
    """Fail, naming the fix, when setuptools is older than pyproject's build requirement
    (the test extra brings it: an older one fails on the ``license`` expression)."""
    requires = _pyproject()["build-system"]["requires"]
    wanted = next(r for r in requires if r.startswith("setuptools"))
    minimum = int(re.fullmatch(r"setuptools>=(\d+)", wanted).group(1))
    have = installed_version("setuptools")
    if int(have.split(".")[0]) < minimum:
        pytest.fail(f"setuptools {have} is older than {wanted}: pip install -e '.[test]'")


def _hook(hook: str, out: Path, cwd: Path) -> Path:
    """Run one PEP 517 hook of setuptools in ``cwd``; the archive it wrote in ``out``."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, hook, str(out)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def _copy_tree(dest: Path) -> Path:
    """The repository's top-level entries that a clean checkout has, plus the tests (which
    must be left out) and byte-code beside the sources (which must be left out too)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")
    dest.mkdir()
    for name in (*SOURCE_ENTRIES, "tests"):
        path = ROOT / name
        if not path.exists():  # (the assertions name what it held)
            continue
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=ignore)
        else:
            shutil.copy2(path, dest / name)
    for planted in PLANTED:
        (dest / planted).parent.mkdir(parents=True, exist_ok=True)
        (dest / planted).write_bytes(b"\x00" * 16)
    return dest


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist of a copy of the tree, and the wheel built from that sdist."""
    _require_build_backend()
    base = tmp_path_factory.mktemp("packaging")
    source = _copy_tree(base / "source")
    (base / "dist").mkdir()
    sdist = _hook("build_sdist", base / "dist", source)
    # (the "data" filter: from Python 3.11.4 on; 3.12 and 3.13 warn without it)
    safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(sdist) as tar:
        tar.extractall(base / "unpacked", **safe)
    (unpacked,) = (base / "unpacked").iterdir()
    wheel = _hook("build_wheel", base / "dist", unpacked)
    return Built(source=source, sdist=sdist, wheel=wheel)


def _package_files(source: Path) -> set[str]:
    """Every file of the package in the tree, byte-code left aside, as archive paths."""
    return {
        path.relative_to(source).as_posix()
        for path in (source / "harvester").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def _example_configs(source: Path) -> dict[str, bytes]:
    """The tree's example configs, by file name."""
    return {path.name: path.read_bytes() for path in sorted((source / "configs").glob("*.toml"))}


def _wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def _sdist_names(sdist: Path) -> set[str]:
    """The sdist's files, without its top folder (``harvester-VERSION/``)."""
    with tarfile.open(sdist) as tar:
        return {m.name.split("/", 1)[1] for m in tar.getmembers() if m.isfile()}


def test_the_wheel_holds_every_file_of_the_package_and_nothing_else(built: Built) -> None:
    """The wheel's harvester/ is the tree's, file for file (subpackages, py.typed, the OME
    schema), with no byte-code, and nothing but the package and its dist-info."""
    names = _wheel_names(built.wheel)
    package = {name for name in names if name.startswith("harvester/")}
    expected = _package_files(built.source)
    assert {"harvester/py.typed", "harvester/schemas/ome-2016-06.xsd"} <= expected
    assert {"harvester/cli/__init__.py", "harvester/emulator/__init__.py"} <= expected
    assert sorted(expected - package) == [], "left out of the wheel"
    assert sorted(package - expected) == [], "in the wheel but not a file of the package"
    version = _pyproject()["project"]["version"]
    assert {name.split("/")[0] for name in names} == {
        "harvester",
        f"harvester-{version}.dist-info",
        f"harvester-{version}.data",  # (the example configs: the next test)
    }


def test_the_wheel_carries_the_example_configs_as_data_files(built: Built) -> None:
    """The wheel's data files are the tree's configs/*.toml, byte for byte, installed under
    the environment's prefix in share/harvester/configs/ (README's Install says where)."""
    version = _pyproject()["project"]["version"]
    data = f"harvester-{version}.data/data/share/harvester/configs/"
    with zipfile.ZipFile(built.wheel) as zf:
        carried = {
            name.removeprefix(data): zf.read(name)
            for name in zf.namelist()
            if name.startswith(f"harvester-{version}.data/")
        }
    expected = _example_configs(built.source)
    assert {"default.toml", "demo.toml"} <= expected.keys()
    assert carried == expected


def test_the_wheel_declares_the_command_and_the_dependencies(built: Built) -> None:
    """Its dist-info gives the ``harvester`` command, pyproject's dependencies and Python
    floor, and the licence."""
    project = _pyproject()["project"]
    with zipfile.ZipFile(built.wheel) as zf:
        info = f"harvester-{project['version']}.dist-info"
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
        metadata = zf.read(f"{info}/METADATA").decode()
        assert f"{info}/licenses/LICENSE" in zf.namelist()
    assert "[console_scripts]\nharvester = harvester.__main__:entry" in entry_points
    requires = sorted(re.findall(r"^Requires-Dist: (\S+?)(?: ;.*)?$", metadata, re.M))
    assert [r for r in requires if "extra ==" not in r] == sorted(project["dependencies"])
    assert f"Requires-Python: {project['requires-python']}" in metadata


def test_the_sdist_holds_the_source_but_not_the_tests(built: Built) -> None:
    """The sdist has what the wheel is built from, the example configs included, and no
    tests, byte-code or caches."""
    names = _sdist_names(built.sdist)
    assert sorted(_package_files(built.source) - names) == [], "left out of the sdist"
    configs = {f"configs/{name}" for name in _example_configs(built.source)}
    assert "configs/default.toml" in configs
    assert sorted(configs - names) == [], "example configs left out of the sdist"
    assert {"pyproject.toml", "README.md", "LICENSE"} <= names
    strays = [n for n in names if n.startswith("tests/") or "__pycache__" in n or ".pyc" in n]
    assert strays == []


def test_the_unpacked_wheel_alone_runs_every_subcommand(built: Built, tmp_path: Path) -> None:
    """From the wheel's files alone (not this tree), in another folder: every module
    imports and ``python -m harvester --help`` lists every subcommand the tree has."""
    site = tmp_path / "site"
    with zipfile.ZipFile(built.wheel) as zf:
        zf.extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = tmp_path / "elsewhere"
    run.mkdir()
    imports = (
        "import importlib, pkgutil, harvester\n"
        "for m in pkgutil.walk_packages(harvester.__path__, 'harvester.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "print(harvester.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", imports], cwd=run, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == site / "harvester" / "__init__.py"
    done = subprocess.run(
        [sys.executable, "-m", "harvester", "--help"], cwd=run, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # (a command whose module fails to import is still listed, as unavailable)
    assert "(unavailable:" not in done.stdout, done.stdout
    listed = _commands(done.stdout)
    assert {"harvest", "status", "demo", "emulate", "slurm"} <= listed
    assert listed == _commands(build_parser().format_help()), done.stdout


def test_a_pip_installed_wheel_names_its_example_configs_and_they_run(
    built: Built, tmp_path: Path, emulator: EmulatorThread
) -> None:
    """pip puts the wheel's configs under its prefix; ``harvester harvest configs/demo.toml``
    typed elsewhere, or an unknown key, names that folder in its hint (not for another copy
    of the package run before it on the path), and a copy from there harvests."""
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed in this environment: it installs the wheel here")
    ours = _installed_record()
    prefix = tmp_path / "prefix"
    # --ignore-installed: without it pip "upgrades" the harvester this test runs from (the
    # editable install of the test environment) by uninstalling it first.
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "install",
         "--quiet", "--no-deps", "--no-index", "--no-compile", "--ignore-installed",
         "--prefix", str(prefix), str(built.wheel)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _installed_record() == ours, "the install removed the running environment's harvester"
    (init,) = prefix.glob("lib*/python*/site-packages/harvester/__init__.py")
    examples = (prefix / "share" / "harvester" / "configs").resolve()
    installed = {path.name: path.read_bytes() for path in examples.glob("*.toml")}
    assert installed == _example_configs(built.source)
    env = {**os.environ, "PYTHONPATH": str(init.parents[1])}
    run = tmp_path / "elsewhere"
    run.mkdir()
    harvest = [sys.executable, "-m", "harvester", "harvest"]
    done = subprocess.run(
        [*harvest, "configs/demo.toml", "--out", "x"], cwd=run, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: config file 'configs/demo.toml' not found",
        f"hint: a relative path is read from the current folder, {run.resolve()}; this"
        f" harvester's example configs are in {examples}/: copy one from there",
    ]
    assert not (run / "x").exists()
    (run / "typo.toml").write_text("zzzz = 1\n")
    done = subprocess.run(
        [*harvest, "typo.toml", "--out", "x"], cwd=run, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[1:] == [f"hint: see {examples}/default.toml for every key"]
    # A copy of the package first on the path, the install after it: pip's RECORD is not
    # this copy's, so its configs are not named as this harvester's (they were).
    copied = tmp_path / "copied"
    shutil.copytree(init.parent, copied / "harvester")
    done = subprocess.run(
        [*harvest, "configs/demo.toml", "--out", "x"], cwd=run, capture_output=True, text=True,
        env={**env, "PYTHONPATH": os.pathsep.join([str(copied), env["PYTHONPATH"]])},
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[1].endswith(
        "; the example configs are in the configs/ folder of harvester's source checkout and sdist"
    ), done.stderr
    assert str(examples) not in done.stderr, done.stderr
    shutil.copy(examples / "demo.toml", run / "demo.toml")
    done = subprocess.run(
        [*harvest, "demo.toml", "--base-url", emulator.base_url, "--rate", "none",
         "--artifacts", "thumbnail", "--out", "x", "--quiet"],
        cwd=run, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list((run / "x" / "images").rglob("*.thumbnail.jpg"))) == 80  # screen 2302


def _commands(help_text: str) -> set[str]:
    """The subcommands a ``harvester --help`` lists (one a line, indented four spaces)."""
    return set(re.findall(r"^    (\w+) ", help_text, re.M))


def _installed_record() -> str | None:
    """Where this environment records its installed harvester (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        return str(distribution("harvester")._path)  # type: ignore[attr-defined]
    except PackageNotFoundError:
        return None
