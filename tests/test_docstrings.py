"""Every docstring example in the engine's public modules runs and prints what it says."""

import doctest
import importlib

import pytest

ENGINE_MODULES = [
    "chainrule", "chainrule.core.tensor", "chainrule.core.modes", "chainrule.transforms",
    "chainrule.check", "chainrule.numpy", "chainrule.ops._primitive", "chainrule.ops.batching",
]


@pytest.mark.parametrize("name", ENGINE_MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failed == 0
    if name in ("chainrule.transforms", "chainrule.check"):
        assert attempted >= 5
