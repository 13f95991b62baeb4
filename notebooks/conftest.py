"""The notebooks run offline, in a clean setting, under nbval; and how to regenerate them.

``python -m pytest`` runs every notebook here with nbval (``--nbval``, set in pyproject.toml):
each cell is executed and its outputs are compared with the outputs stored in the notebook,
after the substitutions listed in ``sanitize.cfg`` (times, latencies, ids, paths).

For that comparison to hold on any machine, each notebook's kernel starts in the same clean
setting, whatever the developer's environment holds:

* no provider credentials or endpoints: every variable the packaged deck reads (each
  ``${VAR}`` in its TOML files), every ``*_API_KEY`` and every ``LLMDECK_*`` variable is
  removed, so the ``auto`` routing profile sends everything to the offline demo backend;
* ``LLMDECK_CACHE_DIR`` is a new, empty folder for each notebook: the response cache and the
  call log start empty, so a run never depends on the one before;
* the kernel runs in an empty working folder (no ``.env``, ``.llmdeck/`` or ``.pipelex/`` next
  to it, so the packaged deck is the one loaded), with an empty ``IPYTHONDIR`` (no startup
  files or ``%config`` from a profile).

After editing a notebook, store it again with fresh outputs, produced in that same setting::

    python notebooks/conftest.py                      # every notebook here
    python notebooks/conftest.py notebooks/01_quickstart.ipynb

The machine-specific paths in the outputs (the temporary folders above, the package's folder)
are replaced by the stand-ins of sanitize.cfg's ``[stored paths]`` rules before saving.

tests/test_binder.py and tests/test_notebooks_live_key.py run notebooks with
:func:`execute_notebook` from this file too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SANITIZE_FILE = HERE / "sanitize.cfg"
#: prefix of the temporary folders below; sanitize.cfg recognises paths by it
TEMP_PREFIX = "llmdeck-nb-"
#: cell execution timeout, seconds (the demo backend answers in milliseconds)
CELL_TIMEOUT = 120


# --- the clean setting ----------------------------------------------------------------------


def deck_variables() -> set[str]:
    """Every environment variable the packaged deck reads (``${VAR}``, ``${env:A|env:B}``,
    ``${VAR:-default}``), found in its TOML files so that a new backend is covered too."""
    from llmdeck_nb.deck.locate import PACKAGED_DECK_DIR

    names: set[str] = set()
    for path in PACKAGED_DECK_DIR.rglob("*.toml"):
        for reference in re.findall(r"\$\{([^}]*)\}", path.read_text(encoding="utf-8")):
            for alternative in reference.split("|"):
                name = alternative.split(":-", 1)[0].strip().removeprefix("env:")
                if name.isidentifier():
                    names.add(name)
    return names


def is_setting_variable(name: str, deck_names: set[str]) -> bool:
    """True for a variable that could change what the notebooks show."""
    return name in deck_names or name.endswith("_API_KEY") or name.startswith("LLMDECK_")


def clean_environment(base: Mapping[str, str], state_dir: Path,
                      ipython_dir: Path) -> dict[str, str]:
    deck_names = deck_variables()
    env = {name: value for name, value in base.items() if not is_setting_variable(name, deck_names)}
    env["LLMDECK_CACHE_DIR"] = str(state_dir)
    env["LLMDECK_KEYS_DIR"] = str(state_dir / "keys")  # no key store: the user's is not read
    env["IPYTHONDIR"] = str(ipython_dir)
    return env


@dataclass(frozen=True)
class Setting:
    """The folders of one notebook run: ``state`` (LLMDECK_CACHE_DIR), ``cwd``, ``ipython``."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def cwd(self) -> Path:
        return self.root / "cwd"

    @property
    def ipython(self) -> Path:
        return self.root / "ipython"

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        return clean_environment(os.environ if base is None else base, self.state, self.ipython)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def new_setting() -> Setting:
    setting = Setting(Path(tempfile.mkdtemp(prefix=TEMP_PREFIX)))
    for folder in (setting.state, setting.cwd, setting.ipython):
        folder.mkdir()
    return setting


