"""The primitives: each op's forward and its vector-Jacobian products, side by side.

Read each entry as calculus. For y = f(x₁, …, xₙ) a rule receives the upstream gradient
`g` = ∂L/∂y, the output `ans` = y and the inputs, and returns ∂L/∂xᵢ = g · ∂y/∂xᵢ (the chain
rule). (One op, `cross_entropy`, declares `saving=`: its rule gets the softmax its forward
computed in place of `ans`, or None when the backward is itself recorded.) Three things the
engine does, so no rule has to:
- broadcasting: a rule may return a gradient shaped like the output; the engine sums it back
  to the input's shape (`engine.unbroadcast`);
- dtype: the gradient is cast to the input's dtype;
- skipping: a rule runs only for inputs that need a gradient.
Rules use these same ops, so on arrays they compute and on Tensors they record: that is how
`create_graph=True` differentiates a gradient again. Ops declared with no rule (comparisons,
`sign`) have no gradient. Everything else (composites such as `var`, `std`, `stack` and most
losses) is built from these in `Tensor` methods, `functions.py` or `nn/functional.py`; a few
common compositions are primitives of their own (`linear`, `softmax`, `log_softmax`,
`cross_entropy`): one graph node each, and a rule that is cheaper than its parts'.
"""

from __future__ import annotations

import builtins
import math
import numbers
from typing import Any

import numpy as np

from .tensor import Op


def primitive(
    name: str, fwd: Any, *rules: Any, saves_ans: bool = False, view: bool = False,
    saving: Any = None, reads: bool | tuple = True, own_dtype: bool = False,
    floats: bool = False,
) -> Op:  # fmt: skip
    """Declare an op: its NumPy forward and one vjp rule per input (None: no gradient).

    `reads=False` declares that the rules use only the inputs' shapes and dtypes, never their
    values, so changing an input in place before backward is harmless (as PyTorch, which
    checks only the tensors an op saved); `reads=((1,), (0,))` says per rule which inputs'
    values it reads (mul: d/dx reads y), so only those of the rules that run are checked.
    `own_dtype=True`: the op sets its output dtype itself (astype), so NumPy's float64 is not
    replaced by PyTorch's promotion. `floats=True`: a float function of one input, which
    computes an int or bool input in the default dtype."""
    if len(rules) == 1 and rules[0] is None:
        return Op(name, fwd, None)
    return Op(name, fwd, rules, saves_ans=saves_ans, view=view, saving=saving, reads=reads,
              own_dtype=own_dtype, floats=floats)  # fmt: skip


def variadic(name: str, fwd: Any, rule: Any, reads: bool = True) -> Op:
    """Declare an op with any number of inputs; `rule(i, g, ans, *xs, **attrs)`."""
    return Op(name, fwd, rule, reads=reads)


# ----------------------------------------------------------------------- helpers for rules


def _kept(g: Any, shape: tuple, axis: Any) -> Any:
    """`g` reshaped as if the reduction over `axis` had kept its dims (so it broadcasts)."""
    return g.reshape(_kept_shape(shape, axis))


def _count(shape: tuple, axis: Any) -> int:
    n = 1
    for i, s in enumerate(shape):
        if axis is None or i in axis:
            n *= s
    return n


def _dpow_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # The power rule, d/dx xʸ = y·xʸ⁻¹ (0 when y = 0, as PyTorch has it). Only where x = 0
    # too is the product 0·∞ masked, so d/dy of this rule (1/x at y = 0) still flows.
    if isinstance(y, numbers.Number):
        if y == 0:
            return g * 0
        return g * (y * (x if y == 2 else x ** (y - 1)))  # x² (the common power): 2x
    with np.errstate(divide="ignore", invalid="ignore"):
        return where((y == 0) & (x == 0), 0.0, g * y * x ** (y - 1))


