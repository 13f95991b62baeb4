"""binder/: what a Binder launch builds, rebuilt here as repo2docker would, then the quickstart.

repo2docker (what mybinder.org runs) copies the repository, installs
``binder/requirements.txt`` with pip from the repository root, runs ``binder/postBuild``
with bash from the repository root, and opens the URL path of the launch link
(``lab/tree/notebooks/01_quickstart.ipynb``). The slow test below does the same in a new
virtual environment built only from those files, then executes the quickstart in it with no
key set: every answer must come from the offline demo backend.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from notebook_runner import notebook_runner

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
QUICKSTART = Path("notebooks") / "01_quickstart.ipynb"  # the launch link's urlpath
#: not copied into the image: version control, local state, build leftovers, secrets
NOT_COPIED = (".git", ".venv", "venv", "build", "dist", "__pycache__", "*.egg-info",
              ".pytest_cache", ".benchmarks", ".ipynb_checkpoints", ".llmdeck", ".env",
              "*.sqlite", "*.sqlite-*")


# --- the files --------------------------------------------------------------------------


def test_binder_files_are_there_and_runnable():
    requirements = (BINDER / "requirements.txt").read_text(encoding="utf-8")
    wanted = {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower()
              for line in requirements.splitlines() if line.strip() and not line.startswith("#")}
    assert {"jupyterlab", "ipykernel", "ipywidgets", "matplotlib"} <= wanted
    post_build = (BINDER / "postBuild").read_text(encoding="utf-8")
    assert post_build.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in post_build
    assert os.access(BINDER / "postBuild", os.X_OK), "postBuild must be executable"
    assert 'pip install ".[notebook]"' in post_build  # the package itself, from the repository
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    assert re.fullmatch(r"python-3\.\d+", runtime)
    minor = int(runtime.split(".")[1])
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    requires = re.search(r'requires-python = ">=3\.(\d+)"', pyproject)
    assert requires and minor >= int(requires.group(1))
    assert (ROOT / QUICKSTART).is_file()


# --- a Binder image, built in a virtual environment --------------------------------------


def copy_repository(target: Path) -> None:
    """What repo2docker copies: the files git would clone (tracked, plus new files not
    ignored, since the lead commits them), or, outside git, the folder minus local state."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    if listed.returncode == 0 and listed.stdout:
        for name in filter(None, listed.stdout.split("\0")):
            source = ROOT / name
            skipped = any(Path(name).match(p) or p in Path(name).parts for p in NOT_COPIED)
            if source.is_file() and not skipped:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    else:
        shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*NOT_COPIED),
                        dirs_exist_ok=True)


def run(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> None:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, (f"{' '.join(command)} failed:\n"
                                  f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}")


@pytest.mark.slow
def test_a_binder_build_runs_the_quickstart_on_the_demo_backend(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("postBuild is a bash script (repo2docker images always have bash)")
    runner = notebook_runner()
    repo = tmp_path / "repo"
    copy_repository(repo)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")

    # No key, no deck settings (the clean setting of the notebook tests), and nothing from
    # this test run's own Python or Jupyter: the venv's tools come first on PATH.
    setting = runner.new_setting()
    try:
        env = setting.environment()
        for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "CONDA_PREFIX"):
            env.pop(name, None)
        env.update(VIRTUAL_ENV=str(venv), PATH=str(bin_dir) + os.pathsep + env.get("PATH", ""),
                   JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
                   JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"))

        # as repo2docker: requirements.txt, then postBuild, both from the repository root
        run([str(python), "-m", "pip", "install", "-r", "binder/requirements.txt"],
            cwd=repo, env=env, timeout=1200)
        run(["bash", "binder/postBuild"], cwd=repo, env=env, timeout=1200)

        nb = nbformat.read(repo / QUICKSTART, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
        nb.cells.append(nbformat.v4.new_code_cell(
            "import sys, llmdeck_nb\nprint(sys.prefix)\nprint(llmdeck_nb.__file__)"))
        runner.execute_notebook(nb, python=python, env=env, cwd=setting.cwd)  # raises on any error
    finally:
        setting.remove()

    outputs = ["".join(o.get("text", "")) + o.get("data", {}).get("text/plain", "")
               for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "\n".join(outputs)
    assert "llmdeck: profile auto, " in text and "backends available (demo" in text  # the load line
    footers = [line for line in text.splitlines() if " · via " in line]
    assert len(footers) >= 5, text[-3000:]
    assert all(" · via demo · " in line and "DEMO (no API key used)" in line
               for line in footers), footers
    assert any("from cache" in line for line in footers)
    prefix, module = outputs[-1].split()
    assert Path(prefix).resolve() == venv.resolve()
    assert Path(module).resolve().is_relative_to(venv.resolve())  # installed, not this checkout
