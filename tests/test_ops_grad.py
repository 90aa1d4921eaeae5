"""Every op of API.md §2 against central finite differences, by one generic checker.

Each entry of `SPECS` is a Hypothesis strategy that draws a `Case`: the op applied to some
arguments (random shapes with size-1 and empty dimensions, values in the op's valid domain,
away from kinks and ties, Tensor / ndarray / Python-number operands on either side) and a
NumPy reference of the forward. `check_case` then asserts, for that one case:
- the forward equals the NumPy reference (bit for bit for shape and indexing ops);
- the gradient of sum(out * w) (w random) equals float64 central differences of the
  reference, for every differentiable input;
- every gradient has its input's shape and dtype; no input was mutated; no gradient shares
  memory with another gradient or with an input;
- in float32 the output and gradients are float32 and close to the float64 ones.
A second test differentiates the gradient again (`create_graph=True`): a Hessian-vector
product against finite differences of the first derivative.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_mini as ag
from autograd_mini import ops
from autograd_mini.tensor import apply

# ------------------------------------------------------------------ cases and the checker


@dataclass
class Case:
    """`fn(*args)` with Tensors at the `diff` positions; `ref(*args)` is its NumPy forward."""

    fn: Callable[..., Any]
    ref: Callable[..., Any]
    args: list
    diff: tuple[int, ...]
    exact: bool = False  # the forward must equal the reference bit for bit

    def call(self, xs: list[Any]) -> Any:
        """`fn` with the differentiable arguments replaced by `xs`."""
        return self.fn(*_substitute(self.args, self.diff, xs))

    def reference(self, xs: list[np.ndarray]) -> np.ndarray:
        """The NumPy forward with the differentiable arguments replaced by `xs`."""
        return np.asarray(self.ref(*_substitute(self.args, self.diff, xs)))


def _substitute(args: list, diff: tuple[int, ...], xs: list) -> list:
    out = list(args)
    for i, x in zip(diff, xs):
        out[i] = x
    return out


def numerical_grads(f: Callable[[list], float], xs: list[np.ndarray], eps: float) -> list:
    """Central differences of the scalar `f` with respect to each array in `xs` (float64)."""
    grads = []
    for i, x in enumerate(xs):
        g = np.zeros(x.shape, dtype=np.float64)
        for j in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[j] += eps
            xm[j] -= eps
            fp = f(xs[:i] + [xp] + xs[i + 1 :])
            fm = f(xs[:i] + [xm] + xs[i + 1 :])
            g[j] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


def _as32(a: Any) -> Any:
    if isinstance(a, np.ndarray) and a.dtype == np.float64:
        return a.astype(np.float32)
    if isinstance(a, list | tuple) and a and all(isinstance(e, np.ndarray) for e in a):
        return type(a)(_as32(e) for e in a)
    return a


def _arrays_in(obj: Any) -> list[np.ndarray]:
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, ag.Tensor):
        return [obj.data]
    if isinstance(obj, list | tuple):
        return [a for e in obj for a in _arrays_in(e)]
    return []


def run_engine(case: Case, xs: list[np.ndarray], w: np.ndarray) -> tuple:
    """Forward, backward of sum(out * w); returns (out, leaves, gradients) after checks."""
    consts = [a for i, a in enumerate(case.args) if i not in case.diff]
    const_arrays = _arrays_in(consts)
    const_before = [a.copy() for a in const_arrays]
    leaves = [ag.tensor(x, requires_grad=True) for x in xs]
    out = case.call(leaves)
    assert isinstance(out, ag.Tensor)
    assert out.requires_grad
    (out * w).sum().backward()
    grads = []
    for t, x in zip(leaves, xs):
        assert t.grad is not None, "a differentiable input received no gradient"
        g = t.grad.data
        assert type(g) is np.ndarray
        assert g.shape == x.shape, f"gradient shape {g.shape} != input shape {x.shape}"
        assert g.dtype == x.dtype, f"gradient dtype {g.dtype} != input dtype {x.dtype}"
        grads.append(g)
    # No input was changed, by the forward or the backward.
    for t, x in zip(leaves, xs):
        np.testing.assert_array_equal(t.data, x, strict=True)
    for a, b in zip(const_arrays, const_before):
        np.testing.assert_array_equal(a, b, strict=True)
    # No gradient shares memory with another gradient, an input, the output or w.
    others = [t.data for t in leaves] + const_arrays + [out.data, w]
    for i, g in enumerate(grads):
        for h in grads[i + 1 :]:
            assert not np.shares_memory(g, h), "two gradients share memory"
        for o in others:
            assert not np.shares_memory(g, o), "a gradient shares memory with an input"
    return out, leaves, grads


def check_case(case: Case, seed: int) -> None:
    """The whole first-order check of one drawn case (see the module docstring)."""
    xs = [case.args[i] for i in case.diff]
    assert all(x.dtype == np.float64 for x in xs)
    expected = case.reference(xs)
    rng = np.random.default_rng(seed)
    w = rng.uniform(-1.5, 1.5, expected.shape)

    out, _, grads = run_engine(case, xs, w)
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    if case.exact:
        np.testing.assert_array_equal(out.data, expected, strict=True)
    else:
        np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)

    def loss(arrays: list[np.ndarray]) -> float:
        return float(np.sum(case.reference(arrays) * w))

    scale = 1.0 + float(np.sum(np.abs(expected * w)))
    numeric = numerical_grads(loss, xs, eps=1e-6)
    for g, n in zip(grads, numeric):
        np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-7 * scale)

    # float32 in, float32 out and float32 gradients, close to the float64 ones.
    case32 = Case(case.fn, case.ref, [_as32(a) for a in case.args], case.diff, case.exact)
    xs32 = [x.astype(np.float32) for x in xs]
    out32, _, grads32 = run_engine(case32, xs32, w.astype(np.float32))
    assert out32.dtype == np.float32
    np.testing.assert_allclose(
        out32.data, expected, rtol=1e-4, atol=1e-5 * (1 + np.max(np.abs(expected), initial=0))
    )
    for g32, g in zip(grads32, grads):
        assert g32.dtype == np.float32
        np.testing.assert_allclose(
            g32, g, rtol=2e-3, atol=1e-4 * (1 + np.max(np.abs(g), initial=0))
        )


def _grads_at(case: Case, xs: list[np.ndarray], w: np.ndarray) -> list[np.ndarray]:
    leaves = [ag.tensor(x, requires_grad=True) for x in xs]
    (case.call(leaves) * w).sum().backward()
    return [t.grad.data for t in leaves]


def check_second_order(case: Case, seed: int, ones: bool = False) -> None:
    """d/dε ∇L(x + εv) at 0 (a Hessian-vector product) by create_graph vs central differences.

    With `ones`, w = v = 1: for an elementwise op that is d²/dx² of sum(f(x)), elementwise.
    """
    xs = [case.args[i] for i in case.diff]
    shape = case.reference(xs).shape
    rng = np.random.default_rng(seed)
    w = np.ones(shape) if ones else rng.uniform(-1.5, 1.5, shape)
    vs = [np.ones(x.shape) if ones else rng.uniform(-1.0, 1.0, x.shape) for x in xs]

    leaves = [ag.tensor(x, requires_grad=True) for x in xs]
    (case.call(leaves) * w).sum().backward(create_graph=True)
    first = [t.grad for t in leaves]
    plain = _grads_at(case, xs, w)
    for g, p, x in zip(first, plain, xs):
        assert isinstance(g, ag.Tensor)
        assert g.shape == x.shape and g.dtype == x.dtype
        np.testing.assert_allclose(g.data, p, rtol=1e-12, atol=1e-12)
    for t in leaves:
        t.grad = None
    s = None
    for g, v in zip(first, vs):
        term = (g * v).sum()
        s = term if s is None else s + term
    if s.requires_grad:
        s.backward()
    hv = [t.grad.data if t.grad is not None else np.zeros(t.shape) for t in leaves]

    eps = 1e-5
    up = _grads_at(case, [x + eps * v for x, v in zip(xs, vs)], w)
    down = _grads_at(case, [x - eps * v for x, v in zip(xs, vs)], w)
    gmax = 1.0 + max((float(np.max(np.abs(p), initial=0)) for p in plain), default=0.0)
    for h, a, b in zip(hv, up, down):
        assert h.shape == a.shape and h.dtype == np.float64
        np.testing.assert_allclose(h, (a - b) / (2 * eps), rtol=1e-4, atol=1e-6 * gmax)


# ------------------------------------------------------------------ value strategies

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
PAIRS = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=0, max_side=3
)
TRIPLES = hnp.mutually_broadcastable_shapes(
    num_shapes=3, min_dims=0, max_dims=3, min_side=0, max_side=3
)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _nonzero(lo: float, hi: float) -> st.SearchStrategy[float]:
    """Floats with lo <= |v| <= hi, either sign: away from a kink or pole at 0."""
    return st.one_of(_floats(lo, hi), _floats(-hi, -lo))


def _values(draw: st.DrawFn, shape: tuple, elements: st.SearchStrategy[float]) -> np.ndarray:
    return draw(hnp.arrays(np.float64, shape, elements=elements))


def _away(elements: st.SearchStrategy[float], points: list[float], margin: float = 1e-2):
    return elements.filter(lambda v: all(abs(v - p) > margin for p in points))


def _distinct(draw: st.DrawFn, shape: tuple) -> np.ndarray:
    """Values at least 0.25 apart: no ties for max/min, a positive variance."""
    n = math.prod(shape)
    perm = np.array(draw(st.permutations(range(n))), dtype=np.float64)
    jitter = _values(draw, (n,), _floats(0.0, 0.05))
    return ((perm - n / 2) * 0.3 + jitter).reshape(shape)


def _grid(draw: st.DrawFn, shape: tuple, odd: bool) -> np.ndarray:
    """0.2·k (+ 0.1 when odd) + jitter < 0.05: an even and an odd grid never come closer
    than 0.05, so maximum/minimum of the two never tie."""
    k = draw(hnp.arrays(np.int64, shape, elements=st.integers(-10, 10))).astype(np.float64)
    jitter = _values(draw, shape, _floats(0.0, 0.05))
    return np.asarray(0.2 * k + 0.1 * odd + jitter, dtype=np.float64)


SPECS: dict[str, st.SearchStrategy[Case]] = {}


def spec(name: str) -> Callable:
    """Register a composite strategy drawing a Case for the op `name`."""

    def register(body: Callable) -> Callable:
        SPECS[name] = st.composite(body)()
        return body

    return register


# ------------------------------------------------------------------ elementwise functions

# name: (NumPy reference, value strategy, forms: how the op is called on a Tensor)
UNARY: dict[str, tuple[Callable, st.SearchStrategy[float], tuple[Callable, ...]]] = {
    "neg": (np.negative, _floats(-3, 3), (operator.neg,)),
    "exp": (np.exp, _floats(-3, 3), (lambda x: x.exp(), ag.exp)),
    "log": (np.log, _floats(0.1, 3), (lambda x: x.log(), ag.log)),
    "sqrt": (np.sqrt, _floats(0.1, 3), (lambda x: x.sqrt(), ag.sqrt)),
    "sin": (np.sin, _floats(-3, 3), (lambda x: x.sin(), ag.sin)),
    "cos": (np.cos, _floats(-3, 3), (lambda x: x.cos(), ag.cos)),
    "tanh": (np.tanh, _floats(-3, 3), (lambda x: x.tanh(), ag.tanh)),
    "sigmoid": (
        lambda x: 1 / (1 + np.exp(-x)),
        _floats(-6, 6),
        (lambda x: x.sigmoid(), ag.sigmoid),
    ),
    "relu": (lambda x: np.maximum(x, 0), _nonzero(1e-2, 3), (lambda x: x.relu(), ag.relu)),
    "abs": (np.abs, _nonzero(1e-2, 3), (lambda x: x.abs(), ag.abs, abs)),
}


def _unary_spec(name: str) -> None:
    ref, elements, forms = UNARY[name]

    @spec(name)
    def body(draw: st.DrawFn) -> Case:
        x = _values(draw, draw(SHAPES), elements)
        return Case(draw(st.sampled_from(forms)), ref, [x], (0,))


for _name in UNARY:
    _unary_spec(_name)


@spec("clip")
def _clip(draw: st.DrawFn) -> Case:
    lo = draw(st.none() | _floats(-1.5, 0.0) | st.just(-1))
    hi = draw((st.none() if lo is not None else st.nothing()) | _floats(0.2, 1.5) | st.just(1))
    bounds = [b for b in (lo, hi) if b is not None]
    x = _values(draw, draw(SHAPES), _away(_floats(-2, 2), bounds))
    form = draw(st.sampled_from(["clip", "clamp", "ag.clip", "ag.clamp"]))
    if form.startswith("ag."):
        fn = lambda x: getattr(ag, form[3:])(x, lo, hi)  # noqa: E731
    else:
        fn = lambda x: getattr(x, form)(lo, hi)  # noqa: E731
    return Case(fn, lambda x: np.clip(x, lo, hi), [x], (0,))


@spec("clip_tensor_bounds")
def _clip_tensor_bounds(draw: st.DrawFn) -> Case:
    # x, lo and hi mutually broadcastable, lo > hi in places (the output is hi there). Each
    # sits on its own band of 0.2·k + [offset, offset + 0.03): no two ever tie.
    sx, slo, shi = draw(TRIPLES).input_shapes

    def band(shape: tuple, offset: float) -> np.ndarray:
        k = draw(hnp.arrays(np.int64, shape, elements=st.integers(-8, 8))).astype(np.float64)
        return np.asarray(0.2 * k + offset + _values(draw, shape, _floats(0.0, 0.03)))

    x, lo, hi = band(sx, 0.1), band(slo, 0.0), band(shi, 0.16)
    which = draw(st.sampled_from([(0, 1, 2), (1, 2), (0, 1), (0, 2), (1,), (2,)]))
    return Case(ag.clip, np.clip, [x, lo, hi], which)


@spec("pow_number")
def _pow_number(draw: st.DrawFn) -> Case:
    # x ** c: any base for an integer exponent (away from 0 if negative), positive otherwise.
    c = draw(st.sampled_from([0, 1, 2, 3, -1, -2, 0.5, 1.5, 2.5, -0.5]))
    if isinstance(c, int):
        elements = _floats(-2, 2) if c >= 0 else _nonzero(0.2, 2)
    else:
        elements = _floats(0.1, 3)
    x = _values(draw, draw(SHAPES), elements)
    return Case(lambda x: x**c, lambda x: x**c, [x], (0,))


@spec("rpow_number")
def _rpow_number(draw: st.DrawFn) -> Case:
    c = draw(_floats(0.2, 3) | st.sampled_from([2, 3]))
    x = _values(draw, draw(SHAPES), _floats(-2, 2))
    return Case(lambda x: c**x, lambda x: c**x, [x], (0,))


# ------------------------------------------------------------------ binary operators
# Each operand is a Tensor, an ndarray or a Python number (at least one Tensor), on either side.

KINDS = st.sampled_from(["tensor", "ndarray", "number"])


def _binary(
    draw: st.DrawFn,
    op: Callable,
    ref: Callable,
    left: Callable[[tuple], np.ndarray],
    right: Callable[[tuple], np.ndarray],
    number: Callable[[int], st.SearchStrategy[float]],
    kinds: st.SearchStrategy[str] = KINDS,
) -> Case:
    ka, kb = draw(kinds), draw(kinds)
    if "tensor" not in (ka, kb):
        ka = "tensor" if draw(st.booleans()) else ka
        kb = "tensor" if ka != "tensor" else kb
    shapes = draw(PAIRS).input_shapes
    args: list = []
    for side, (kind, shape, make) in enumerate(zip((ka, kb), shapes, (left, right))):
        args.append(draw(number(side)) if kind == "number" else make(shape))
    diff = tuple(i for i, k in enumerate((ka, kb)) if k == "tensor")
    return Case(op, ref, args, diff)


def _arith_spec(name: str, op: Callable, left: Any, right: Any) -> None:
    @spec(name)
    def body(draw: st.DrawFn) -> Case:
        def number(side: int) -> st.SearchStrategy:
            ints = st.integers(-3, 3)
            if (name, side) == ("div", 1):
                ints = ints.filter(lambda v: v != 0)  # the denominator
            if (name, side) == ("pow", 0):
                ints = st.integers(1, 3)  # the base
            return (left, right)[side] | ints

        return _binary(
            draw,
            op,
            op,
            lambda s: _values(draw, s, left),
            lambda s: _values(draw, s, right),
            number,
        )


_arith_spec("add", operator.add, _floats(-3, 3), _floats(-3, 3))
_arith_spec("sub", operator.sub, _floats(-3, 3), _floats(-3, 3))
_arith_spec("mul", operator.mul, _floats(-3, 3), _floats(-3, 3))
_arith_spec("div", operator.truediv, _floats(-3, 3), _nonzero(0.2, 3))
# A Tensor exponent of exactly 0 is left out: there d/dx is taken as 0 by `where` (as PyTorch
# does), which is right to first order but cuts the mixed second derivative d²/dxdy = 1/x.
# test_pow_at_zero_exponent checks the first-order values there.
_arith_spec("pow", operator.pow, _floats(0.2, 3), _floats(-2, 2).filter(lambda v: v != 0))


def _extremum_spec(name: str, fn: Callable, ref: Callable) -> None:
    @spec(name)
    def body(draw: st.DrawFn) -> Case:
        def number(side: int) -> st.SearchStrategy[float]:
            return st.integers(-10, 10).map(lambda k: 0.2 * k + 0.1 * side + 0.025)

        return _binary(
            draw,
            fn,
            ref,
            lambda s: _grid(draw, s, odd=False),
            lambda s: _grid(draw, s, odd=True),
            number,
        )


_extremum_spec("maximum", ag.maximum, np.maximum)
_extremum_spec("minimum", ag.minimum, np.minimum)


@spec("matmul")
def _matmul(draw: st.DrawFn) -> Case:
    # numpy.matmul's signature: 1-d on either side, 2-d, batched with broadcast batch dims.
    shapes = draw(
        hnp.mutually_broadcastable_shapes(
            signature=np.matmul.signature, max_dims=2, min_side=0, max_side=3
        )
    ).input_shapes
    kinds = draw(
        st.sampled_from([("tensor", "tensor"), ("tensor", "ndarray"), ("ndarray", "tensor")])
    )
    args = [_values(draw, s, _floats(-2, 2)) for s in shapes]
    fn = draw(st.sampled_from([operator.matmul, ag.matmul]))
    diff = tuple(i for i, k in enumerate(kinds) if k == "tensor")
    return Case(fn, np.matmul, args, diff)


@spec("linear")
def _linear(draw: st.DrawFn) -> Case:
    # nn.Linear's op: x (..., in) @ w.T + b, w (out, in), b (out,) or no bias.
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
    n_in, n_out = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    x = _values(draw, lead + (n_in,), _floats(-2, 2))
    w = _values(draw, (n_out, n_in), _floats(-2, 2))
    F = ag.nn.functional
    if draw(st.booleans()):
        b = _values(draw, (n_out,), _floats(-2, 2))
        diff = draw(st.sampled_from([(0, 1, 2), (1, 2), (0,), (2,)]))
        return Case(F.linear, lambda x, w, b: x @ w.T + b, [x, w, b], diff)
    diff = draw(st.sampled_from([(0, 1), (1,), (0,)]))
    return Case(F.linear, lambda x, w: x @ w.T, [x, w], diff)


def _ref_log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True) if x.size else 0.0
    with np.errstate(divide="ignore"):  # an empty class axis: log 0
        return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


@spec("softmax")
def _softmax(draw: st.DrawFn) -> Case:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))
    # many short rows too: (batch, classes) logits take a transposed fast path
    shape = draw(st.sampled_from([shape, (33, draw(st.integers(1, 5)))]))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    x = _values(draw, shape, _floats(-5, 5))
    F = ag.nn.functional
    if draw(st.booleans()):
        return Case(lambda x: F.softmax(x, axis), lambda x: np.exp(_ref_log_softmax(x, axis)),
                    [x], (0,))  # fmt: skip
    return Case(lambda x: F.log_softmax(x, dim=axis), lambda x: _ref_log_softmax(x, axis),
                [x], (0,))  # fmt: skip


@spec("cross_entropy")
def _cross_entropy(draw: st.DrawFn) -> Case:
    # Integer targets, no weights: the one-node cross_entropy; classes on axis 1 (0 for 1-d)
    # through F.cross_entropy, on any axis through the op itself.
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    n_min = 1 if reduction == "mean" else 0  # the mean over no samples is NaN
    n_classes = draw(st.integers(1, 4))
    shape = draw(
        st.sampled_from(
            [
                (n_classes,),
                (draw(st.integers(n_min, 4)), n_classes),
                (draw(st.integers(n_min, 3)), n_classes, draw(st.integers(1, 3))),
                (draw(st.integers(32, 40)), n_classes),  # the transposed fast path
            ]
        )
    )
    cax = at = 1 if len(shape) >= 2 else 0  # at: cax as a non-negative axis
    fn = lambda x, t: ag.nn.functional.cross_entropy(x, t, reduction=reduction)  # noqa: E731
    if draw(st.booleans()):  # the op itself, negative axes too
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=n_min, max_side=4))
        cax = draw(st.integers(-len(shape), len(shape) - 1))
        at = cax % len(shape)
        shape = shape[:at] + (n_classes,) + shape[at + 1 :]
        attrs = {"axis": cax, "reduction": reduction}
        fn = lambda x, t: apply(ops.cross_entropy, (x, t), attrs)  # noqa: E731
    x = _values(draw, shape, _floats(-5, 5))
    t_shape = shape[:at] + shape[at + 1 :]
    t = draw(hnp.arrays(np.int64, t_shape, elements=st.integers(0, n_classes - 1)))

    def ref(x: np.ndarray, t: np.ndarray) -> np.ndarray:
        picked = np.take_along_axis(_ref_log_softmax(x, cax), np.expand_dims(t, cax), cax)
        nll = -np.squeeze(picked, cax)
        return {"mean": np.mean, "sum": np.sum, "none": np.asarray}[reduction](nll)

    return Case(fn, ref, [x, t], (0,))


@spec("where")
def _where(draw: st.DrawFn) -> Case:
    sc, sa, sb = draw(TRIPLES).input_shapes
    cond = draw(hnp.arrays(np.bool_, sc))
    ka = draw(st.sampled_from(["tensor", "ndarray", "number"]))
    kb = "tensor" if ka != "tensor" else draw(st.sampled_from(["tensor", "ndarray", "number"]))
    args: list = [cond]
    for kind, shape in ((ka, sa), (kb, sb)):
        args.append(
            draw(_floats(-3, 3)) if kind == "number" else _values(draw, shape, _floats(-3, 3))
        )
    cform = draw(st.sampled_from(["ndarray", "tensor", "list"]))
    if np.shape(cond.tolist()) != cond.shape:  # e.g. [] for shape (0, 1): not the same index
        cform = "ndarray"
    wrap = {"ndarray": lambda c: c, "tensor": ag.tensor, "list": lambda c: c.tolist()}[cform]
    as_np = (lambda c: c.tolist()) if cform == "list" else (lambda c: c)
    fn = lambda c, a, b: ag.where(wrap(c), a, b)  # noqa: E731
    diff = tuple(i + 1 for i, k in enumerate((ka, kb)) if k == "tensor")
    return Case(fn, lambda c, a, b: np.where(as_np(c), a, b), args, diff)


@spec("reuse")
def _reuse(draw: st.DrawFn) -> Case:
    # Inputs used several times, with broadcasting: gradients from every use add up.
    sx, sy = draw(PAIRS).input_shapes
    x = _values(draw, sx, _floats(-2, 2))
    y = _values(draw, sy, _floats(-2, 2))

    def fn(x: Any, y: Any) -> Any:
        h = x * y + x
        return h * h / (y * y + 1) - x

    return Case(fn, fn, [x, y], (0, 1))


# ------------------------------------------------------------------ reductions


def _reduced_count(shape: tuple, axis: Any) -> int:
    axes = range(len(shape)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    return math.prod(shape[a] for a in axes)


def _axis_and_shape(draw: st.DrawFn, need: int, min_dims: int = 0) -> tuple[tuple, Any]:
    """A shape and an axis (None, int or tuple, negative allowed) reducing >= `need` elements."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=0, max_side=3))
    nd = len(shape)
    if nd == 0:
        axis = None
    else:
        axis = draw(
            st.none()
            | st.integers(-nd, nd - 1)
            | hnp.valid_tuple_axes(nd, min_size=1).map(lambda t: tuple(sorted(t)))
        )
    axes = range(nd) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    shape = list(shape)
    for a in axes:  # reduced dimensions are never empty unless the op allows it
        if need and shape[a] == 0:
            shape[a] = 1
    if need > 1 and _reduced_count(tuple(shape), axis) < need and nd:
        shape[list(axes)[0] % nd] = need
    return tuple(shape), axis


