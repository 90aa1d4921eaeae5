"""The notebooks are committed executed, cleanly and in order, with their checks in code.

Executing them is the job of `pytest --nbmake notebooks` (CI runs it); this file checks what
was committed, so a notebook saved half-run, with an error, or without outputs is caught even
where the notebook dependencies are not installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import autograd_mini.data

# The repository root, found from the package (tests may run from any directory).
ROOT = Path(autograd_mini.data.__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "01_derivatives_and_gradients.ipynb",
    "02_chain_rule_and_backprop.ipynb",
    "03_gradient_descent.ipynb",
    "04_autodiff_vs_numerical.ipynb",
    "05_digits_mlp.ipynb",
]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def test_all_five_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_committed_executed_in_order_without_errors(path):
    nb = _load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "no code cells"
    # Run once, top to bottom, from a fresh kernel: counts 1, 2, 3, ...
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    for c in code:
        for out in c["outputs"]:
            assert out["output_type"] != "error", (path.name, out.get("ename"), out.get("evalue"))
            if out["output_type"] == "stream":
                assert out["name"] != "stderr" or "Warning" not in "".join(out["text"]), (
                    path.name,
                    "".join(out["text"]),
                )
    # Something to look at: every notebook prints results and draws at least one picture.
    kinds = {k for c in code for o in c["outputs"] for k in o.get("data", {})}
    assert "image/png" in kinds or "image/svg+xml" in kinds


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_asserts_its_claims_and_needs_no_network(path):
    code = "\n".join(_source(c) for c in _load(path)["cells"] if c["cell_type"] == "code")
    assert len(re.findall(r"^\s*assert ", code, re.M)) >= 8
    assert not re.search(r"https?://|urllib|requests\b|socket", code)
    # Plots are drawn headless (inline, Agg-based), never in a window.
    assert "%matplotlib inline" in code
    assert not re.search(r"matplotlib\.use\(\s*['\"](?!Agg)", code)
