"""The public names of the package and of ``llmdeck_nb.errors`` are exactly their ``__all__``
(httpx's tests/test_exported_members.py is the model), and the error tree drawn at the top of
errors.py is the real class hierarchy, so the drawing cannot go stale."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import llmdeck_nb
from llmdeck_nb import errors

PACKAGE = Path(llmdeck_nb.__file__).parent
HEAVY = ("litellm", "pandas", "ipywidgets", "numpy", "httpx", "openai")


def _public(module: ModuleType) -> set[str]:
    """Names a user sees in ``module``: not private, not a submodule (those are modules of the
    package, not members), the dunders a package publishes on purpose."""
    return {
        name
        for name, value in vars(module).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, ModuleType)
    }


def test_package_all_has_no_duplicates_and_only_resolvable_names() -> None:
    assert len(set(llmdeck_nb.__all__)) == len(llmdeck_nb.__all__)
    for name in llmdeck_nb.__all__:
        assert getattr(llmdeck_nb, name) is not None, name


def test_package_public_names_are_exactly_all() -> None:
    for name in llmdeck_nb.__all__:  # the lazy names land in the namespace when first used
        getattr(llmdeck_nb, name)
    assert _public(llmdeck_nb) == set(llmdeck_nb.__all__)
    public_in_dir = {n for n in dir(llmdeck_nb) if not n.startswith("_") or n == "__version__"}
    submodules = {n for n in public_in_dir if isinstance(getattr(llmdeck_nb, n), ModuleType)}
    assert public_in_dir - submodules == set(llmdeck_nb.__all__)


def test_unknown_package_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Sesion'"):
        llmdeck_nb.Sesion  # noqa: B018


def test_fresh_import_binds_no_stray_public_name_and_stays_light() -> None:
    code = (
        "import sys, types, llmdeck_nb as p; "
        "print(sorted(n for n, v in vars(p).items() if not n.startswith('_') "
        "and not isinstance(v, types.ModuleType))); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); "
        "print(sorted(n for n in p.__all__ if n in dir(p)) == sorted(p.__all__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    eager = {"load_ipython_extension", "unload_ipython_extension"}
    assert out == [repr(sorted(eager)), "[]", "True"]


@pytest.mark.parametrize("name", llmdeck_nb.__all__)
def test_each_package_member_comes_from_a_public_module(name: str) -> None:
    member = getattr(llmdeck_nb, name)
    module = getattr(member, "__module__", None)
    if module is None:  # __version__: a plain string
        assert isinstance(member, str)
        return
    assert module == "llmdeck_nb" or module.startswith("llmdeck_nb.")
    assert not any(part.startswith("_") for part in module.split(".")), module
    assert getattr(importlib.import_module(module), name) is member


def test_deck_package_all_resolves_and_dir_lists_it_before_first_use() -> None:
    code = (
        "import llmdeck_nb.deck as d; "
        "print(sorted(set(d.__all__) - set(dir(d)))); "
        "print(sorted(n for n in d.__all__ if getattr(d, n, None) is None))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", "[]"]


# --- errors.py -------------------------------------------------------------------------


def _error_classes() -> dict[str, type[BaseException]]:
    """Every exception class errors.py binds (its own and the Pipelex aliases)."""
    return {name: value for name, value in vars(errors).items()
            if isinstance(value, type) and issubclass(value, BaseException)}


def _drawn_tree() -> dict[str, str | None]:
    """The tree in errors.py's docstring as {class: parent} (None for the root)."""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        root = re.fullmatch(r" {4}(\w+Error)\s.*", line)
        branch = re.match(r" {4}((?:[│ ]   )*)[├└]── (\w+)", line)
        if root and not branch:
            parents[root.group(1)] = None
            stack = [root.group(1)]
        elif branch:
            depth = len(branch.group(1)) // 4 + 1
            name = branch.group(2)
            assert name not in parents, f"{name} is drawn twice"
            del stack[depth:]
            parents[name] = stack[depth - 1]
            stack.append(name)
    return parents


def _drawn_aliases() -> dict[str, str]:
    return dict(re.findall(r"(\w+Error) = (\w+Error)", errors.__doc__ or ""))


def test_errors_all_is_sorted_unique_and_exactly_the_error_classes() -> None:
    assert errors.__all__ == sorted(set(errors.__all__), key=str.casefold)
    assert set(errors.__all__) == set(_error_classes())


def test_every_error_class_is_defined_in_errors_py_or_aliased_there() -> None:
    for name, cls in _error_classes().items():
        assert cls.__module__ == "llmdeck_nb.errors", name


def test_error_tree_in_the_docstring_is_the_class_hierarchy() -> None:
    drawn = _drawn_tree()
    aliases = _drawn_aliases()
    classes = _error_classes()
    own = {name for name, cls in classes.items() if cls.__name__ == name}
    assert set(drawn) == own, "draw every class of errors.py in its docstring, and only those"
    for name, parent in drawn.items():
        cls = classes[name]
        if parent is None:
            assert cls.__bases__ == (Exception,), name
        else:
            assert cls.__bases__ == (classes[parent],), f"{name} is drawn under {parent}"
    assert set(aliases) == set(classes) - own
    for alias, target in aliases.items():
        assert classes[alias] is classes[target], alias


def _package_sources() -> list[tuple[str, str]]:
    return [(str(path.relative_to(PACKAGE.parent)), path.read_text(encoding="utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))]


def test_every_error_llmdeck_nb_defines_is_in_the_tree() -> None:
    """No error class hides in another module: the tree is the whole hierarchy."""
    drawn = set(_drawn_tree())
    for path, text in _package_sources():
        for name, bases in re.findall(r"^class (\w+)\(([^)]*)\):", text, re.MULTILINE):
            if any(base.strip() in drawn for base in bases.split(",")):
                assert name in drawn, f"{path}: {name} subclasses an llmdeck_nb error"


# Branches that only group others: raising one tells a caller nothing it can catch narrowly.
GROUPING_ONLY = ("LLMDeckError", "DeckError", "ResolutionError", "CallError")


def test_every_error_the_package_makes_is_of_a_specific_class() -> None:
    pattern = re.compile(r"(?<![\w.])(" + "|".join(GROUPING_ONLY) + r")\(")
    made = [f"{path}: {name}(...)" for path, text in _package_sources()
            if not path.endswith("llmdeck_nb/errors.py") for name in pattern.findall(text)]
    assert made == []