def _reduction_call(draw: st.DrawFn, method: str, axis: Any, keepdims: bool, ddof: Any = None):
    """One of the ways to call a reduction: axis=/keepdims=, dim=/keepdim=, positional,
    or the `ag.` function. `ddof=None` leaves ddof out (NumPy's default, 0)."""
    style = draw(st.sampled_from(["axis", "dim", "positional", "function"]))
    extra = {} if ddof is None else {"ddof": ddof}
    if style == "function" and hasattr(ag, method) and ddof is None:
        return lambda x: getattr(ag, method)(x, axis=axis, keepdims=keepdims)
    if style == "dim":
        return lambda x: getattr(x, method)(dim=axis, keepdim=keepdims, **extra)
    if style == "positional":
        if method in ("var", "std"):  # var(axis, ddof, keepdims), as NumPy orders them
            d = 0 if ddof is None else ddof
            return lambda x: getattr(x, method)(axis, d, keepdims)
        return lambda x: getattr(x, method)(axis, keepdims)
    return lambda x: getattr(x, method)(axis=axis, keepdims=keepdims, **extra)


def _reduction_spec(name: str, ref: Callable, need: int, distinct: bool) -> None:
    @spec(name)
    def body(draw: st.DrawFn) -> Case:
        shape, axis = _axis_and_shape(draw, need)
        keepdims = draw(st.booleans())
        x = _distinct(draw, shape) if distinct else _values(draw, shape, _floats(-3, 3))
        fn = _reduction_call(draw, name, axis, keepdims)
        return Case(fn, lambda x: ref(x, axis=axis, keepdims=keepdims), [x], (0,))


