"""Hypothesis strategies: random differentiable expressions built from the op catalogue.

`expressions()` draws a tree of depth <= 4 whose inner nodes are entries of
`autograd_mini.gradcheck.CATALOGUE` (every differentiable op and composite) and whose leaves
are 1-3 inputs. Each child is fitted to the shape its op expects (reshape, or a gather with
repeated indices when the sizes differ) and mapped into the op's domain (`t*t + 0.5` for
positive / non-zero inputs, `t + ramp` for inputs that must vary), so every tree is
differentiable at the drawn point. Values are kept of order one (a node whose value exceeds 3
in magnitude is scaled by a power of ten) so that central differences stay accurate.

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
    """`sub` reshaped, or gathered with wrap-around (repeated) indices, to `shape`."""
    have = sub.value.shape
    if have == shape:
        return sub
    n = int(np.prod(shape, dtype=int))
    if sub.value.size == n:
        return _Sub(lambda *xs: sub.fn(*xs).reshape(shape), sub.text, sub.value.reshape(shape))
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


def _apply(case: OpCase, children: list[_Sub], values: Sequence[np.ndarray]) -> _Sub:
    args = [
        _into_domain(_fit(c, shape), dom)
        for c, shape, dom in zip(children, case.shapes, case.domain)
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


@st.composite
def _tree(draw: st.DrawFn, depth: int, values: Sequence[np.ndarray], cases: list) -> _Sub:
    n = len(values)
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return _leaf(draw(st.integers(0, n - 1)), values)
    case = draw(st.sampled_from(cases))
    children = [draw(_tree(depth - 1, values, cases)) for _ in case.shapes]
    return _apply(case, children, values)


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
    shapes = [draw(st.sampled_from(INPUT_SHAPES)) for _ in range(n)]
    seed = draw(st.integers(0, 2**32 - 1))
    # Values from a seeded generator, not from hypothesis: hypothesis favours special values
    # (0, 1, repeated numbers) that sit on the kinks of relu, abs, max and clip.
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s) for s in shapes]
    depth = draw(st.integers(1, max_depth))
    root = draw(_tree(depth, values, cases))
    if root.text.startswith("x"):  # a bare input: make it do something
        root = _apply(draw(st.sampled_from(cases)), [root] * 3, values)
    return Expr(root.fn, tuple(values), root.text)
