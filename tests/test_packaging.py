"""What a wheel of llmdeck_nb ships: py.typed (PEP 561), so mypy checks the code of users
against the package's type hints instead of treating it as untyped, and the default deck."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the sources (no build output in the checkout)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copy(ROOT / "README.md", source)
    shutil.copytree(ROOT / "llmdeck_nb", source / "llmdeck_nb",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(work / "dist"), str(source)],
                   check=True, timeout=600, capture_output=True)
    (built,) = (work / "dist").glob("llmdeck_nb-*.whl")
    return zipfile.ZipFile(built)


@pytest.mark.slow
def test_the_wheel_ships_py_typed_and_the_default_deck(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "llmdeck_nb/py.typed" in names
    assert "llmdeck_nb/default_deck/inference/backends.toml" in names
    assert "llmdeck_nb/engine/session.py" in names


def test_the_installed_package_is_marked_typed() -> None:
    import llmdeck_nb

    assert (Path(llmdeck_nb.__file__).parent / "py.typed").is_file()