def _np_logsumexp(x: np.ndarray, axis: Any, keepdims: bool) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


_reduction_spec("sum", np.sum, need=0, distinct=False)  # empty reductions are fine for sum
_reduction_spec("mean", np.mean, need=1, distinct=False)
_reduction_spec("max", np.max, need=1, distinct=True)
_reduction_spec("min", np.min, need=1, distinct=True)
_reduction_spec("logsumexp", _np_logsumexp, need=1, distinct=False)


def _moment_spec(name: str, ref: Callable) -> None:
    @spec(name)
    def body(draw: st.DrawFn) -> Case:
        ddof = draw(st.sampled_from([0, 1]))
        # std needs two values (a positive variance: sqrt has no derivative at 0).
        shape, axis = _axis_and_shape(draw, need=2 if name == "std" else ddof + 1, min_dims=1)
        keepdims = draw(st.booleans())
        x = _distinct(draw, shape)
        omit = ddof == 0 and draw(st.booleans())  # NumPy's default ddof=0
        fn = _reduction_call(draw, name, axis, keepdims, ddof=None if omit else ddof)
        return Case(fn, lambda x: ref(x, axis=axis, ddof=ddof, keepdims=keepdims), [x], (0,))


_moment_spec("var", np.var)
_moment_spec("std", np.std)


