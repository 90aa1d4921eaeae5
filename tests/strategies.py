"""Hypothesis strategies: random differentiable expressions built from the op catalogue.

`expressions()` draws a tree of depth <= 4 whose inner nodes are entries of
`autograd_mini.gradcheck.CATALOGUE` (every differentiable op and composite) and whose leaves
are 1-3 inputs. Each child is fitted to the shape its op expects (reshape, or a gather with
repeated indices when the sizes differ) and mapped into the op's domain (`t*t + 0.5` for
positive / non-zero inputs, `t + ramp` for inputs that must vary), so every tree is
differentiable at the drawn point. Values are kept of order one (a node whose value exceeds 3
in magnitude is scaled by a power of ten) so that central differences stay accurate.

Broadcasting: the entries whose inputs combine elementwise with NumPy broadcasting
(`_BROADCASTING`: add, sub, mul, div, pow, maximum, minimum, where, clip with tensor bounds,
mse) are drawn more often (one inner node in three is one of them, besides their share of
the catalogue). They take their children at the catalogue's shapes, or, about two times in
three, at shapes that broadcast against each other, for an output shape that may differ from
the catalogue's (the parent re-fits it like any child): one child at the output's shape and
the others with some leading axes dropped (down to 0-d) and some axes set to 1; or the
output's axes shared out between the children, so that the output is larger than every
child ((3, 1) op (1, 2) -> (3, 2)).

Empty inputs: each input but the first is empty ((0,), (2, 0) or (0, 3)) one time in three.
A size-0 child fitted to a non-empty shape becomes `child.sum() + c` (a sum of nothing, 0,
plus fixed values c of order one): a legitimate expression whose gradient with respect to
the empty input is an empty array. A broadcasting op or a shape-agnostic one (`_ANY_SHAPE`:
unary elementwise ops and sums) may also take an empty child as it is, for an empty result.
Reductions undefined on empty arrays (max, min, mean, ...) never see one, and an empty root
gets input 0 (never empty) added to it, so the output always has elements. An empty input
gives finite differences nothing to perturb: tests check the shape of its gradient.

Usage::

    @given(expressions())
    def test_something(expr):
        out = expr.fn(*expr.tensors(requires_grad=True))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini.gradcheck import CATALOGUE, OpCase

INPUT_SHAPES = [(), (3,), (2, 3), (1, 3), (3, 2)]
EMPTY_SHAPES = [(0,), (2, 0), (0, 3)]
_MAX_ABS = 3.0


class Expr(NamedTuple):
    """A random expression: `fn(*tensors)` evaluated at the float64 `inputs`."""

    fn: Callable[..., ag.Tensor]
    inputs: tuple[np.ndarray, ...]
    text: str

    def tensors(self, requires_grad: bool = True) -> tuple[ag.Tensor, ...]:
        """Fresh leaf tensors holding the inputs."""
        return tuple(ag.tensor(x, requires_grad=requires_grad) for x in self.inputs)

    def __repr__(self) -> str:
        shapes = ", ".join(f"x{i}: {x.shape}" for i, x in enumerate(self.inputs))
        return f"Expr({self.text}; {shapes})"


class _Sub(NamedTuple):
    fn: Callable[..., ag.Tensor]
    text: str
    value: np.ndarray


def _leaf(j: int, values: Sequence[np.ndarray]) -> _Sub:
    return _Sub(lambda *xs: xs[j], f"x{j}", values[j])


def _fit(sub: _Sub, shape: tuple) -> _Sub:
    """`sub` reshaped, or gathered with wrap-around (repeated) indices, to `shape`.

    A size-0 `sub` has nothing to gather from: it reaches a non-empty shape as
    `sub.sum() + c`, the sum of nothing (0) plus fixed values of order one.
    """
    have = sub.value.shape
    if have == shape:
        return sub
    n = int(np.prod(shape, dtype=int))
    if sub.value.size == n:
        return _Sub(lambda *xs: sub.fn(*xs).reshape(shape), sub.text, sub.value.reshape(shape))
    if sub.value.size == 0:
        # cos of 1, 2, ...: distinct, none zero, none on a clip bound.
        c = np.cos(np.arange(1.0, n + 1)).reshape(shape)
        return _Sub(lambda *xs: sub.fn(*xs).sum() + c, f"fill({sub.text})", c.copy())
    idx = np.arange(n) % sub.value.size
    value = sub.value.reshape(-1)[idx].reshape(shape)
    return _Sub(lambda *xs: sub.fn(*xs).reshape(-1)[idx].reshape(shape), f"fit({sub.text})", value)


def _into_domain(sub: _Sub, domain: str) -> _Sub:
    if domain == "real":
        return sub
    if domain in ("positive", "nonzero"):
        return _Sub(lambda *xs: sub.fn(*xs) ** 2 + 0.5, f"pos({sub.text})", sub.value**2 + 0.5)
    if domain == "varied":
        ramp = 0.37 * np.arange(sub.value.size).reshape(sub.value.shape)
        return _Sub(lambda *xs: sub.fn(*xs) + ramp, f"spread({sub.text})", sub.value + ramp)
    raise ValueError(f"unknown domain {domain!r}")


def _apply(
    case: OpCase, children: list[_Sub], shapes: Sequence[tuple], values: Sequence[np.ndarray]
) -> _Sub:
    """`case` applied to `children`, each fitted to its entry of `shapes`."""
    args = [
        _into_domain(_fit(c, shape), dom) for c, shape, dom in zip(children, shapes, case.domain)
    ]

    def fn(*xs: ag.Tensor) -> ag.Tensor:
        return case.fn(*(a.fn(*xs) for a in args))

    text = f"{case.name}({', '.join(a.text for a in args)})"
    with ag.no_grad():
        value = fn(*(ag.tensor(v) for v in values)).data.astype(np.float64)
    assume(bool(np.isfinite(value).all()))
    biggest = float(np.abs(value).max()) if value.size else 0.0
    if biggest > _MAX_ABS:
        # A constant keeps the tree's values (and slopes) moderate. It is a power of ten, not
        # _MAX_ABS / biggest: that would scale every large node to exactly +-3, and
        # maximum(a, b) of two such nodes would sit on its kink at the drawn point.
        c = 10.0 ** -math.ceil(math.log10(biggest / _MAX_ABS))
        return _Sub(lambda *xs: fn(*xs) * c, f"{c:.0e}*{text}", value * c)
    return _Sub(fn, text, value)


# Catalogue entries whose inputs combine elementwise, with NumPy broadcasting, so that any
# broadcast-compatible input shapes are valid; the value is the shape the output must
# contain (where's mask is a fixed (2, 3) array the operands broadcast against).
_BROADCASTING: dict[str, tuple] = {
    "add": (),
    "add broadcast": (),
    "sub": (),
    "mul": (),
    "mul broadcast": (),
    "div": (),
    "div broadcast": (),
    "pow": (),
    "maximum": (),
    "minimum broadcast": (),
    "where": (2, 3),
    "clip tensor bounds": (),
    "mse": (),
}
# Broadcasting entries that must not see an empty operand: where's mask fixes the output's
# shape, and the mean of no elements is NaN.
_NO_EMPTY = {"where", "mse"}
# One-input entries that work on any shape (elementwise ops, the full sum), and the least
# number of axes they need; they may take an empty child as it is.
_ANY_SHAPE: dict[str, int] = dict.fromkeys(
    (
        "add scalar", "rsub scalar", "rdiv scalar", "pow scalar exponent",
        "pow negative exponent", "rpow scalar base", "square", "neg", "exp", "log", "sqrt",
        "sin", "cos", "tanh", "sigmoid", "relu", "abs", "clip", "clip lower bound only",
        "clip upper bound only", "copy (clone)", "astype", "sum",
    ),
    0,
) | {"sum axis": 2}  # fmt: skip
_missing = (_BROADCASTING.keys() | _ANY_SHAPE.keys()) - {c.name for c in CATALOGUE}
if _missing:  # a renamed entry would silently stop being broadcast
    raise RuntimeError(f"strategies: no catalogue entries named {sorted(_missing)}")
# Output shapes a broadcasting op may be given besides its catalogue one (bigger: with an
# extra leading axis; transposed).
_OUT_SHAPES = [(2, 2, 3), (2, 3, 2), (3, 2)]


def _contains(shape: tuple, frame: tuple) -> bool:
    """Whether `frame` broadcasts to `shape` (so operands shaped to `shape` fit with it)."""
    try:
        return np.broadcast_shapes(shape, frame) == shape
    except ValueError:
        return False


@st.composite
def _reduced(draw: st.DrawFn, out: tuple, kept: Sequence[bool] | None = None) -> tuple:
    """A shape that broadcasts to `out`: some leading axes dropped (maybe all: 0-d), some of
    the others set to 1; or, given `kept`, the axes not kept set to 1 and some of the leading
    ones of those dropped."""
    if kept is None:
        lead = draw(st.integers(0, len(out)))
        kept = [False] * lead + [draw(st.booleans()) for _ in out[lead:]]
    else:
        lead = draw(st.integers(0, next((i for i, k in enumerate(kept) if k), len(kept))))
    return tuple(s if k else 1 for s, k in zip(out, kept))[lead:]


@st.composite
def _operand_shapes(draw: st.DrawFn, case: OpCase, children: list[_Sub]) -> tuple:
    """Shapes to fit the children of `case` to: its catalogue shapes, or broadcasting ones."""
    if case.name in _BROADCASTING:
        frame = _BROADCASTING[case.name]
        empty = [c.value.shape for c in children if c.value.size == 0]
        if case.name in _NO_EMPTY:
            empty = []
        # Given an empty child, half the time the result is empty too.
        mode = draw(st.sampled_from(["catalogue", "reduce", "outer"] + ["empty"] * 3 * bool(empty)))
        if mode == "catalogue":
            return case.shapes
        if mode == "empty":  # the empty children keep their shape, the others broadcast to it
            out = draw(st.sampled_from(empty))
            return tuple(out if c.value.shape == out else draw(_reduced(out)) for c in children)
        own = np.broadcast_shapes(*case.shapes)
        outs = [own] + [s for s in _OUT_SHAPES if s != own and _contains(s, frame)]
        out = draw(st.sampled_from(outs))
        if mode == "reduce":  # one child at the output's shape, the others broadcast to it
            full = draw(st.integers(0, len(children) - 1))
            return tuple(out if k == full else draw(_reduced(out)) for k in range(len(children)))
        # "outer": each axis of the output comes from one child; the others have 1 there.
        owner = [draw(st.integers(0, len(children) - 1)) for _ in out]
        return tuple(draw(_reduced(out, [o == k for o in owner])) for k in range(len(children)))
    if case.name in _ANY_SHAPE:
        (child,) = children
        if child.value.size == 0 and child.value.ndim >= _ANY_SHAPE[case.name]:
            if draw(st.booleans()):
                return (child.value.shape,)
    return case.shapes


@st.composite
def _tree(draw: st.DrawFn, depth: int, values: Sequence[np.ndarray], cases: list) -> _Sub:
    n = len(values)
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(draw(st.integers(0, n - 1)), values)
    broadcasting = [c for c in cases if c.name in _BROADCASTING]
    if broadcasting and draw(st.integers(0, 2)) == 2:  # one node in 3, besides their own share
        case = draw(st.sampled_from(broadcasting))
    else:
        case = draw(st.sampled_from(cases))
    children = [draw(_tree(depth - 1, values, cases)) for _ in case.shapes]
    return _apply(case, children, draw(_operand_shapes(case, children)), values)


@st.composite
def expressions(
    draw: st.DrawFn,
    max_depth: int = 4,
    max_inputs: int = 3,
    cases: Sequence[OpCase] | None = None,
) -> Expr:
    """A random expression tree (depth <= max_depth) over 1..max_inputs float64 inputs."""
    cases = list(CATALOGUE if cases is None else cases)
    n = draw(st.integers(1, max_inputs))
    # Input 0 is never empty, so that there is always something to differentiate.
    shapes = [
        draw(st.sampled_from(EMPTY_SHAPES if i and draw(st.integers(0, 2)) == 2 else INPUT_SHAPES))
        for i in range(n)
    ]
    seed = draw(st.integers(0, 2**32 - 1))
    # Values from a seeded generator, not from hypothesis: hypothesis favours special values
    # (0, 1, repeated numbers) that sit on the kinks of relu, abs, max and clip.
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s) for s in shapes]
    depth = draw(st.integers(1, max_depth))
    root = draw(_tree(depth, values, cases))
    if root.text.startswith("x"):  # a bare input: make it do something
        case = draw(st.sampled_from(cases))
        root = _apply(case, [root] * len(case.shapes), case.shapes, values)
    if root.value.size == 0:  # an empty result: add input 0 to it, so there is something to check
        full = _fit(root, values[0].shape)
        root = _Sub(lambda *xs: full.fn(*xs) + xs[0], f"{full.text} + x0", full.value + values[0])
    return Expr(root.fn, tuple(values), root.text)
