"""Look inside a graph: Graphviz drawings (`to_dot`, `draw`) and chain-rule traces (`explain`).

Both work on the scalar engine (`Value`: walk `_prev`, read `_op` and the local derivatives
`_local`) and on the tensor engine (`Tensor`: walk `_node`, a `Node` with `.op`, `.inputs`,
`.edges`). A Tensor graph keeps its inputs only until a backward frees them, so call
`loss.backward(retain_graph=True)` (or draw/explain before the backward) to see values and
the local derivatives; after a plain `backward()` `to_dot` still draws the structure.

Names: pass `names=locals()` (or any mapping of name -> Value/Tensor) and the drawing and the
trace use your variable names; otherwise a `Value.label`, a short expression such as
`w*x - y`, or a generated name (`v3`, `t3`) is used.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .engine import Node, no_grad, unbroadcast
from .serialization import write_atomic
from .tensor import Tensor
from .value import Value

__all__ = ["to_dot", "draw", "explain"]

# A generated expression longer than this is replaced by a short generated name.
_MAX_EXPR = 20

# --------------------------------------------------------------------------- formatting


def _num(x: Any) -> str:
    """A number as people write it: 6.0, 0.25, 1.23457e-08."""
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == int(x) and abs(x) < 1e15:
        return f"{x:.1f}"
    return f"{x:.6g}"


def _sig4(v: float) -> str:
    """A float to four significant digits, NumPy style: 2., 0.25, -9.977e-06."""
    s = f"{v:.4g}"
    return s + "." if s.lstrip("-").isdigit() else s


def _arr(a: Any, max_elements: int, oneline: bool = True, shape: bool = True) -> str:
    """An array in full when small, else a one-line summary (shape, min, mean, max)."""
    a = np.asarray(a)
    if a.size == 1:
        v = a.reshape(())[()]
        return _num(v) if a.dtype.kind in "fiu" else str(v)
    if a.size == 0:
        return f"empty array of shape {a.shape}"
    if a.size <= max_elements:
        if a.dtype.kind == "b":
            text = np.array2string(a, separator=", ")
        else:
            # Four significant digits, never rounded to 0: a gradient of 1e-5 beside one of
            # 4e-3 is small, not zero.
            fmt = {"float_kind": _sig4}
            text = np.array2string(a, separator=", ", formatter=fmt)
        return re.sub(r"\n\s*", " ", text) if oneline else text
    flat = a.reshape(-1)
    where = f" (shape {a.shape})" if shape else ""
    if bool((flat == flat[0]).all()):
        v = flat[0]
        return f"{_num(v) if a.dtype.kind in 'fiu' else v} everywhere{where}"
    if a.dtype.kind in "fiu":
        af = a.astype(np.float64)
        lo, mid, hi = (f"{v:.4g}" for v in (af.min(), af.mean(), af.max()))
        return f"min {lo}, mean {mid}, max {hi}{where}"
    return f"{a.dtype} array{where}"


def _shape_text(t: Tensor) -> str:
    return f"{'scalar' if t.ndim == 0 else 'shape ' + str(t.shape)} {t.dtype}"


def _attr_text(v: Any) -> str:
    if isinstance(v, slice):
        parts = ["" if p is None else str(p) for p in (v.start, v.stop, v.step)]
        return ":".join(parts[:2]) + (f":{parts[2]}" if v.step is not None else "")
    if v is Ellipsis:
        return "..."
    if isinstance(v, tuple):
        return ", ".join(_attr_text(i) for i in v) or "()"
    if isinstance(v, np.ndarray):
        s = np.array2string(v, separator=", ", threshold=6)
        return s if len(s) <= 30 else f"<index array {v.shape}>"
    if isinstance(v, np.dtype):
        return str(v)
    return repr(v)


def _attrs_text(attrs: Mapping[str, Any] | None) -> str:
    if not attrs:
        return ""
    return ", ".join(
        f"{k}={_kw_text(v)}" for k, v in attrs.items() if v is not None and v is not False
    )


def _kw_text(v: Any) -> str:
    # A keyword's tuple value keeps its parentheses: `reshape(shape=(2, 1))`, not `shape=2, 1`
    # (an index, `x[0:1, 0]`, is written without them).
    if isinstance(v, tuple) and len(v) == 1:
        return f"({_attr_text(v[0])},)"
    return f"({_attr_text(v)})" if isinstance(v, tuple) and v else _attr_text(v)


# --------------------------------------------------------------------------- expressions
# Each generated expression carries a precedence so it is parenthesised only where needed:
# add/sub 1, mul/div/matmul 2, unary minus 3, power 4, atoms (names, calls) 9.


def _prec(s: str) -> int:
    depth = 0
    low = 9
    i = 0
    while i < len(s):
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0:
            if s.startswith(" + ", i) or s.startswith(" - ", i):
                return 1
            if s.startswith("**", i):
                low = min(low, 4)
                i += 2
                continue
            if c in "*/@":
                low = min(low, 2)
            elif c == "-" and i == 0:
                low = min(low, 3)
            elif c in "<>=" or s.startswith(" if ", i):
                return 0
        i += 1
    return low


def _p(s: str, need: int) -> str:
    """`s` in parentheses unless it binds at least as tightly as `need`."""
    return s if _prec(s) >= need else f"({s})"


def _expr(kind: str, a: list[str], attrs: Mapping[str, Any] | None = None) -> str:
    """How a node is written in terms of its inputs' names: `w*x - y`, `exp(z)`, ..."""
    at = _attrs_text(attrs)
    if kind == "add":
        return f"{_p(a[0], 1)} + {_p(a[1], 2)}"
    if kind == "sub":
        return f"{_p(a[0], 1)} - {_p(a[1], 2)}"
    if kind == "mul":
        return f"{_p(a[0], 2)}*{_p(a[1], 3)}"
    if kind == "div":
        return f"{_p(a[0], 2)}/{_p(a[1], 3)}"
    if kind == "matmul":
        return f"{_p(a[0], 2)} @ {_p(a[1], 3)}"
    if kind == "pow":
        return f"{_p(a[0], 9)}**{_p(a[1], 9)}"
    if kind == "neg":
        return f"-{_p(a[0], 4)}"
    if kind in ("getitem", "take"):
        return f"{_p(a[0], 9)}[{_attr_text(attrs['idx']) if attrs else ''}]"
    if kind in ("sum", "mean", "max", "min", "logsumexp", "reshape", "transpose", "expand"):
        return f"{_p(a[0], 9)}.{kind}({at})"
    if kind == "copy":
        return f"{_p(a[0], 9)}.clone()"
    if kind == "astype":
        return f"{_p(a[0], 9)}.astype({at})"
    if kind == "concatenate":
        return f"concatenate([{', '.join(a)}], {at})"
    return f"{kind}({', '.join(a)}{', ' + at if at else ''})"