# ------------------------------------------------------------------ shape ops


def _shape_case(draw: st.DrawFn, fn: Callable, ref: Callable, shape: tuple) -> Case:
    x = _values(draw, shape, _floats(-3, 3))
    return Case(fn, ref, [x], (0,), exact=True)


@spec("reshape")
def _reshape(draw: st.DrawFn) -> Case:
    shape = draw(SHAPES)
    n = math.prod(shape)
    options = [(n,), (-1,), (1, n), (n, 1, 1), tuple(reversed(shape)), shape + (1,)]
    if n and n % 2 == 0:
        options += [(2, -1), (-1, 2, 1)]
    if n == 0:
        options += [(0, 5), (3, 0, 2), (0,)]
    new = draw(st.sampled_from(options))
    form = draw(st.sampled_from(["tuple", "star", "view"]))
    fn = {
        "tuple": lambda x: x.reshape(new),
        "star": lambda x: x.reshape(*new),
        "view": lambda x: x.view(new),
    }[form]
    return _shape_case(draw, fn, lambda x: np.reshape(x, new), shape)


@spec("transpose")
def _transpose(draw: st.DrawFn) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
    nd = len(shape)
    perm = tuple(draw(st.permutations(range(nd))))
    given_axes = tuple(a - nd if draw(st.booleans()) else a for a in perm)  # negative too
    form = draw(st.sampled_from(["transpose", "permute", "reverse", "T"]))
    if form == "reverse":
        return _shape_case(draw, lambda x: x.transpose(), np.transpose, shape)
    if form == "T":
        return _shape_case(draw, lambda x: x.T, lambda x: x.T, shape)
    fn = lambda x: getattr(x, form)(*given_axes)  # noqa: E731
    return _shape_case(draw, fn, lambda x: np.transpose(x, perm), shape)