@contextlib.contextmanager
def environment_replaced(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is ``env`` inside the block (a kernel started there inherits it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# --- nbval: start each notebook's kernel in a clean setting ---------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # nbval opens --nbval-sanitize-with relative to the current folder: default to ours,
    # wherever pytest is started from.
    if getattr(config.option, "nbval_sanitize_with", "unset") is None:
        config.option.nbval_sanitize_with = str(SANITIZE_FILE)


def _nbval_file(node: Any) -> Any:
    try:
        from nbval.plugin import IPyNbFile
    except ImportError:  # nbval not installed: nothing to do
        return None
    return node if isinstance(node, IPyNbFile) else None


@contextlib.contextmanager
def _kernels_start_in(cwd: Path) -> Iterator[None]:
    """nbval starts kernels in the notebook's folder; start them in ``cwd`` instead."""
    import nbval.plugin

    original = nbval.plugin.RunningKernel

    def running_kernel(*args: Any, **kwargs: Any) -> Any:
        kwargs["cwd"] = str(cwd)
        return original(*args, **kwargs)

    nbval.plugin.RunningKernel = running_kernel
    try:
        yield
    finally:
        nbval.plugin.RunningKernel = original


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    notebook = _nbval_file(item.parent)
    if notebook is None or notebook.kernel is not None:  # not a notebook, or its kernel runs
        yield
        return
    # The notebook's first cell: nbval starts the kernel during this setup.
    setting = new_setting()
    item.config.add_cleanup(setting.remove)
    with environment_replaced(setting.environment()), _kernels_start_in(setting.cwd):
        yield


# --- executing a notebook outside nbval (regeneration, Binder and live-key tests) -----------


def kernel_manager(python: str | os.PathLike[str] = sys.executable) -> Any:
    """A kernel manager whose kernel is ``python -m ipykernel_launcher`` (no kernelspec
    lookup, so another installed "python3" kernel cannot be picked by mistake)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpec(argv=[str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                      display_name="Python 3 (ipykernel)", language="python")

    class OnePython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            return spec

    return KernelManager(kernel_name="python3", kernel_spec_manager=OnePython())


def execute_notebook(nb: Any, *, python: str | os.PathLike[str] = sys.executable,
                     env: Mapping[str, str], cwd: Path, allow_errors: bool = False) -> Any:
    """Execute ``nb`` (a NotebookNode, changed in place and returned) in a kernel of
    ``python`` with the environment ``env``, in the folder ``cwd``."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, km=kernel_manager(python), timeout=CELL_TIMEOUT,
                            allow_errors=allow_errors, record_timing=False,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=dict(env))
    return nb


def sanitize_rules(section_prefix: str | None = None) -> list[tuple[str, str]]:
    """``(regex, replacement)`` pairs of sanitize.cfg, in order; only those under a
    ``[section]`` whose name starts with ``section_prefix`` when it is given."""
    rules: list[tuple[str, str]] = []
    section = ""
    regex: str | None = None
    for line in SANITIZE_FILE.read_text(encoding="utf-8").splitlines():
        if line.startswith("["):
            section = line.strip("[] ")
        elif line.startswith("regex: "):
            regex = line[len("regex: "):]
        elif line.startswith("replace: ") and regex is not None:
            if section_prefix is None or section.startswith(section_prefix):
                rules.append((regex, line[len("replace: "):]))
            regex = None
    return rules


def replace_in_outputs(nb: Any, rules: list[tuple[str, str]]) -> None:
    """Apply ``rules`` to every text output of ``nb`` (stream text and text MIME data)."""

    def fix(text: Any) -> Any:
        if isinstance(text, list):
            text = "".join(text)
        if not isinstance(text, str):
            return text
        for regex, replacement in rules:
            text = re.sub(regex, replacement, text)
        return text

    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = fix(output["text"])
            for mime, value in output.get("data", {}).items():
                if isinstance(value, (str, list)) and not mime.startswith("image/"):
                    output["data"][mime] = fix(value)


def regenerate(path: Path) -> None:
    """Execute the notebook at ``path`` in the clean setting and store it with its outputs."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    setting = new_setting()
    try:
        execute_notebook(nb, env=setting.environment(), cwd=setting.cwd)
    finally:
        setting.remove()
    replace_in_outputs(nb, sanitize_rules("stored paths"))
    nbformat.validate(nb)
    nbformat.write(nb, path)


def main(argv: list[str]) -> int:
    paths = [Path(arg) for arg in argv] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"executing {path} ...", flush=True)
        regenerate(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
