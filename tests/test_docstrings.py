"""Every public module, class, function and method of the package has a docstring.

Public: a module whose name has no leading underscore; in it, the names of its ``__all__`` (or,
without one, the names not starting with "_"), that it defines itself; in a public class, the
methods and properties it defines without a leading underscore (an override may rely on the
docstring of the method it overrides). The API reference of the
documentation site is generated from these docstrings (mkdocstrings, NumPy style).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import neuralnet

#: modules that only run the command line or a server: no API of their own
SKIPPED_MODULES = {"neuralnet.__main__"}


def _public_modules() -> list[str]:
    names = ["neuralnet"]
    for info in pkgutil.walk_packages(neuralnet.__path__, "neuralnet."):
        if not any(part.startswith("_") for part in info.name.split(".")) and info.name not in SKIPPED_MODULES:
            names.append(info.name)
    return sorted(names)


def _public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name in vars(module) if not name.startswith("_")]
    return [name for name in names if name in vars(module)]


def _defined_here(obj, module) -> bool:
    return (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", None) == module.__name__


def missing_docstrings(module_name: str) -> list[str]:
    """The public names of ``module_name`` without a docstring (``module.Class.method``)."""
    module = importlib.import_module(module_name)
    missing = [] if inspect.getdoc(module) else [module_name]
    for name in _public_names(module):
        obj = vars(module)[name]
        if not _defined_here(obj, module):
            continue
        if not (obj.__doc__ or "").strip():
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            for attribute, member in vars(obj).items():
                if attribute.startswith("_"):
                    continue
                function = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                if not (inspect.isfunction(function) or isinstance(member, property)):
                    continue
                # an override documented by the method it overrides counts (inspect.getdoc looks up the MRO)
                if not (inspect.getdoc(getattr(obj, attribute)) or "").strip():
                    missing.append(f"{module_name}.{name}.{attribute}")
    return missing


@pytest.mark.parametrize("module_name", _public_modules())
def test_every_public_name_has_a_docstring(module_name):
    assert missing_docstrings(module_name) == []


def test_the_check_itself_sees_a_missing_docstring(tmp_path, monkeypatch):
    (tmp_path / "undocumented_example.py").write_text(
        '"""A module."""\n__all__ = ["f", "C"]\ndef f():\n    pass\nclass C:\n    """A class."""\n'
        "    def method(self):\n        pass\n    def _private(self):\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert missing_docstrings("undocumented_example") == ["undocumented_example.f", "undocumented_example.C.method"]