@spec("swapaxes")
def _swapaxes(draw: st.DrawFn) -> Case:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=3))
    nd = len(shape)
    a, b = draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))
    return _shape_case(draw, lambda x: x.swapaxes(a, b), lambda x: np.swapaxes(x, a, b), shape)


@spec("expand")
def _expand(draw: st.DrawFn) -> Case:
    shape = draw(SHAPES)
    lead = draw(st.lists(st.integers(0, 3), max_size=2))
    target = list(lead)
    for s in shape:
        target.append(
            draw(st.sampled_from([1, 0, 2, 3, -1])) if s == 1 else draw(st.sampled_from([s, -1]))
        )
    full = tuple(lead) + tuple(s if t == -1 else t for s, t in zip(shape, target[len(lead) :]))
    target = tuple(target)
    form = draw(st.sampled_from(["tuple", "star", "broadcast_to"]))
    fn = {
        "tuple": lambda x: x.expand(target),
        "star": lambda x: x.expand(*target),
        "broadcast_to": lambda x: x.broadcast_to(target),
    }[form]
    return _shape_case(draw, fn, lambda x: np.broadcast_to(x, full), shape)


@spec("squeeze")
def _squeeze(draw: st.DrawFn) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=2))
    nd = len(shape)
    if nd == 0:
        axis = None
    else:
        axis = draw(st.none() | st.integers(-nd, nd - 1) | hnp.valid_tuple_axes(nd, min_size=1))
    if axis is None:
        new = tuple(s for s in shape if s != 1)
    else:
        axes = {a % nd for a in (axis if isinstance(axis, tuple) else (axis,))}
        # As PyTorch: an axis that is not of length 1 is left alone (NumPy would raise).
        new = tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1))
    return _shape_case(draw, lambda x: x.squeeze(axis), lambda x: np.reshape(x, new), shape)


@spec("unsqueeze")
def _unsqueeze(draw: st.DrawFn) -> Case:
    shape = draw(SHAPES)
    nd = len(shape)
    axis = draw(st.integers(-nd - 1, nd))
    fn = draw(st.sampled_from([lambda x: x.unsqueeze(axis), lambda x: x.unsqueeze(dim=axis)]))
    return _shape_case(draw, fn, lambda x: np.expand_dims(x, axis), shape)


@spec("flatten")
def _flatten(draw: st.DrawFn) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3))
    nd = len(shape)
    if nd == 0 or draw(st.booleans()):
        new = (math.prod(shape),)
        return _shape_case(draw, lambda x: x.flatten(), lambda x: np.reshape(x, new), shape)
    s = draw(st.integers(0, nd - 1))
    e = draw(st.integers(s, nd - 1))
    new = shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]
    s_arg = s - nd if draw(st.booleans()) else s
    e_arg = e - nd if draw(st.booleans()) else e
    fn = lambda x: x.flatten(s_arg, e_arg)  # noqa: E731
    return _shape_case(draw, fn, lambda x: np.reshape(x, new), shape)