def _local(kind: str, a: list[str], i: int, attrs: Mapping[str, Any] | None) -> str | None:
    """The local derivative d(node)/d(input i), written with the inputs' names."""
    x = a[0]
    if kind == "add":
        return "1"
    if kind == "sub":
        return "1" if i == 0 else "-1"
    if kind == "mul":
        return a[1 - i]
    if kind == "div":
        return f"1/{_p(a[1], 3)}" if i == 0 else f"-{_p(a[0], 3)}/{_p(a[1], 9)}**2"
    if kind == "pow":
        n = a[1]
        if i == 1:
            return f"{_p(x, 9)}**{_p(n, 9)}*log({x})"
        try:
            nv = float(n)
        except ValueError:
            return f"{_p(n, 2)}*{_p(x, 9)}**({n} - 1)"
        if nv == 1:
            return "1"
        if nv == 2:
            return f"2*{_p(x, 3)}"
        m = nv - 1
        ms = str(int(m)) if m == int(m) else _num(m)
        return f"{n}*{_p(x, 9)}**{_p(ms, 9)}"
    if kind == "neg":
        return "-1"
    if kind == "exp":
        return f"exp({x})"
    if kind == "log":
        return f"1/{_p(x, 3)}"
    if kind == "sqrt":
        return f"1/(2*sqrt({x}))"
    if kind == "sin":
        return f"cos({x})"
    if kind == "cos":
        return f"-sin({x})"
    if kind == "tanh":
        return f"1 - tanh({x})**2"
    if kind == "sigmoid":
        return f"sigmoid({x})*(1 - sigmoid({x}))"
    if kind == "relu":
        return f"1 if {x} > 0 else 0"
    if kind == "abs":
        return f"sign({x})"
    if kind == "clip":
        return f"1 if {x} strictly inside ({_attrs_text(attrs)}) else 0"
    if kind == "maximum":
        return f"1 where {a[i]} > {a[1 - i]} or either is NaN, 1/2 at ties, else 0"
    if kind == "minimum":
        return f"1 where {a[i]} < {a[1 - i]} or either is NaN, 1/2 at ties, else 0"
    if kind == "where":
        return f"1 where {a[0]} else 0" if i == 1 else f"0 where {a[0]} else 1"
    if kind in ("copy", "astype"):
        return "1"
    return None


