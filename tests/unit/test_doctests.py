"""The examples in the docstrings of every fenghuo module run and give what they show.

The stage folders (ingest/, detectors/, alerts/, api/) are installed as fenghuo.ingest and so on, so
the modules are imported by their installed names (pytest's --doctest-modules would import them a
second time under their folder names).
"""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.support import fenghuo_modules

SKIP = ("fenghuo.__main__", "fenghuo.demo.make_demo_data")  # scripts: they run on import


def _modules() -> list[str]:
    return sorted(name for name in fenghuo_modules() if not name.startswith(SKIP))


def _with_examples() -> list[str]:
    finder = doctest.DocTestFinder()
    out = []
    for name in _modules():
        module = importlib.import_module(name)
        if any(t.examples for t in finder.find(module, name)):
            out.append(name)
    return out


MODULES = _with_examples()


def test_the_doctests_are_found() -> None:
    assert len(MODULES) > 60  # a package that stopped being walked would quietly lose its examples


@pytest.mark.parametrize("name", MODULES)
def test_doctest(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name} (run it with -s)"
