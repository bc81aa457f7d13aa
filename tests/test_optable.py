"""docs/ops.md is generated from the op table and the facade's catalog: it must be current."""

from pathlib import Path

from chainrule.numpy import _CATALOG
from chainrule.tools import optable

DOC = Path(__file__).resolve().parents[1] / "docs" / "ops.md"


def test_committed_ops_table_is_up_to_date():
    assert DOC.read_text() == optable.render(), (
        "docs/ops.md is out of date: run `python -m chainrule.tools.optable > docs/ops.md`")


def test_the_table_lists_every_differentiable_function_with_both_modes():
    page = optable.render()
    for name, entry in _CATALOG.items():
        if entry.kind in ("primitive", "composite"):
            assert f"| `{name}` | {entry.kind} |" in page
    assert "| no |" not in page.split("## Primitives")[0]    # every function: fwd and rev