# The tensor ops whose local derivative is an elementwise array (so it can be printed).
_ELEMENTWISE = {
    "add", "sub", "mul", "div", "pow", "neg", "maximum", "minimum", "exp", "log", "sqrt",
    "sin", "cos", "tanh", "sigmoid", "relu", "abs", "clip", "where", "copy", "astype",
}  # fmt: skip


def _product(kind: str, a: list[str], i: int, attrs: Mapping[str, Any] | None) -> str:
    """The vector-Jacobian product a non-elementwise tensor op sends to input i."""
    if kind == "matmul":
        return f"g @ {_p(a[1], 9)}.T" if i == 0 else f"{_p(a[0], 9)}.T @ g"
    if kind == "sum":
        return f"g copied to every element that was summed ({_attrs_text(attrs) or 'all'})"
    if kind in ("max", "min"):
        return f"g sent to the {kind}imum element(s), split evenly between ties"
    if kind == "logsumexp":
        return f"g * softmax({a[0]})"
    if kind == "reshape":
        return "g reshaped back to the input's shape"
    if kind == "transpose":
        return "g with the permutation undone"
    if kind == "expand":
        return "g summed over the broadcast axes"
    if kind in ("getitem", "take"):
        return "g placed at the indexed positions of zeros (repeats add up)"
    if kind == "untake":
        return "g at the indexed positions"
    if kind == "index_put":
        return "g with the assigned positions zeroed" if i == 0 else "g at the assigned positions"
    if kind == "concatenate":
        return f"the slice of g that came from input {i}"
    return f"{kind}.backward(g)[{i}]"


# --------------------------------------------------------------------------- traversal


def _postorder(start: Any, parents: Any) -> list:
    """Every node reachable from `start`, each after its inputs (left to right; iterative).

    Reversed, it is an order for the backward pass: each node before the nodes it uses.
    """
    order: list = []
    seen = {id(start)}
    stack = [(start, iter(parents(start)))]
    while stack:
        node, it = stack[-1]
        for p in it:
            if id(p) not in seen:
                seen.add(id(p))
                stack.append((p, iter(parents(p))))
                break
        else:
            stack.pop()
            order.append(node)
    return order


# --------------------------------------------------------------------------- names