@spec("concatenate")
def _concatenate(draw: st.DrawFn) -> Case:
    base = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3)))
    nd = len(base)
    k = draw(st.integers(1, 3))
    args = []
    if draw(st.booleans()):
        axis = draw(st.integers(-nd, nd - 1))
        for _ in range(k):
            base[axis] = draw(st.integers(0, 3))
            args.append(_values(draw, tuple(base), _floats(-3, 3)))
    else:  # axis=None, as NumPy: every input flattened (any shapes, 0-d too), then joined
        axis = None
        for _ in range(k):
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
            args.append(_values(draw, shape, _floats(-3, 3)))
    kinds = draw(st.lists(st.sampled_from(["tensor", "ndarray"]), min_size=k, max_size=k))
    kinds[draw(st.integers(0, k - 1))] = "tensor"
    form = draw(st.sampled_from(["concatenate", "cat", "dim"]))
    fn = {
        "concatenate": lambda *xs: ag.concatenate(xs, axis),
        "cat": lambda *xs: ag.cat(list(xs), axis),
        "dim": lambda *xs: ag.concatenate(xs, dim=axis),
    }[form]
    diff = tuple(i for i, kind in enumerate(kinds) if kind == "tensor")
    ref = lambda *xs: np.concatenate(xs, axis)  # noqa: E731
    return Case(fn, ref, args, diff, exact=True)


@spec("stack")
def _stack(draw: st.DrawFn) -> Case:
    shape = draw(SHAPES)
    nd = len(shape)
    axis = draw(st.integers(-nd - 1, nd))
    k = draw(st.integers(1, 3))
    args = [_values(draw, shape, _floats(-3, 3)) for _ in range(k)]
    kinds = draw(st.lists(st.sampled_from(["tensor", "ndarray"]), min_size=k, max_size=k))
    kinds[draw(st.integers(0, k - 1))] = "tensor"
    fn = draw(
        st.sampled_from([lambda *xs: ag.stack(xs, axis), lambda *xs: ag.stack(list(xs), dim=axis)])
    )
    diff = tuple(i for i, kind in enumerate(kinds) if kind == "tensor")
    return Case(fn, lambda *xs: np.stack(xs, axis), args, diff, exact=True)


# ------------------------------------------------------------------ indexing
# The index is a constant argument, so the reference is literally `x.data[idx]`.


def _index_case(draw: st.DrawFn, shape: tuple, idx: Any, arrays: bool = True) -> Case:
    """x[idx] with each index array handed over as an ndarray, a Tensor or a (nested) list;
    the reference indexes the NumPy array with the same object (a Tensor as its ndarray)."""
    x = _values(draw, shape, _floats(-3, 3))
    form = draw(st.sampled_from(["ndarray", "tensor", "list"])) if arrays else "ndarray"
    to_engine = {"ndarray": lambda a: a, "tensor": ag.tensor, "list": lambda a: a.tolist()}[form]
    to_numpy = (lambda a: a.tolist()) if form == "list" else (lambda a: a)

    def wrap(convert: Callable) -> Callable:
        def index(i: Any) -> Any:
            if isinstance(i, tuple):
                return tuple(convert(e) if isinstance(e, np.ndarray) else e for e in i)
            return convert(i) if isinstance(i, np.ndarray) else i

        return index

    eng, ref = wrap(to_engine), wrap(to_numpy)
    return Case(lambda x, i: x[eng(i)], lambda x, i: x[ref(i)], [x, idx], (0,), exact=True)


@spec("getitem_basic")
def _getitem_basic(draw: st.DrawFn) -> Case:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    idx = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    return _index_case(draw, shape, idx, arrays=False)


@spec("getitem_int_arrays")
def _getitem_int_arrays(draw: st.DrawFn) -> Case:
    # Repeated (and negative) indices: their gradients accumulate.
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    result = hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=4)
    if draw(st.booleans()):  # one array: indexes the first axis
        n = shape[0]
        idx = draw(hnp.arrays(np.int64, draw(result), elements=st.integers(-n, n - 1)))
    else:  # one array per axis (or a leading subset of them)
        idx = draw(hnp.integer_array_indices(shape, result_shape=result))
        idx = idx[: draw(st.integers(1, len(idx)))]
    return _index_case(draw, shape, idx)


@spec("getitem_bool")
def _getitem_bool(draw: st.DrawFn) -> Case:
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
    k = draw(st.integers(1, len(shape)))
    mask = draw(hnp.arrays(np.bool_, shape[:k]))
    if draw(st.booleans()) and k == 1 and len(shape) > 1:  # a mask on the last axis
        last = draw(hnp.arrays(np.bool_, shape[-1:]))
        return _index_case(draw, shape, (Ellipsis, last))
    return _index_case(draw, shape, mask)


@spec("getitem_mask_of_self")
def _getitem_mask_of_self(draw: st.DrawFn) -> Case:
    # The everyday form: x[x > c], the mask being a comparison of the tensor itself.
    shape = draw(SHAPES)
    c = draw(_floats(-1, 1))
    x = _values(draw, shape, _away(_floats(-3, 3), [c]))  # the mask does not flip under FD
    return Case(lambda x: x[x > c], lambda x: x[x > c], [x], (0,), exact=True)


@spec("getitem_mixed")
def _getitem_mixed(draw: st.DrawFn) -> Case:
    # Advanced and basic indices together: arrays (one common shape), slices, ints, None.
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4))
    ashape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=3))
    n_used = draw(st.integers(1, len(shape)))
    items: list = []
    for n in shape[:n_used]:
        kind = draw(st.sampled_from(["array", "slice", "int"]))
        if kind == "array":
            items.append(draw(hnp.arrays(np.int64, ashape, elements=st.integers(-n, n - 1))))
        elif kind == "slice":
            items.append(draw(st.slices(n)))
        else:
            items.append(draw(st.integers(-n, n - 1)))
    if not any(isinstance(i, np.ndarray) for i in items):
        n = shape[0]
        items[0] = draw(hnp.arrays(np.int64, ashape, elements=st.integers(-n, n - 1)))
    if draw(st.booleans()):
        items.insert(draw(st.integers(0, len(items))), None)
    if n_used < len(shape) and draw(st.booleans()):
        items.append(Ellipsis)
    return _index_case(draw, shape, tuple(items))


# ------------------------------------------------------------------ the tests