def _dpow_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    # d/dy xʸ = xʸ·ln x, taken as 0 where x = 0 and y >= 0 (xʸ·ln x -> 0 there, as PyTorch
    # has it); for y < 0 it is ∞·(-∞) = -∞.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # the forward warned
        power = x**y  # (recomputed, not kept: see div below)
    at0 = (x == 0) & (y >= 0)
    base = where(at0, 1.0, x)
    if base.dtype != power.dtype:  # a float32 base under a float64 exponent: log x in float64
        base = base.astype(power.dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        return where(at0, 0.0, g * power * log(base))


def _inside(x: Any, lo: Any, hi: Any) -> Any:
    lower = (x > lo) if lo is not None else True
    upper = (x < hi) if hi is not None else True
    return lower * upper


def _masked(g: Any, keep: Any) -> Any:
    """`g` where `keep` is true, 0 elsewhere."""
    # NumPy multiplies two float arrays in SIMD but converts a bool operand element by
    # element: on arrays the mask becomes a float first (13 µs against 20 at 128×256 float32).
    if type(g) is np.ndarray and type(keep) is np.ndarray and g.shape == keep.shape:
        m = keep.astype(g.dtype)
        m *= g
        return m
    return g * keep


def _product_like(a: Any, b: Any, like: Any) -> Any:
    """a @ b, for the gradient of `like`, in like's memory layout (PyTorch's gradients follow
    their input's strides). A transposed weight (an (in, out) array passed as W.T) then gets
    a gradient laid out as it is, and `w -= lr * grad` runs over matching memory: with the
    layouts mixed, an SGD step of a 64-256-256-10 net takes ~1.5x as long."""
    if (
        type(like) is np.ndarray
        and like.ndim == 2
        and like.strides[0] < like.strides[1]  # column-major (and not a single row)
        and type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 2
        and b.ndim == 2
    ):
        # (a @ b)ᵀ = bᵀ @ aᵀ written into the transpose of a column-major array: the result
        # is an array of its own, not a transposed view, which the engine may keep as .grad.
        out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b), order="F")
        np.matmul(b.T, a.T, out=out.T)
        return out
    if type(a) is np.ndarray and type(b) is np.ndarray:
        return np.matmul(a, b)  # (what matmul does on arrays, without the dispatch)
    return matmul(a, b)


def _tie(x: Any, y: Any) -> Any:
    # 1 where x wins, ½ where x and y tie, 0 where y wins; 1 where either is NaN (no one
    # wins, and the NaN result depends on both), as torch has it.
    return ~(y > x) + (x == y) * -0.5