class _Names:
    """Display names: the user's, then labels, then short expressions, then v1/t1/..."""

    def __init__(self, names: Mapping[str, Any] | None, prefix: str) -> None:
        self.user: dict[int, str] = {}
        if names is not None:
            if not isinstance(names, Mapping):
                raise TypeError(
                    f"names must be a mapping of name -> Value/Tensor (e.g. locals()), got "
                    f"{type(names).__name__}"
                )
            for k, v in names.items():
                # Skip IPython's _, __, _3 and private names; the first name wins.
                if isinstance(k, str) and not k.startswith("_") and isinstance(v, Value | Tensor):
                    self.user.setdefault(id(v), k)
        self.prefix = prefix
        self.count = 0

    def given(self, obj: Any) -> str | None:
        name = self.user.get(id(obj))
        if name is None and isinstance(obj, Value) and obj.label:
            name = obj.label
        return name

    def new(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"

    def pick(self, obj: Any, expr: str | None, root: bool = False) -> str:
        name = self.given(obj)
        if name is not None:
            return name
        if root:
            return "out"
        if expr is not None and len(expr) <= _MAX_EXPR:
            return expr
        return self.new()


# --------------------------------------------------------------------------- Value graphs


def _value_op(v: Value, child_names: list[str]) -> tuple[str, list[str], list[int]]:
    """(kind, operand texts, which operand each child is) for a Value node.

    A Python number on one side of an op is not a node; it is recovered from the output
    and the local derivative so the expression can still be written (e.g. `2*x`).
    """
    op, ch, loc = v._op, v._prev, v._local
    if len(ch) == 2:
        kinds = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}
        return kinds.get(op, op), child_names, [0, 1]
    if len(ch) == 1:
        x, n, local = child_names[0], ch[0].data, loc[0]
        try:
            if op == "+":
                return "add", [x, _num(v.data - n)], [0]
            if op == "-":
                if local > 0:
                    return "sub", [x, _num(n - v.data)], [0]
                return "sub", [_num(v.data + n), x], [1]
            if op == "*":
                return "mul", [_num(local), x], [1]
            if op == "/":
                if local != 0 and math.isclose(v.data, n * local, rel_tol=1e-9, abs_tol=1e-300):
                    return "div", [x, _num(1.0 / local)], [0]
                return "div", [_num(-local * n * n), x], [1]
            if op.startswith("**") and len(op) > 2:
                return "pow", [x, op[2:]], [0]
            if op == "**":  # number ** Value
                return "pow", [_num(math.exp(local / v.data)), x], [1]
        except (ZeroDivisionError, OverflowError, ValueError):
            pass
        kinds = {"neg": "neg", "ReLU": "relu", "tanh": "tanh", "exp": "exp", "log": "log"}
        kinds["sigmoid"] = "sigmoid"
        return kinds.get(op, op or "op"), [x], [0]
    return op or "op", child_names, list(range(len(ch)))


def _value_graph(root: Value, names: _Names) -> tuple[list[Value], dict[int, str], dict]:
    """Nodes (output first), display names, and each node's (kind, operands, positions)."""
    fwd = _postorder(root, lambda v: v._prev)
    label: dict[int, str] = {}
    info: dict[int, tuple] = {}
    for v in fwd:  # inputs before the nodes that use them
        if not v._prev:
            label[id(v)] = names.pick(v, None, v is root)
            continue
        kind, operands, pos = _value_op(v, [label[id(c)] for c in v._prev])
        info[id(v)] = (kind, operands, pos)
        label[id(v)] = names.pick(v, _expr(kind, operands), v is root)
    fwd.reverse()
    return fwd, label, info