ALL_OPS = sorted(SPECS)
SEEDS = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("name", ALL_OPS)
@given(data=st.data())
def test_gradient_matches_finite_differences(name, data):
    case = data.draw(SPECS[name], label="case")
    check_case(case, data.draw(SEEDS, label="seed"))


@pytest.mark.parametrize("name", ALL_OPS)
@given(data=st.data())
def test_hessian_vector_product_matches_finite_differences(name, data):
    case = data.draw(SPECS[name], label="case")
    check_second_order(case, data.draw(SEEDS, label="seed"))


@pytest.mark.parametrize("name", ALL_OPS)
@given(data=st.data())
def test_an_input_changed_in_place_after_the_forward_raises_or_does_not_matter(name, data):
    # The engine checks versions only of the inputs whose values a needed rule reads. If it
    # skipped one a rule does read, backward would use the new values: a silent wrong
    # gradient. So: either backward raises, or the gradients are those of the unchanged run.
    case = data.draw(SPECS[name], label="case")
    xs = [case.args[i] for i in case.diff]
    w = np.random.default_rng(data.draw(SEEDS, label="seed")).uniform(
        -1.5, 1.5, case.reference(xs).shape
    )
    want = _grads_at(case, xs, w)
    for k in range(len(xs)):
        leaves = [ag.tensor(x, requires_grad=True) for x in xs]
        loss = (case.call(leaves) * w).sum()
        with ag.no_grad():
            leaves[k] += 0.37
        try:
            loss.backward()
        except RuntimeError as e:
            assert "modified by an in-place operation" in str(e)
            continue
        for t, g in zip(leaves, want):
            np.testing.assert_array_equal(t.grad.data, g, err_msg=f"input {k} changed")


ELEMENTWISE = [*UNARY, "clip", "pow_number", "rpow_number"]


@pytest.mark.parametrize("name", ELEMENTWISE)
@given(data=st.data())
def test_elementwise_second_derivative(name, data):
    # d²/dx² sum(f(x)) = f''(x) elementwise, vs central differences of f'.
    check_second_order(data.draw(SPECS[name], label="case"), 0, ones=True)


def test_every_op_of_the_api_is_covered():
    covered = set(SPECS)
    api = {
        "add", "sub", "mul", "div", "pow", "neg", "matmul",
        "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs", "clip",
        "maximum", "minimum", "where",
        "sum", "mean", "max", "min", "var", "std", "logsumexp",
        "reshape", "transpose", "swapaxes", "expand", "squeeze", "unsqueeze", "flatten",
        "concatenate", "stack", "getitem_basic", "getitem_int_arrays", "getitem_bool",
    }  # fmt: skip
    assert api <= covered, sorted(api - covered)


# ------------------------------------------------------------------ known values


def test_repeated_indices_accumulate():
    x = ag.tensor([10.0, 20.0, 30.0, 40.0], requires_grad=True)
    for idx in ([0, 0, 2, 0, -1], np.array([0, 0, 2, 0, -1]), ag.tensor([0, 0, 2, 0, -1])):
        x.grad = None
        y = x[idx]
        np.testing.assert_array_equal(y.data, [10.0, 10.0, 30.0, 10.0, 40.0])
        (y * ag.tensor([1.0, 2.0, 3.0, 4.0, 5.0])).sum().backward()
        np.testing.assert_array_equal(x.grad.data, [7.0, 0.0, 3.0, 5.0])


def test_repeated_index_pairs_accumulate_in_2d():
    x = ag.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x[[1, 1, 0], [2, 2, 2]]
    np.testing.assert_array_equal(y.data, [5.0, 5.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0, 0, 1], [0, 0, 2]])


@pytest.mark.parametrize(
    "idx",
    [[], [[]], [0, -1, 0], [[1], [0]], [True, False, True], ([0, 1], [2, 2]), (slice(None), [])],
    ids=repr,
)
def test_list_indices_index_as_numpy_does(idx):
    # Lists are index arrays for NumPy, an empty list an empty *integer* index.
    data = np.arange(9.0).reshape(3, 3)
    x = ag.tensor(data, requires_grad=True)
    y = x[idx]
    expected = data[idx]
    np.testing.assert_array_equal(y.data, expected, strict=True)
    (y * 2.0).sum().backward()
    ids = np.arange(9).reshape(3, 3)[idx]  # which element each output came from
    counts = 2.0 * np.bincount(ids.ravel(), minlength=9).reshape(3, 3)
    np.testing.assert_array_equal(x.grad.data, counts)


def test_broadcast_0d_intermediate_used_twice():
    # A 0-d non-leaf broadcast against a vector, in two places: its two gradients are each
    # summed down to 0-d and must add up (NumPy's sum to 0-d gives a scalar, not an array).
    y = ag.tensor(2.0, requires_grad=True)
    z = y * 1.0
    v = np.array([1.0, 2.0])
    ((z * v).sum() + (z * v).sum()).backward()
    assert y.grad.item() == 6.0


def test_pow_at_zero_exponent():
    x = ag.tensor([0.5, 2.0, 3.0], requires_grad=True)
    y = ag.tensor([0.0, 0.0, 0.0], requires_grad=True)
    (x**y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(y.grad.data, np.log([0.5, 2.0, 3.0]), rtol=1e-15)


def test_comparisons_give_bool_tensors_without_gradient():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for out, ref in [
        (x < 2, [True, False, False]),
        (x <= 2, [True, True, False]),
        (x > 2, [False, False, True]),
        (x >= 2, [False, True, True]),
        (x == 2, [False, True, False]),
        (x != 2, [True, False, True]),
        (2 < x, [False, False, True]),
    ]:
        assert out.dtype == np.bool_
        assert not out.requires_grad
        np.testing.assert_array_equal(out.data, ref)


def test_argmax_argmin_have_no_gradient():
    x = ag.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    np.testing.assert_array_equal(x.argmax(axis=1).data, [1, 0])
    np.testing.assert_array_equal(x.argmin(axis=0).data, [0, 1, 0])
    assert x.argmax().item() == 3
    assert not x.argmax().requires_grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_many_short_rows_take_the_transposed_path_with_the_same_results(dtype):
    # (batch >= 32, classes <= 16) logits reduce along the transposed copy (faster in NumPy);
    # values and gradients must be those of the plain formulas, also with -inf entries.
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((40, 7)) * 4).astype(dtype)
    x[3, 2] = -np.inf
    F = ag.nn.functional
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    for axis in (1, -1):
        for keepdims in (False, True):
            out = ag.logsumexp(ag.tensor(x), axis=axis, keepdims=keepdims)
            expected = lse if keepdims else lse[:, 0]
            assert out.shape == expected.shape and out.dtype == dtype
            np.testing.assert_allclose(out.data, expected, **tol)
        np.testing.assert_allclose(F.log_softmax(x, axis=axis).data, x - lse, **tol)
        np.testing.assert_allclose(F.softmax(x, axis=axis).data, np.exp(x - lse), **tol)
    assert F.softmax(x, axis=1).data.flags.c_contiguous
    t = ag.tensor(x, requires_grad=True)
    (ag.logsumexp(t, axis=1) * np.arange(40)).sum().backward()
    np.testing.assert_allclose(t.grad.data, np.exp(x - lse) * np.arange(40)[:, None], **tol)