def _dmax(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    # The gradient goes to the arg-max, split evenly between ties.
    mask = x == _kept(ans, x.shape, axis)
    return _kept(g, x.shape, axis) * mask / mask.sum(axis=axis, keepdims=True)


def _matmul_dx(g: Any, ans: Any, x: Any, y: Any) -> Any:
    if y.ndim == 1:  # (..., m, k) @ (k,) -> (..., m)
        return expand_dims(g, axis=-1) * y
    if x.ndim == 1:  # (k,) @ (..., k, n) -> (..., n); summed over batch by unbroadcast
        return matmul(expand_dims(g, axis=-2), swapaxes(y))
    return _product_like(g, swapaxes(y), x)


def _matmul_dy(g: Any, ans: Any, x: Any, y: Any) -> Any:
    if x.ndim == 1:  # x (k,): outer product with g
        if y.ndim == 1:
            return g * x
        return expand_dims(x, axis=-1) * expand_dims(g, axis=-2)
    if y.ndim == 1:  # (..., m, k) @ (k,): gradient (..., k), summed over batch
        return squeeze_last(matmul(swapaxes(x), expand_dims(g, axis=-1)))
    return _product_like(swapaxes(x), g, y)


def _concat_piece(i: int, g: Any, ans: Any, *xs: Any, axis: int) -> Any:
    start = builtins.sum(np.shape(x)[axis] for x in xs[:i])
    stop = start + np.shape(xs[i])[axis]
    return getitem(g, idx=(slice(None),) * axis + (slice(start, stop),))


def _untake(g: np.ndarray, idx: Any, shape: tuple) -> np.ndarray:
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic_index(idx):
        out[idx] = g
    else:
        np.add.at(out, idx, g)  # repeated indices accumulate
    return out


def _index_put(x: np.ndarray, v: Any, idx: Any) -> np.ndarray:
    out = x.copy()
    out[idx] = v
    return out


def _is_basic_index(idx: Any) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(
        isinstance(i, slice | numbers.Integral)
        and not isinstance(i, bool | np.bool_)
        or i is None
        or i is Ellipsis
        for i in items
    )


def _logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    # log Σ eˣ = m + log Σ eˣ⁻ᵐ with m the max: no overflow, and exact for one dominant term.
    if _short_rows(x, axis):
        out = _logsumexp(x.T.copy(), (0,), True).reshape(-1, 1)
        return out if keepdims else out[:, 0]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # see _shifted_exp
        m, _, _, s = _shifted_exp(x, axis, shift_inf=True)
        out = np.log(s)
    out += m
    if keepdims:
        return out
    return out.reshape(()) if axis is None else out.squeeze(axis=axis)


def _kept_shape(shape: tuple, axis: Any) -> tuple:
    return tuple(1 if axis is None or i in axis else s for i, s in enumerate(shape))


def _short_rows(x: np.ndarray, axis: Any) -> bool:
    """Whether `x` is many short rows reduced along the last axis, as (batch, classes) logits."""
    # NumPy works through a short last axis one row at a time (tens of ns a row): on the
    # transposed copy the same arithmetic runs along rows of `batch`, 3-10x faster.
    return x.ndim == 2 and axis in (1, -1, (1,)) and x.shape[1] <= 16 and x.shape[0] >= 32


def _in_float32(fn: Any) -> Any:
    """`fn` computed in float32 for a float16 input, then rounded once (as PyTorch does):
    each float16 step would round again, several ulps in all."""

    def wrapped(x: np.ndarray, **attrs: Any) -> np.ndarray:
        if x.dtype == np.float16:
            return fn(x.astype(np.float32), **attrs).astype(np.float16)
        return fn(x, **attrs)

    return wrapped


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    # (x - m) - log Σ e^(x - m): subtracting the small log-sum last keeps the largest
    # log-probabilities accurate to the last bit.
    if _short_rows(x, axis):
        return np.ascontiguousarray(_log_softmax(x.T.copy(), 0).T)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # see _shifted_exp
        _, z, _, s = _shifted_exp(x, axis)
        return z - np.log(s)


def _shifted_exp(x: np.ndarray, axis: Any, shift_inf: bool = False) -> tuple[np.ndarray, ...]:
    """m = max along `axis` (kept), z = x - m, eᶻ and Σ eᶻ (kept): the softmax family's core.

    Softmax is shift invariant, and the shift keeps exp finite. A slice of only -inf is not
    shifted (its Σ eᶻ is 0: log-sum -inf, softmax NaN, as in PyTorch); a slice holding +inf
    is shifted by it, so its softmax is all NaN as in PyTorch, except with `shift_inf`
    (logsumexp, which is +inf there). Callers run this under
    np.errstate(over="ignore", invalid="ignore"): -1e308 - 1e308 overflows to -inf, whose exp
    is the 0 wanted, and inf - inf is the NaN wanted; callers that take a log also ignore
    divide (log 0 for a slice of only -inf).
    """
    # No elements have no maximum; their sum, 0, is as good a shift (and has the kept shape).
    m = (np.maximum.reduce if x.size else np.add.reduce)(x, axis=axis, keepdims=True)
    # One sum finds an all -inf slice, an inf or a NaN among the maxima (a sum that overflows
    # only sends finite maxima down the careful path, which keeps them).
    if not np.isfinite(np.add.reduce(m, axis=None)):
        m = _unshifted(m, shift_inf)
    z = x - m
    e = np.exp(z)
    return m, z, e, np.add.reduce(e, axis=axis, keepdims=True)


def _unshifted(m: np.ndarray, shift_inf: bool = False) -> np.ndarray:
    """The maxima `m` with those that must not shift their slice (see _shifted_exp) set to 0."""
    keep = np.isfinite(m) if shift_inf else m != -np.inf
    return np.where(keep, m, 0).astype(m.dtype)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    if _short_rows(x, axis):
        return np.ascontiguousarray(_softmax(x.T.copy(), 0).T)
    # Quiet: see _shifted_exp; a slice of only -inf is 0/0 and one with +inf is inf/inf, NaN
    # (as in PyTorch).
    with np.errstate(over="ignore", invalid="ignore"):
        _, _, e, s = _shifted_exp(x, axis)
        return e / s


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # e^(-log(1 + e^-x)) = 1 / (1 + e^-x), without overflow for large |x|.
    return np.exp(-np.logaddexp(0, -x))


def _expand_copy(x: np.ndarray, shape: tuple) -> np.ndarray:
    # A fresh writeable array: cheaper than np.broadcast_to's Python layer for the small
    # arrays of a backward pass, and the engine may add into it in place.
    out = np.empty(shape, dtype=np.result_type(x))
    out[...] = x
    return out


def _clip(x: np.ndarray, lo: Any = None, hi: Any = None) -> np.ndarray:
    if lo is None and hi is None:
        return x.copy()
    return np.clip(x, lo, hi)


def _dclip_dlo(g: Any, ans: Any, x: Any, lo: Any, hi: Any) -> Any:
    # The output is lo where x <= lo (x itself passes only strictly inside), unless lo >= hi,
    # where it is hi: np.clip is min(max(x, lo), hi).
    return _masked(g, (x <= lo) if hi is None else (x <= lo) * (lo < hi))


def _dclip_dhi(g: Any, ans: Any, x: Any, lo: Any, hi: Any) -> Any:
    # The output is hi where max(x, lo) >= hi.
    return _masked(g, (x >= hi) if lo is None else (x >= hi) + (lo >= hi))


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    # x @ wᵀ + b with the bias added into the fresh product: one output array, as addmm.
    out = np.matmul(x, w.T)
    if b is None:
        return out
    if b.dtype is not out.dtype and np.result_type(out, b) != out.dtype:
        # A wider bias widens the result, as `+` would.
        return out + b
    out += b
    return out


def _linear_dw(g: Any, ans: Any, x: Any, w: Any, b: Any = None) -> Any:
    # ∂L/∂w = gᵀ·x summed over the leading axes of x, flattened into one; axes of g in front
    # of those (a batch of cotangents, in transforms) stay.
    if x.ndim == 1:
        return expand_dims(g, axis=-1) * x
    if x.ndim > 2:
        rows = int(np.prod(x.shape[:-1]))
        g = g.reshape(g.shape[: g.ndim - x.ndim] + (rows, g.shape[-1]))
        x = x.reshape((rows, x.shape[-1]))
    return _product_like(swapaxes(g), x, w)


def _onehot(t: np.ndarray, n: int, axis: int, dtype: Any) -> np.ndarray:
    """1 where the class axis `axis` (length n) equals the target, 0 elsewhere."""
    if t.ndim == 1 and axis == 1:  # (batch,) targets: set one entry per row
        out = np.zeros((t.shape[0], n), dtype)
        out[np.arange(t.shape[0]), t] = 1
        return out
    classes = np.arange(n).reshape((n,) + (1,) * (t.ndim - axis))
    return (t.reshape(t.shape[:axis] + (1,) + t.shape[axis:]) == classes).astype(dtype)


def _cross_entropy_saving(
    x: np.ndarray, t: np.ndarray, axis: int, reduction: str, keep: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """The loss, and softmax(x) for the rule if `keep` (the forward has eᶻ and Σ eᶻ at hand)."""
    # -log softmax(x)[t] = log Σ e^z - z[t] with z = x - max (log_softmax's roundings, only for
    # the picked classes), worked out with the class axis first.
    axis %= x.ndim
    if axis == 1 and x.ndim == 2 and t.ndim == 1 and x.size:
        return _cross_entropy_rows(x, t, reduction, keep)
    xc = x.T.copy() if _short_rows(x, axis) else np.moveaxis(x, axis, 0)
    # Quiet: see _shifted_exp; log 0 for a slice of only -inf; the mean of no samples is
    # NaN, as in PyTorch.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        _, z, e, s = _shifted_exp(xc, 0)
        lse = np.log(s[0])
        if t.ndim == 1:
            nll = lse - z[t, np.arange(t.shape[0])]
        else:
            nll = lse - np.take_along_axis(z, t[None], 0)[0]
        probs = None
        if keep:
            probs = e / s
            probs = np.moveaxis(probs, 0, axis)
        if reduction == "none":
            return nll, probs
        total = np.add.reduce(nll, axis=None)
        if reduction == "sum":
            return total, probs
        return total / nll.size, probs  # NumPy's mean: the sum (pairwise, in the dtype) / n


def _cross_entropy_rows(
    x: np.ndarray, t: np.ndarray, reduction: str, keep: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """_cross_entropy_saving for (batch, classes) logits: the same arithmetic, with 1-d
    reductions and eᶻ computed over z in place (this is the per-step path of a classifier)."""
    xc = x.T.copy() if _short_rows(x, 1) else x.T
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):  # as above
        m = np.maximum.reduce(xc, 0)
        if not math.isfinite(np.add.reduce(m)):  # see _shifted_exp
            m = _unshifted(m)
        z = xc - m
        picked = z[t, np.arange(t.shape[0])]
        e = np.exp(z, out=z)
        s = np.add.reduce(e, 0)
        nll = np.log(s) - picked
        probs = None
        if keep:
            e /= s
            probs = e.T
    if reduction == "none":
        return nll, probs
    total = np.add.reduce(nll)
    return (total if reduction == "sum" else total / nll.size), probs


def _cross_entropy(x: np.ndarray, t: np.ndarray, axis: int, reduction: str) -> np.ndarray:
    # The forward when nothing is recorded: the loss alone.
    return _cross_entropy_saving(x, t, axis, reduction, keep=False)[0]


def _dcross_entropy(g: Any, p: Any, x: Any, t: np.ndarray, axis: int, reduction: str) -> Any:
    # ∂/∂x of -log softmax(x)[t] is softmax(x) - onehot(t), per sample. p is the softmax the
    # forward kept, or None when this rule is itself recorded (then it must be an op of x).
    axis %= x.ndim
    if reduction == "mean":
        g = g / builtins.max(t.size, 1)
    elif reduction == "none":
        g = expand_dims(g, axis=axis)
    if p is None:
        p = softmax(x, axis=axis)
    return (p - _onehot(t, x.shape[axis], axis, x.dtype)) * g


# ------------------------------------------------------------------------- the table
# name                  forward                     d/d(input) for each input

# arithmetic
add = primitive("add", np.add,
                lambda g, ans, x, y: g,
                lambda g, ans, x, y: g, reads=False)  # fmt: skip
sub = primitive("sub", np.subtract,
                lambda g, ans, x, y: g,
                lambda g, ans, x, y: -g, reads=False)  # fmt: skip
mul = primitive("mul", np.multiply,
                lambda g, ans, x, y: g * y,
                lambda g, ans, x, y: g * x, reads=((1,), (0,)))  # fmt: skip
# div and pow recompute x / y and xʸ in the rule for y rather than keep their output (as
# PyTorch): `z = x / 3; z += 1` is then fine, since no rule that runs reads z.
div = primitive("div", np.true_divide,
                lambda g, ans, x, y: g / y,
                lambda g, ans, x, y: -g * (x / y) / y, reads=((1,), (0, 1)))  # fmt: skip
pow = primitive("pow", np.power, _dpow_dx, _dpow_dy)  # noqa: A001
neg = primitive("neg", np.negative, lambda g, ans, x: -g, reads=False)
matmul = primitive("matmul", np.matmul, _matmul_dx, _matmul_dy, reads=((1,), (0,)))
linear = primitive("linear", _linear,  # x @ wᵀ + b, nn.Linear's op
                  lambda g, ans, x, w, b=None: _product_like(g, w, x),
                  _linear_dw,
                  lambda g, ans, x, w, b=None: g, reads=((1,), (0,), ()))  # fmt: skip
maximum = primitive("maximum", np.maximum,
                    lambda g, ans, x, y: g * _tie(x, y),
                    lambda g, ans, x, y: g * _tie(y, x))  # fmt: skip
minimum = primitive("minimum", np.minimum,
                    lambda g, ans, x, y: g * _tie(y, x),
                    lambda g, ans, x, y: g * _tie(x, y))  # fmt: skip

# elementwise functions
exp = primitive("exp", np.exp, lambda g, ans, x: g * ans, saves_ans=True, reads=False,
                floats=True)  # fmt: skip
log = primitive("log", np.log, lambda g, ans, x: g / x, floats=True)
sqrt = primitive("sqrt", np.sqrt, lambda g, ans, x: g / (2 * ans), saves_ans=True, reads=False,
                 floats=True)  # fmt: skip
std_sqrt = primitive("std_sqrt", np.sqrt,  # std = √var; 0 where var = 0, as torch has it
                     lambda g, ans, x: where(ans == 0, 0.0, g / (2 * where(ans == 0, 1.0, ans))),
                     saves_ans=True, reads=False)  # fmt: skip
sin = primitive("sin", np.sin, lambda g, ans, x: g * cos(x), floats=True)
cos = primitive("cos", np.cos, lambda g, ans, x: -g * sin(x), floats=True)
tanh = primitive("tanh", np.tanh, lambda g, ans, x: g * (1 - ans * ans), saves_ans=True,
                 reads=False, floats=True)  # fmt: skip
sigmoid = primitive("sigmoid", _in_float32(_sigmoid), lambda g, ans, x: g * ans * (1 - ans),
                    saves_ans=True, reads=False, floats=True)  # fmt: skip
# relu's rule reads its output, as PyTorch's does, so it is the output, not the input, that
# must not change in place before backward. ans ≠ 0 exactly where x > 0, and where x is NaN
# (np.maximum keeps it), which passes the gradient on as torch's does; same cost as ans > 0.
relu = primitive("relu", lambda x: np.maximum(x, 0), lambda g, ans, x: _masked(g, ans != 0),
                 saves_ans=True, reads=False)  # fmt: skip
abs = primitive("abs", np.abs, lambda g, ans, x: g * sign(x))  # noqa: A001
clip = primitive("clip", _clip,  # min(max(x, lo), hi); x's gradient only strictly inside
                 lambda g, ans, x, lo, hi: _masked(g, _inside(x, lo, hi)),
                 _dclip_dlo, _dclip_dhi)  # fmt: skip
where = primitive("where", np.where,
                  None,
                  lambda g, ans, c, x, y: where(c, g, 0),
                  lambda g, ans, c, x, y: where(c, 0, g), reads=((), (0,), (0,)))  # fmt: skip
copy = primitive("copy", np.copy, lambda g, ans, x: g, reads=False)
astype = primitive("astype", lambda x, dtype: x.astype(dtype),
                   lambda g, ans, x, dtype: astype(g, dtype=x.dtype), reads=False,
                   own_dtype=True)  # fmt: skip


# reductions
def _sum(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    # Every integer or bool sum is int64, as in PyTorch (NumPy sums uint8 to uint64, where
    # `s - 10` would wrap around).
    if x.dtype.kind == "u" and x.dtype.itemsize < 8:
        return x.sum(axis=axis, keepdims=keepdims, dtype=np.int64)
    return x.sum(axis=axis, keepdims=keepdims)


def _mean(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    if _count(x.shape, axis):
        return x.mean(axis=axis, keepdims=keepdims)
    # The mean of nothing is NaN, quietly, as in PyTorch (NumPy warns "Mean of empty slice").
    dtype = x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64)
    with np.errstate(invalid="ignore"):
        return np.add.reduce(x, axis=axis, dtype=dtype, keepdims=keepdims) / dtype.type(0)


sum = primitive("sum", _sum,  # noqa: A001
                lambda g, ans, x, axis=None, keepdims=False:
                    expand_copy(_kept(g, x.shape, axis), shape=x.shape), reads=False)  # fmt: skip
mean = primitive("mean", _mean,
                 lambda g, ans, x, axis=None, keepdims=False:
                     expand_copy(_kept(g, x.shape, axis) / builtins.max(_count(x.shape, axis), 1),
                                 shape=x.shape), reads=False)  # fmt: skip
max = primitive("max", lambda x, axis=None, keepdims=False: x.max(axis=axis, keepdims=keepdims),  # noqa: A001
                _dmax, saves_ans=True)  # fmt: skip
min = primitive("min", lambda x, axis=None, keepdims=False: x.min(axis=axis, keepdims=keepdims),  # noqa: A001
                _dmax, saves_ans=True)  # fmt: skip
softmax = primitive("softmax", _in_float32(_softmax),
                    lambda g, ans, x, axis: ans * (g - (g * ans).sum(axis=axis, keepdims=True)),
                    saves_ans=True, reads=False, floats=True)  # fmt: skip
log_softmax = primitive("log_softmax", _in_float32(_log_softmax),
                        lambda g, ans, x, axis: g - exp(ans) * g.sum(axis=axis, keepdims=True),
                        saves_ans=True, reads=False, floats=True)  # fmt: skip
# softmax cross-entropy of logits x against integer classes t (a constant): one node
cross_entropy = primitive("cross_entropy", _cross_entropy,
                          _dcross_entropy, None, saving=_cross_entropy_saving)  # fmt: skip
logsumexp = primitive("logsumexp", _logsumexp,
                      lambda g, ans, x, axis=None, keepdims=False:
                          _kept(g, x.shape, axis) * exp(x - _kept(ans, x.shape, axis)),
                      saves_ans=True, floats=True)  # fmt: skip

# shape (views of the input's memory; their rules read only shapes. A recorded write into
# the input redoes its views from it, so a view never shows values its history did not make)
reshape = primitive("reshape", lambda x, shape: x.reshape(shape),
                    lambda g, ans, x, shape: g.reshape(x.shape), view=True,
                    reads=False)  # fmt: skip
transpose = primitive("transpose", lambda x, axes: x.transpose(axes),
                      lambda g, ans, x, axes: g.transpose(tuple(np.argsort(axes))),
                      view=True, reads=False)  # fmt: skip
# expand: g has the expanded shape; the engine sums it back to x's (as for any broadcast).
expand = primitive("expand", lambda x, shape: np.broadcast_to(x, shape),
                   lambda g, ans, x, shape: g, view=True, reads=False)  # fmt: skip
expand_copy = primitive("expand_copy", _expand_copy, lambda g, ans, x, shape: g, reads=False)
getitem = primitive("getitem", lambda x, idx: x[idx],
                    lambda g, ans, x, idx: untake(g, idx=idx, shape=x.shape),
                    view=True, reads=False)  # fmt: skip
take = primitive("take", lambda x, idx: x[idx],  # advanced indexing: a copy, not a view
                 lambda g, ans, x, idx: untake(g, idx=idx, shape=x.shape),
                 reads=False)  # fmt: skip
untake = primitive("untake", _untake, lambda g, ans, x, idx, shape: getitem(g, idx=idx),
                   reads=False)  # fmt: skip
index_put = primitive("index_put", _index_put,
                      lambda g, ans, x, v, idx: index_put(g, 0, idx=idx),
                      lambda g, ans, x, v, idx: getitem(g, idx=idx), reads=False)  # fmt: skip
concatenate = variadic("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis),
                       _concat_piece, reads=False)  # fmt: skip

# no gradient
sign = primitive("sign", np.sign, None)
less = primitive("less", np.less, None)
less_equal = primitive("less_equal", np.less_equal, None)
greater = primitive("greater", np.greater, None)
greater_equal = primitive("greater_equal", np.greater_equal, None)
equal = primitive("equal", np.equal, None)
not_equal = primitive("not_equal", np.not_equal, None)
# & | ^ ~ as PyTorch has them: bitwise on integers, logical on bools, an error on floats
bitwise_and = primitive("bitwise_and", np.bitwise_and, None)
bitwise_or = primitive("bitwise_or", np.bitwise_or, None)
bitwise_xor = primitive("bitwise_xor", np.bitwise_xor, None)
bitwise_not = primitive("bitwise_not", np.invert, None)


# ------------------------------------------------------------------ shape helpers for rules
def expand_dims(x: Any, axis: int) -> Any:
    """`x` with a new axis of length 1 (raw arrays stay raw, Tensors record)."""
    shape = list(x.shape)
    shape.insert(axis % (len(shape) + 1), 1)
    return x.reshape(tuple(shape))


def swapaxes(x: Any) -> Any:
    """`x` with its last two axes swapped."""
    nd = x.ndim
    if nd == 2:
        return x.T
    perm = list(range(nd))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return transpose(x, axes=tuple(perm))


def squeeze_last(x: Any) -> Any:
    """`x` without its last axis (of length 1)."""
    return x.reshape(x.shape[:-1])


def variance(x: Any, axis: Any, ddof: int, keepdims: bool) -> Any:
    """Variance as a composite: mean of squared deviations, n/(n - ddof) corrected."""
    n = _count(x.shape, axis)
    d = x - x.mean(axis=axis, keepdims=True)
    return (d * d).sum(axis=axis, keepdims=keepdims) / builtins.max(n - ddof, 0)


def clip_bounds(x: Any, lo: Any, hi: Any) -> Any:
    """Apply `clip` with bounds that are numbers, None, or arrays or Tensors broadcastable
    against x (a Tensor bound that requires grad gets its gradient)."""
    from .tensor import Tensor, apply

    lo, hi = (
        b if b is None or isinstance(b, Tensor | numbers.Number) else np.asarray(b)
        for b in (lo, hi)
    )
    return apply(clip, (x, lo, hi))