def _value_dot(root: Value, names: _Names, rankdir: str) -> str:
    order, label, info = _value_graph(root, names)
    ids = {id(v): i for i, v in enumerate(reversed(order))}
    lines = _dot_head(rankdir)
    for v in reversed(order):
        k = ids[id(v)]
        fill = "#fde68a" if v is root else ("#dbeafe" if not v._prev else "#f3f4f6")
        text = f"{label[id(v)]}\ndata {_num(v.data)}\ngrad {_num(v.grad)}"
        lines.append(f'  v{k} [shape=box, style="rounded,filled", fillcolor="{fill}", '
                     f"label={_q(text)}];")  # fmt: skip
        if v._prev:
            kind, operands, pos = info[id(v)]
            consts = [s for j, s in enumerate(operands) if j not in pos]
            op_text = v._op or kind
            if consts and not (kind == "pow" and op_text.startswith("**") and len(op_text) > 2):
                c = ", ".join(consts)  # on the side it stands: "2.0 -" is 2 - x, "- 2.0" x - 2
                op_text = f"{c} {op_text}" if pos == [1] else f"{op_text} {c}"
            lines.append(f"  op{k} [shape=ellipse, label={_q(op_text)}];")
            lines.append(f"  op{k} -> v{k};")
            for c in v._prev:
                lines.append(f"  v{ids[id(c)]} -> op{k};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _value_explain(root: Value, names: _Names) -> str:
    order, label, info = _value_graph(root, names)
    r = label[id(root)]
    out = _explain_head(r, _num(root.data))
    grads: dict[int, float] = {id(root): 1.0}
    step = 0
    for v in order:
        g = grads.get(id(v), 0.0)
        if not v._prev:
            continue
        step += 1
        kind, operands, pos = info[id(v)]
        name = label[id(v)]
        definition = _expr(kind, operands)
        head = f"[{step}] {name} = {_num(v.data)}"
        if definition != name:
            head = f"[{step}] {name} = {definition} = {_num(v.data)}"
        out.append(head)
        out.append(f"    g = d({r})/d({name}) = {_num(g)}" + _start_note(v is root))
        for c, local, p in zip(v._prev, v._local, pos):
            cname = label[id(c)]
            lv = _num(local)
            ltext = _local_text(_local(kind, operands, p, None), lv)
            contrib = local * g
            grads[id(c)] = grads.get(id(c), 0.0) + contrib
            out.append(f"    -> {cname}: local d({definition})/d({cname}) = {ltext}")
            out.append(
                f"       d({r})/d({cname}) += g * local = {_num(g)} * {lv} = {_num(contrib)}"
            )
    leaves = [v for v in reversed(order) if not v._prev]
    out.append("")
    out.append(f"Gradients of the inputs (what {r}.backward() puts in .grad):")
    for v in leaves:
        n = label[id(v)]
        out.append(
            f"    d({r})/d({n}) = {_num(grads.get(id(v), 0.0))}   ({n}.grad = {_num(v.grad)})"
        )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- Tensor graphs


class _TGraph:
    """A Tensor graph read from `_node`s: nodes in backward order, names, output tensors."""

    def __init__(self, root: Tensor, names: _Names, max_elements: int) -> None:
        self.root = root
        self.names = names
        self.max_elements = max_elements
        start = root._node if root._node is not None else root
        self.order = _postorder(start, _tparents)[::-1]  # consumers first
        self.freed = any(type(n) is Node and n.inputs is None for n in self.order)
        # A Node does not hold its output Tensor; its consumers do (until freed).
        self.out_tensor: dict[int, Tensor] = {}
        if root._node is not None:
            self.out_tensor[id(root._node)] = root
        for n in self.order:
            if type(n) is Node and n.inputs is not None:
                for x in n.inputs:
                    if isinstance(x, Tensor) and x._node is not None:
                        self.out_tensor.setdefault(id(x._node), x)
        self.label: dict[int, str] = {}  # id(Node or leaf Tensor) -> display name
        self.operands: dict[int, list[str]] = {}  # id(Node) -> display text of each input
        self.const_label: dict[int, str] = {}  # id(constant input) -> display text
        for n in reversed(self.order):  # inputs first
            if type(n) is not Node:
                self.label[id(n)] = names.pick(n, None, n is root)
                continue
            if n.inputs is None:
                ops_txt = [self._edge_text(e) for e in n.edges]
            else:
                ops_txt = [self._input_text(x, e) for x, e in zip(n.inputs, n.edges)]
            self.operands[id(n)] = ops_txt
            t = self.out_tensor.get(id(n))
            expr = _expr(n.op.name, ops_txt, n.attrs)
            self.label[id(n)] = names.pick(t, expr, n is root._node)

    def _edge_text(self, e: Any) -> str:
        return "?" if e is None else self.label[id(e)]

    def _input_text(self, x: Any, e: Any) -> str:
        if e is not None:
            return self.label[id(e)]
        if id(x) in self.const_label:
            return self.const_label[id(x)]
        given = self.names.given(x) if isinstance(x, Tensor) else None
        if given is None:
            a = x.data if isinstance(x, Tensor) else np.asarray(x)
            if a.size == 1 and a.dtype.kind in "fiu":
                given = _num(a.reshape(())[()]) if a.dtype.kind == "f" else str(a.reshape(())[()])
            elif a.size <= 4 and a.ndim == 1:
                given = _arr(a, self.max_elements)
            else:
                given = self.names.new()
        self.const_label[id(x)] = given
        return given


def _tparents(item: Any) -> tuple:
    if type(item) is Node:
        return tuple(e for e in item.edges if e is not None)
    return ()


def _tensor_dot(root: Tensor, names: _Names, max_elements: int, rankdir: str) -> str:
    G = _TGraph(root, names, max_elements)
    lines = _dot_head(rankdir)
    ids: dict[int, int] = {}

    def nid(obj: Any) -> int:
        return ids.setdefault(id(obj), len(ids))

    def tensor_box(key: str, name: str, t: Tensor | None, fill: str) -> None:
        rows = [name]
        if t is None:
            rows.append("(values freed by backward;\nuse backward(retain_graph=True))")
        else:
            rows.append(_shape_text(t))
            rows.append("data " + _arr(t.data, max_elements, oneline=False, shape=False))
            if t.grad is not None:
                rows.append("grad " + _arr(t.grad.data, max_elements, False, False))
        lines.append(f'  {key} [shape=box, style="rounded,filled", fillcolor="{fill}", '
                     f"label={_q(chr(10).join(rows))}];")  # fmt: skip

    consts_done: set[int] = set()
    for n in reversed(G.order):
        if type(n) is not Node:
            fill = "#fde68a" if n is root else "#dbeafe"
            tensor_box(f"t{nid(n)}", G.label[id(n)], n, fill)
            continue
        k = nid(n)
        at = _attrs_text(n.attrs)
        op_text = n.op.name + (f"\n{at}" if at else "")
        lines.append(f"  op{k} [shape=ellipse, label={_q(op_text)}];")
        fill = "#fde68a" if n is root._node else "#f3f4f6"
        tensor_box(f"t{k}", G.label[id(n)], G.out_tensor.get(id(n)), fill)
        lines.append(f"  op{k} -> t{k};")
        # Inputs of ops where the order matters are numbered on their arrows.
        ordered = len(n.edges) > 1 and n.op.name not in ("add", "mul", "maximum", "minimum")
        for j, e in enumerate(n.edges):
            arrow = f' [label="{j}"];' if ordered else ";"
            if e is not None:
                lines.append(f"  t{nid(e)} -> op{k}{arrow}")
            elif n.inputs is not None:
                x = n.inputs[j]
                c = nid(x)
                if c not in consts_done:
                    consts_done.add(c)
                    text = G.const_label.get(id(x), "constant")
                    if isinstance(x, Tensor):
                        if text != _arr(x.data, max_elements):
                            data = _arr(x.data, max_elements, oneline=False, shape=False)
                            text += "\n" + _shape_text(x) + "\ndata " + data
                        text += "\n(no grad)"
                    lines.append(f'  c{c} [shape=box, style="dashed", label={_q(text)}];')
                lines.append(f"  c{c} -> op{k}{arrow}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _tensor_explain(root: Tensor, names: _Names, max_elements: int) -> str:
    if root.data.size != 1:
        raise ValueError(
            f"explain: the output has shape {root.shape}; explain follows backward() from a "
            "single-element output (reduce it first, e.g. with .sum())"
        )
    if not root.requires_grad:
        raise RuntimeError(
            f"explain: the output (shape {root.shape}) does not require grad: no leaf it "
            "depends on has requires_grad=True, so there is no backward pass to explain"
        )
    G = _TGraph(root, names, max_elements)
    if G.freed:
        bad = next(n for n in G.order if type(n) is Node and n.inputs is None)
        raise RuntimeError(
            f"explain: the graph's saved values were freed by a backward (at '{bad.op.name}'). "
            "Call loss.backward(retain_graph=True), or call explain(loss) before backward()"
        )
    A = lambda a: _arr(a, max_elements)  # noqa: E731
    r = G.label[id(root._node) if root._node is not None else id(root)]
    out = _explain_head(r, A(root.data))
    pending: dict[int, Any] = {}
    start = root._node if root._node is not None else root
    pending[id(start)] = np.ones_like(root.data)
    step = 0
    for n in G.order:
        g = pending.pop(id(n), None)
        if type(n) is not Node:
            if g is not None:
                pending[id(n)] = g  # a leaf: keep for the summary
            continue
        if g is None:
            continue
        step += 1
        kind = n.op.name
        operands = G.operands[id(n)]
        name = G.label[id(n)]
        definition = _expr(kind, operands, n.attrs)
        t = G.out_tensor.get(id(n))
        value = A(t.data) if t is not None else "?"
        shape = f"   ({_shape_text(t)})" if t is not None and t.ndim else ""
        if definition != name:
            out.append(f"[{step}] {name} = {definition} = {value}{shape}")
        else:
            out.append(f"[{step}] {name} = {value}{shape}")
        out.append(f"    g = d({r})/d({name}) = {A(g)}" + _start_note(n is root._node))
        ans = n.out[0] if n.out is not None else None
        with no_grad():
            grads = n.op.vjp(g, ans, n.datas, n.attrs, n.edges)
            locals_ = None
            if kind in _ELEMENTWISE:
                ones = np.ones_like(np.asarray(g))
                locals_ = n.op.vjp(ones, ans, n.datas, n.attrs, n.edges)
        for j, (gj, e) in enumerate(zip(grads, n.edges)):
            if e is None or gj is None:
                continue
            gj = gj.data if isinstance(gj, Tensor) else np.asarray(gj)
            xshape = np.shape(n.datas[j])
            summed = gj.shape != xshape
            contrib = unbroadcast(gj, xshape) if summed else gj
            contrib = np.asarray(contrib).astype(np.asarray(n.datas[j]).dtype, copy=False)
            prev = pending.get(id(e))
            pending[id(e)] = contrib if prev is None else prev + contrib
            cname = G.label[id(e)]
            if locals_ is not None:
                lj = locals_[j]
                lj = lj.data if isinstance(lj, Tensor) else np.asarray(lj)
                lv = A(lj)
                ltext = _local_text(_local(kind, operands, j, n.attrs), lv)
                out.append(f"    -> {cname}: local d({definition})/d({cname}) = {ltext}")
                if g.size == 1 and lj.size == 1:
                    prod = f"g * local = {A(g)} * {lv} = {A(contrib)}"
                else:
                    prod = "g * local" + (
                        f" = {A(gj)}, summed over the broadcast axes to shape {xshape}"
                        if summed
                        else ""
                    )
                    prod += f" = {A(contrib)}"
                out.append(f"       d({r})/d({cname}) += {prod}")
            else:
                prod = _product(kind, operands, j, n.attrs)
                if kind == "mean":
                    count = np.size(n.datas[j]) // max(np.size(g), 1)
                    prod = f"g / {count}, copied to each of the {count} elements averaged"
                if summed:
                    prod += f", summed over the broadcast axes to shape {xshape}"
                out.append(f"    -> {cname}: d({r})/d({cname}) += {prod} = {A(contrib)}")
    out.append("")
    out.append(f"Gradients of the inputs (what {r}.backward() puts in .grad):")
    for n in reversed(G.order):
        if type(n) is Node:
            continue
        nm = G.label[id(n)]
        g = pending.get(id(n))
        have = "None" if n.grad is None else A(n.grad.data)
        out.append(f"    d({r})/d({nm}) = {A(g) if g is not None else '0'}   ({nm}.grad = {have})")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- shared bits


def _q(text: str) -> str:
    """A DOT double-quoted string; newlines become DOT's centred line breaks."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_head(rankdir: str) -> list[str]:
    return [
        "digraph autograd {",
        f"  rankdir={rankdir};",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [color="#6b7280", fontsize=9];',
    ]


def _explain_head(root: str, value: str) -> list[str]:
    return [
        f"Backward pass of {root} = {value}, one node at a time, output first.",
        f"At each node g = d({root})/d(node) has arrived; each input receives g times the "
        "local derivative d(node)/d(input) (the chain rule), added to what it already has.",
        "",
    ]


def _local_text(formula: str | None, value: str) -> str:
    """`formula = value`, or just the value when the formula is itself a number."""
    if formula is None:
        return value
    try:
        float(formula)
        return value
    except ValueError:
        return f"{formula} = {value}"


def _start_note(is_root: bool) -> str:
    return "   (the start: the output with respect to itself)" if is_root else ""


def _check_out(fn: str, out: Any) -> None:
    if not isinstance(out, Value | Tensor):
        raise TypeError(f"{fn}: expected an ag.Value or ag.Tensor, got {type(out).__name__}")


def _check_opts(fn: str, max_elements: int, rankdir: str = "LR") -> None:
    if isinstance(max_elements, bool) or not isinstance(max_elements, int) or max_elements < 1:
        raise ValueError(f"{fn}: max_elements must be a positive int, got {max_elements!r}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"{fn}: rankdir must be one of LR, RL, TB, BT, got {rankdir!r}")


# --------------------------------------------------------------------------- public API


def to_dot(
    out: Value | Tensor,
    names: Mapping[str, Any] | None = None,
    max_elements: int = 6,
    rankdir: str = "LR",
) -> str:
    """Graphviz DOT text of the graph behind `out`: one box per value, one ellipse per op."""
    _check_out("to_dot", out)
    _check_opts("to_dot", max_elements, rankdir)
    if isinstance(out, Value):
        return _value_dot(out, _Names(names, "v"), rankdir)
    return _tensor_dot(out, _Names(names, "t"), max_elements, rankdir)


_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}


def draw(
    out: Value | Tensor,
    path: str | os.PathLike,
    names: Mapping[str, Any] | None = None,
    max_elements: int = 6,
    rankdir: str = "LR",
    timeout: float | None = 60.0,
) -> Path:
    """Render the graph behind `out` to `path` (.svg, .png, .pdf, or .dot/.gv text)."""
    path = Path(path)
    if timeout is not None and not (isinstance(timeout, int | float) and timeout > 0):
        raise ValueError(
            f"draw: timeout must be a positive number of seconds or None, got {timeout!r}"
        )
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"draw: cannot tell the format from {str(path)!r}; use a name ending in "
            f"{', '.join(_FORMATS)}"
        )
    dot = to_dot(out, names, max_elements, rankdir)
    if fmt == "dot":
        write_atomic(path, lambda f: f.write(dot.encode()), "draw")
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise RuntimeError(
            f"draw: rendering {fmt.upper()} needs the Graphviz 'dot' program, which is not on "
            "PATH. Install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew "
            "install graphviz; conda: conda install graphviz), or save the text instead with "
            "draw(out, 'graph.dot') / to_dot(out)."
        )
    try:
        proc = subprocess.run(
            [exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        # Graphviz's layout time grows about as the cube of the graph's size: 3,000 boxes take
        # seconds, 12,000 (micrograd's MLP on 8 samples) take minutes, a whole batch never ends.
        boxes = dot.count("[shape=")
        raise RuntimeError(
            f"draw: Graphviz 'dot -T{fmt}' did not finish laying out {boxes} nodes within "
            f"{timeout:g} s; draw a smaller graph (one sample, fewer units), pass timeout=None to "
            "wait for it, or save the text with draw(out, 'graph.dot')"
        ) from None
    if proc.returncode != 0:
        raise RuntimeError(
            f"draw: Graphviz 'dot -T{fmt}' failed (exit {proc.returncode}): "
            f"{proc.stderr.decode(errors='replace').strip()}"
        )
    write_atomic(path, lambda f: f.write(proc.stdout), "draw")
    return path


def explain(
    out: Value | Tensor,
    names: Mapping[str, Any] | None = None,
    max_elements: int = 6,
) -> str:
    """A step-by-step account of the chain rule in a backward pass from `out`."""
    _check_out("explain", out)
    _check_opts("explain", max_elements)
    if isinstance(out, Value):
        return _value_explain(out, _Names(names, "v"))
    return _tensor_explain(out, _Names(names, "t"), max_elements)
