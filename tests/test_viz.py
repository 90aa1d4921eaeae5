"""ag.viz: DOT text of Value and Tensor graphs, rendering, and the chain-rule trace `explain`."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini import viz

HAVE_DOT = shutil.which("dot") is not None
finite = st.floats(-3, 3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


def _leaf_grads(text: str) -> dict[str, tuple[str, str]]:
    """{name: (gradient explain computed, .grad as printed)} from the closing section."""
    rows = re.findall(r"^    d\(\S+?\)/d\((\w+)\) = (.+?)   \(\w+\.grad = (.+)\)$", text, re.M)
    return {name: (mine, grad) for name, mine, grad in rows}


def _dot_ok(dot: str) -> None:
    """The DOT text is well formed: every edge joins declared nodes (and dot accepts it)."""
    assert dot.startswith("digraph autograd {") and dot.rstrip().endswith("}")
    declared = set(re.findall(r"^  (\w+) \[", dot, re.M))
    for a, b in re.findall(r"^  (\w+) -> (\w+)", dot, re.M):
        assert a in declared and b in declared, (a, b)
    if HAVE_DOT:
        proc = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()


# --------------------------------------------------------------------------- explain: Value


def test_explain_value_squared_error_names_each_step():
    w, x, y = ag.Value(2.0), ag.Value(4.0), ag.Value(5.0)
    error = w * x - y  # 3
    loss = error**2  # 9
    loss.backward()
    text = viz.explain(loss, names={"w": w, "x": x, "y": y, "error": error, "loss": loss})
    assert "[1] loss = error**2 = 9.0" in text
    assert "local d(error**2)/d(error) = 2*error = 6.0" in text
    assert "d(loss)/d(error) += g * local = 1.0 * 6.0 = 6.0" in text
    assert "[2] error = w*x - y = 3.0" in text
    assert "d(loss)/d(y) += g * local = 6.0 * -1.0 = -6.0" in text
    assert "local d(w*x)/d(w) = x = 4.0" in text
    assert "d(loss)/d(w) += g * local = 6.0 * 4.0 = 24.0" in text
    assert _leaf_grads(text) == {
        "w": ("24.0", "24.0"),
        "x": ("12.0", "12.0"),
        "y": ("-6.0", "-6.0"),
    }
    # Steps run output first: loss, then error, then w*x.
    assert text.index("[1] loss") < text.index("[2] error") < text.index("[3] w*x")


def test_explain_uses_locals_and_skips_private_names():
    w = ag.Value(2.0)
    _hidden = w  # noqa: F841 - an IPython-style private name must not win
    loss = (w * 3.0 - 1.0) ** 2
    loss.backward()
    text = viz.explain(loss, names=locals())
    assert "d(loss)/d(w) = 30.0   (w.grad = 30.0)" in text
    assert "_hidden" not in text


def test_explain_value_unnamed_gets_generated_names_and_root_out():
    a, b = ag.Value(3.0), ag.Value(-2.0)
    out = a * b + a
    out.backward()
    text = viz.explain(out)
    assert text.startswith("Backward pass of out = -3.0")
    # Leaves are numbered in the order they are first used.
    assert _leaf_grads(text) == {"v1": ("-1.0", "-1.0"), "v2": ("3.0", "3.0")}


def test_explain_node_used_twice_gets_both_contributions():
    a = ag.Value(3.0, label="a")
    out = a * a
    out.backward()
    text = viz.explain(out)
    assert text.count("d(out)/d(a) += g * local = 1.0 * 3.0 = 3.0") == 2
    assert _leaf_grads(text) == {"a": ("6.0", "6.0")}


@pytest.mark.parametrize(
    "make, definition, local",
    [
        (lambda x: 2 * x, "2.0*x", "2.0"),
        (lambda x: x * 2, "2.0*x", "2.0"),
        (lambda x: x + 1, "x + 1.0", "1.0"),
        (lambda x: x - 3, "x - 3.0", "1.0"),
        (lambda x: 3 - x, "3.0 - x", "-1.0"),
        (lambda x: x / 4, "x/4.0", "1/4.0 = 0.25"),
        (lambda x: 4 / x, "4.0/x", "-4.0/x**2 = -1.0"),
        (lambda x: x**3, "x**3", "3*x**2 = 12.0"),
        (lambda x: 2**x, "2.0**x", "2.0**x*log(2.0) = 2.77259"),
        (lambda x: x.tanh(), "tanh(x)", "1 - tanh(x)**2 = 0.0706508"),
        (lambda x: x.exp(), "exp(x)", "exp(x) = 7.38906"),
        (lambda x: x.log(), "log(x)", "1/x = 0.5"),
        (lambda x: x.relu(), "relu(x)", "1 if x > 0 else 0 = 1.0"),
        (lambda x: -x, "-x", "-1.0"),
        (lambda x: x.sigmoid(), "sigmoid(x)", "sigmoid(x)*(1 - sigmoid(x)) = 0.104994"),
    ],
)
def test_explain_value_ops_with_a_python_number(make, definition, local):
    x = ag.Value(2.0, label="x")
    out = make(x)
    out.backward()
    text = viz.explain(out)
    assert f"[1] out = {definition} = " in text
    assert f"-> x: local d({definition})/d(x) = {local}" in text
    mine, grad = _leaf_grads(text)["x"]
    assert mine == grad and math.isclose(float(mine), x.grad, rel_tol=1e-5)


@settings(max_examples=40, deadline=None)
@given(w=finite, x=finite, y=finite)
def test_explain_value_matches_closed_form_and_backward(w, x, y):
    wv, xv, yv = ag.Value(w, label="w"), ag.Value(x, label="x"), ag.Value(y, label="y")
    loss = (wv * xv - yv) ** 2
    loss.backward()
    grads = _leaf_grads(viz.explain(loss))
    expect = {"w": 2 * (w * x - y) * x, "x": 2 * (w * x - y) * w, "y": -2 * (w * x - y)}
    for name, value in expect.items():
        mine, grad = grads[name]
        assert mine == grad
        assert math.isclose(float(mine), value, rel_tol=1e-5, abs_tol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    vals=st.lists(st.floats(0.2, 2.0), min_size=3, max_size=3),
    ops=st.lists(
        st.sampled_from(["+", "-", "*", "/", "tanh", "exp", "sq"]), min_size=1, max_size=6
    ),
)
def test_explain_value_random_graphs_agree_with_backward(vals, ops):
    leaves = [ag.Value(v, label=f"p{i}") for i, v in enumerate(vals)]
    out = leaves[0]
    for i, op in enumerate(ops):
        other = leaves[(i + 1) % 3]
        if op == "+":
            out = out + other
        elif op == "-":
            out = out - other
        elif op == "*":
            out = out * other
        elif op == "/":
            out = out / other
        elif op == "tanh":
            out = out.tanh()
        elif op == "exp":
            out = (out * 0.1).exp()
        else:
            out = out**2
    out.backward()
    for name, (mine, grad) in _leaf_grads(viz.explain(out)).items():
        assert mine == grad, name


# --------------------------------------------------------------------------- explain: Tensor


def test_explain_tensor_scalar_graph_reads_like_the_value_one():
    w = ag.tensor(2.0, requires_grad=True)
    x, y = ag.tensor(4.0), ag.tensor(5.0)
    error = w * x - y
    loss = error**2
    loss.backward(retain_graph=True)
    text = viz.explain(loss, names=locals())
    assert "[1] loss = error**2 = 9.0" in text
    assert "local d(error**2)/d(error) = 2*error = 6.0" in text
    assert "d(loss)/d(w) += g * local = 6.0 * 4.0 = 24.0" in text
    # x and y are data (no grad): they appear in expressions but get no gradient line.
    assert "d(loss)/d(x)" not in text
    assert _leaf_grads(text) == {"w": ("24.0", "24.0")}


def test_explain_tensor_before_backward_works_and_changes_nothing():
    w = ag.tensor([1.0, -2.0], requires_grad=True)
    loss = (w * w).sum()
    text = viz.explain(loss, names={"w": w, "loss": loss})
    assert w.grad is None  # explain computes its own gradients, it does not accumulate
    assert "d(loss)/d(w) = [2., -4.]   (w.grad = None)" in text
    loss.backward()
    assert np.array_equal(w.grad.data, [2.0, -4.0])


def test_explain_tensor_two_layer_net_agrees_with_backward():
    ag.manual_seed(0)
    X, target = ag.randn(4, 3), ag.randn(4, 1)
    W1 = ag.randn(3, 2, requires_grad=True)
    b1 = ag.zeros(2, requires_grad=True)
    W2 = ag.randn(2, 1, requires_grad=True)
    h = (X @ W1 + b1).relu()
    pred = h @ W2
    loss = ((pred - target) ** 2).mean()
    loss.backward(retain_graph=True)
    text = viz.explain(loss, names=locals(), max_elements=10)
    assert "d(loss)/d(W2) += h.T @ g = " in text
    assert "d(loss)/d(h) += g @ W2.T = " in text
    assert "g / 4, copied to each of the 4 elements averaged" in text
    assert "summed over the broadcast axes to shape (2,)" in text  # b1 was broadcast
    assert "local d(relu(X @ W1 + b1))/d(X @ W1 + b1) = 1 if X @ W1 + b1 > 0 else 0" in text
    grads = _leaf_grads(text)
    assert set(grads) == {"W1", "b1", "W2"}
    for name, (mine, grad) in grads.items():
        assert mine == grad, name
    assert grads["W2"][0] == viz._arr(W2.grad.data, 10)


def test_explain_tensor_user_function():
    class Cube(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2

    x = ag.tensor([1.0, 2.0], requires_grad=True)
    out = Cube.apply(x).sum()
    out.backward(retain_graph=True)
    text = viz.explain(out, names={"x": x})
    assert "-> x: d(out)/d(x) += Cube.backward(g)[0] = [3., 12.]" in text
    assert _leaf_grads(text) == {"x": ("[3., 12.]", "[3., 12.]")}


def test_explain_tensor_errors():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * 2).sum()
    loss.backward()  # frees the graph
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.explain(loss)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        viz.explain(w * 2)
    with pytest.raises(RuntimeError, match="does not require grad"):
        viz.explain(ag.tensor(1.0) * 2)
    with pytest.raises(TypeError, match="explain: expected an ag.Value or ag.Tensor, got float"):
        viz.explain(3.0)
    with pytest.raises(TypeError, match="names must be a mapping"):
        viz.explain(ag.Value(1.0), names=["w"])
    with pytest.raises(ValueError, match="max_elements"):
        viz.explain(ag.Value(1.0), max_elements=0)


# --------------------------------------------------------------------------- to_dot


def test_to_dot_value_graph():
    w, x = ag.Value(2.0, label="w"), ag.Value(4.0, label="x")
    loss = (w * x - 5) ** 2
    loss.backward()
    dot = viz.to_dot(loss, names={"loss": loss})
    _dot_ok(dot)
    # Three values that are nodes (w, x, w*x, w*x - 5, loss) and three ops.
    assert len(re.findall(r"shape=box", dot)) == 5
    assert len(re.findall(r"shape=ellipse", dot)) == 3
    assert len(re.findall(r" -> ", dot)) == 3 + 4  # op -> value, value -> op
    assert 'label="w\\ndata 2.0\\ngrad 24.0"' in dot
    assert 'label="loss\\ndata 9.0\\ngrad 1.0"' in dot
    assert 'label="- 5.0"' in dot  # the constant is shown on the op
    assert 'label="**2"' in dot


def test_to_dot_tensor_graph_summarises_big_tensors():
    x = ag.tensor(np.arange(100.0).reshape(10, 10))
    W = ag.tensor(np.full((10, 3), 0.5), requires_grad=True)
    b = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = (x @ W + b).sum()
    out.backward(retain_graph=True)
    dot = viz.to_dot(out, names=locals())
    _dot_ok(dot)
    assert "matmul" in dot and "add" in dot and "sum" in dot
    assert "shape (10, 10) float64" in dot
    assert "data min 0, mean 49.5, max 99" in dot  # 100 numbers summarised
    assert "99." not in dot
    # W.grad = x.T @ ones: row j holds the column sum of x, 450 + 10 j.
    assert "grad min 450, mean 495, max 540" in dot
    assert "grad 10.0 everywhere" not in dot and "grad [10., 10., 10.]" in dot  # b.grad
    assert "(no grad)" in dot  # x is data
    assert "c" in re.findall(r"^  (\w)\d+ \[shape=box, style=\"dashed\"", dot, re.M)


def test_to_dot_after_backward_without_retain_graph_still_draws_structure():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    out = (w.exp() * 3).sum()
    out.backward()
    dot = viz.to_dot(out)
    _dot_ok(dot)
    assert "values freed by backward" in dot
    assert dot.count("shape=ellipse") == 3  # exp, mul, sum


def test_to_dot_escapes_quotes_and_backslashes():
    a = ag.Value(1.0, label='a"b\\c')
    out = a * 2
    dot = viz.to_dot(out)
    assert 'label="a\\"b\\\\c\\ndata 1.0' in dot
    _dot_ok(dot)


def test_to_dot_is_iterative_on_a_deep_chain():
    v = ag.Value(1.0)
    for _ in range(20_000):
        v = v + 1.0
    dot = viz.to_dot(v)
    assert dot.count("shape=ellipse") == 20_000


def test_to_dot_rejects_bad_arguments():
    with pytest.raises(TypeError, match="to_dot"):
        viz.to_dot(np.zeros(3))
    with pytest.raises(ValueError, match="rankdir"):
        viz.to_dot(ag.Value(1.0), rankdir="XY")


# --------------------------------------------------------------------------- draw


def _small_graph():
    w = ag.Value(2.0, label="w")
    loss = (w * 3 - 1) ** 2
    loss.backward()
    return loss


def test_draw_dot_text_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    loss = _small_graph()
    p = viz.draw(loss, tmp_path / "g.dot")
    assert p.read_text() == viz.to_dot(loss)
    assert [f.name for f in tmp_path.iterdir()] == ["g.dot"]  # no temp file left behind


def test_draw_without_graphviz_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"Graphviz 'dot'.*apt-get install graphviz"):
        viz.draw(_small_graph(), tmp_path / "g.svg")
    assert not list(tmp_path.iterdir())


def test_draw_rejects_unknown_format_and_missing_directory(tmp_path):
    with pytest.raises(ValueError, match="draw: cannot tell the format"):
        viz.draw(_small_graph(), tmp_path / "g.jpeg")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.draw(_small_graph(), tmp_path / "nope" / "g.dot")


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in for dot is a shell script")
def test_draw_gives_up_on_a_layout_that_takes_too_long(tmp_path, monkeypatch):
    # Graphviz never finishes a big graph (a whole batch through micrograd's MLP): a clear
    # error after `timeout` seconds, not a hang. A stand-in 'dot' that sleeps plays it here.
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match=r"did not finish laying out \d+ nodes within 0.5 s"):
        viz.draw(_small_graph(), out_dir / "g.svg", timeout=0.5)
    assert time.perf_counter() - start < 30
    assert not list(out_dir.iterdir())
    for bad in (0, -1.0, "10"):
        with pytest.raises(ValueError, match="timeout must be a positive number"):
            viz.draw(_small_graph(), out_dir / "g.svg", timeout=bad)


@pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not installed")
def test_draw_renders_svg_and_png(tmp_path):
    loss = _small_graph()
    svg = viz.draw(loss, tmp_path / "g.svg")
    assert "<svg" in svg.read_text() and "grad 30.0" in svg.read_text()
    png = viz.draw(loss, str(tmp_path / "g.png"))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tensor_numbers_keep_four_significant_digits_and_small_values_show():
    # Fixed decimals printed -9.977e-06 as -0. beside -0.004023: a gradient that is small
    # is not a gradient that is zero.
    a = ag.tensor([2.0, 1.0], requires_grad=True)
    b = ag.tensor([[-3.0], [0.5]], requires_grad=True)
    loss = (a * b + 10.0).tanh().sum()
    loss.backward(retain_graph=True)
    text = ag.viz.explain(loss)
    assert "t1.grad = [-0.004023, -9.977e-06]" in text
    assert "[[0.002685], [5.265e-09]]" in text


def test_a_constant_on_the_left_is_drawn_on_the_left():
    # 2 - x is "2.0 -", x - 2 is "- 2.0": the op's label reads in the order of the operands.
    x = ag.Value(3.0)
    labels = {}
    for name, expr in {"2-x": 2 - x, "x-2": x - 2, "3/x": 3 / x, "2**x": 2**x}.items():
        dot = ag.viz.to_dot(expr)
        labels[name] = re.search(r"shape=ellipse, label=\"([^\"]*)\"", dot).group(1)
    assert labels == {"2-x": "2.0 -", "x-2": "- 2.0", "3/x": "3.0 /", "2**x": "2.0 **"}


def test_a_keyword_tuple_is_written_with_its_parentheses():
    # `shape=2, 1` would read as two arguments; an index keeps NumPy's bare form.
    x = ag.tensor([[1.0, 2.0]], requires_grad=True)
    text = viz.explain((x.reshape(2, 1)[0:1, 0].sum(axis=(0,)) * 2).sum())
    assert "t1.reshape(shape=(2, 1))" in text
    assert "[0:1, 0]" in text and "sum(axis=(0,))" in text