def test_index_arrays_reused_before_backward_do_not_change_the_gradient():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for make in (np.array, ag.tensor):
        i = make([0, 0, 2])
        y = (x[i] * ag.tensor([1.0, 2.0, 3.0])).sum()
        (i.data if isinstance(i, ag.Tensor) else i)[:] = 1  # the caller reuses its buffer
        x.grad = None
        y.backward()
        np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 3.0])


def test_array_arguments_reused_before_backward_do_not_change_the_gradient():
    # A plain ndarray has no version counter: the node keeps its own copy of it.
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    a = np.array([1.0, 2.0, 3.0])
    c = np.array([True, False, True])
    y = (x * a).sum() + (a / x).sum() + ag.where(c, x, 0.0).sum()
    a[:] = 100.0
    c[:] = False
    y.backward()
    x0 = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(x.grad.data, x0 - x0 / x0**2 + [1.0, 0.0, 1.0], rtol=1e-15)


def test_pow_exponent_gradient_at_zero_base_follows_torch():
    # d/dy xʸ = xʸ·ln x at x = 0: 0 for y >= 0 (the limit), -inf for y < 0 (∞·(-∞)).
    x = ag.tensor([0.0, 0.0, 0.0, 2.0])
    y = ag.tensor([-1.0, 0.0, 2.0, 3.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        (x**y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [-np.inf, 0.0, 0.0, 8 * np.log(2.0)])


def test_std_of_constant_values_has_zero_gradient():
    # √var has an infinite slope at var = 0; torch takes 0 there, not nan.
    x = ag.tensor([2.0, 2.0, 2.0], requires_grad=True)
    x.std().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    m = ag.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    (m.std(axis=0) * ag.tensor([1.0, 2.0, 3.0])).sum().backward()  # length-1 axis
    np.testing.assert_array_equal(m.grad.data, [[0.0, 0.0, 0.0]])
    v = ag.tensor([1.0, 2.0, 4.0], requires_grad=True)
    v.std().backward()  # elsewhere the usual (x - mean) / (n·std)
    d = v.data - v.data.mean()
    np.testing.assert_allclose(v.grad.data, d / (3 * np.sqrt((d * d).mean())), rtol=1e-15)


def test_numpy_scalars_count_as_python_numbers_for_the_result_dtype():
    # As in PyTorch: float32 stays float32 with np.float64 / np.int64 scalars on either side.
    x = ag.tensor(np.array([1.0, 4.0], np.float32), requires_grad=True)
    outs = [
        x / np.sqrt(4.0),
        np.float64(2.0) * x,
        x * np.int64(2),
        ag.where(x > 2, x, np.float64(0)),
    ]
    assert [o.dtype for o in outs] == [np.float32] * 4
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [4.5, 5.5])


def test_float_axis_is_a_type_error_as_in_numpy():
    with pytest.raises(TypeError, match="axis must be an integer"):
        ag.ones(2, 3).sum(axis=0.7)
    assert ag.ones(2, 3).sum(axis=np.int64(1)).shape == (2,)


def test_tensor_of_strings_is_a_type_error():
    with pytest.raises(TypeError, match="dtype <U3"):
        ag.tensor("abc")


def test_error_messages_name_the_op_once_and_a_read_only_target():
    with pytest.raises(ValueError) as info:
        ag.ones(2, 3) @ ag.ones(2, 3)
    assert str(info.value).startswith("matmul: ") and "matmul: matmul" not in str(info.value)
    e = ag.ones(3).expand(2, 3)
    with pytest.raises(ValueError, match="read-only"):
        e += 1


def test_float_results_from_ints_take_torchs_dtype():
    # NumPy makes float64 from int64 × float32 and from ints with Python floats; PyTorch
    # keeps the float tensor's dtype, or uses the default dtype when no input is a float.
    i = ag.tensor([1, 2])
    x = ag.tensor(np.array([1.0, 3.0], np.float32), requires_grad=True)
    y = i * x
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0])
    assert (i * 1.5).dtype == (i / 2).dtype == np.float64
    ag.set_default_dtype("float32")
    try:
        outs = [i * 1.5, i / 2, i.sqrt(), ag.where(i > 1, 1.0, 0.0), i.mean()]
        assert [o.dtype for o in outs] == [np.float32] * 5
        np.testing.assert_array_equal(outs[1].data, [0.5, 1.0])
        assert (ag.tensor(np.ones(2)) * i).dtype == np.float64  # a float64 input stays
    finally:
        ag.set_default_dtype("float64")


def test_astype_keeps_the_dtype_it_was_asked_for():
    x = ag.tensor(np.array([1.5], np.float32), requires_grad=True)
    y = x.astype(np.float64)
    assert y.dtype == np.float64
    (y * 2).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.item() == 2.0
    ag.set_default_dtype("float32")
    try:
        assert ag.tensor([1, 2]).astype(np.float64).dtype == np.float64
    finally:
        ag.set_default_dtype("float64")


def test_numpy_int_scalars_count_as_python_ints():
    # As in PyTorch: int32 times np.int64(2) stays int32, float32 times np.int64(2) float32.
    assert (ag.ones(2, dtype=np.int32) * np.int64(2)).dtype == np.int32
    x = ag.tensor(np.array([1.0, 2.0], np.float32))
    assert (x * np.int64(2)).dtype == np.float32
    # A constant that does not fit is a clear error naming the op (PyTorch wraps silently).
    with pytest.raises(OverflowError, match="mul: .*300"):
        ag.ones(2, dtype=np.int8) * np.int64(300)


def test_a_grad_write_into_a_read_only_view_names_the_op():
    w = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    e = ag.zeros(3).expand((2, 3))
    with pytest.raises(
        ValueError, match=r"add_ \(\+=\): the tensor \(shape \(2, 3\)\) is read-only"
    ):
        e += w
    with pytest.raises(ValueError, match="__setitem__: the tensor .* is read-only"):
        e[0] = w
