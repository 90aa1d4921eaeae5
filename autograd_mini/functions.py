"""The `ag.*` functions on tensors: each takes Tensors, arrays or numbers, returns a Tensor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from .tensor import Tensor, _norm_axis, apply


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def exp(x: Any) -> Tensor:
    """e ** x, elementwise."""
    return apply(ops.exp, (x,))


def log(x: Any) -> Tensor:
    """Natural logarithm, elementwise."""
    return apply(ops.log, (x,))


def sqrt(x: Any) -> Tensor:
    """Square root, elementwise."""
    return apply(ops.sqrt, (x,))


def sin(x: Any) -> Tensor:
    """Sine, elementwise."""
    return apply(ops.sin, (x,))


def cos(x: Any) -> Tensor:
    """Cosine, elementwise."""
    return apply(ops.cos, (x,))


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return apply(ops.tanh, (x,))


def sigmoid(x: Any) -> Tensor:
    """Logistic sigmoid, elementwise."""
    return apply(ops.sigmoid, (x,))


def relu(x: Any) -> Tensor:
    """max(x, 0), elementwise."""
    return apply(ops.relu, (x,))


def abs(x: Any) -> Tensor:  # noqa: A001
    """|x|, elementwise."""
    return apply(ops.abs, (x,))


def clip(x: Any, lo: Any = None, hi: Any = None) -> Tensor:
    """x limited to [lo, hi] (numbers or tensors); x's gradient passes only strictly inside."""
    return _t(x).clip(lo, hi)


clamp = clip


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum (ties share the gradient evenly)."""
    return apply(ops.maximum, (a, b))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum (ties share the gradient evenly)."""
    return apply(ops.minimum, (a, b))


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elements of `a` where `cond` is true, of `b` elsewhere."""
    c = cond.data if isinstance(cond, Tensor) else np.asarray(cond)
    if c.dtype != np.bool_:
        # As PyTorch: a float (or None, or string) condition is a mistake, not a truth value.
        if c.size:
            raise TypeError(
                f"where: condition must be a bool tensor (such as x > 0), got dtype {c.dtype} "
                f"of shape {c.shape}"
            )
        c = c.astype(bool)  # an empty list has no dtype of its own
    return apply(ops.where, (c, a, b))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with numpy.matmul's rules (1-d, 2-d, batched)."""
    return apply(ops.matmul, (a, b))


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
    """log(sum(exp(x))) over `axis`, computed stably."""
    return _t(x).logsumexp(axis, keepdims, **kw)


def sum(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:  # noqa: A001
    """Sum over `axis`."""
    return _t(x).sum(axis, keepdims, **kw)


def mean(x: Any, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
    """Mean over `axis`."""
    return _t(x).mean(axis, keepdims, **kw)


def concatenate(seq: Sequence[Any], axis: int | None = 0, **kw: Any) -> Tensor:
    """Join tensors along an existing axis (axis=None: flattened, as NumPy does)."""
    if "dim" in kw:
        axis = kw.pop("dim")
    if kw:
        raise TypeError(f"concatenate: unexpected keyword arguments {sorted(kw)}")
    seq = tuple(seq)
    if not seq:
        raise ValueError("concatenate: need at least one tensor")
    if axis is None:
        seq, axis = tuple(_t(x).reshape(-1) for x in seq), 0
    nd = np.ndim(seq[0].data if isinstance(seq[0], Tensor) else seq[0])
    if nd == 0:
        raise ValueError("concatenate: zero-dimensional tensors cannot be concatenated")
    return apply(ops.concatenate, seq, {"axis": _norm_axis("concatenate", axis, nd)})


cat = concatenate


def stack(seq: Sequence[Any], axis: int = 0, **kw: Any) -> Tensor:
    """Join tensors of one shape along a new axis."""
    if "dim" in kw:
        axis = kw.pop("dim")
    if kw:
        raise TypeError(f"stack: unexpected keyword arguments {sorted(kw)}")
    ts = [_t(x) for x in seq]
    if not ts:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in ts}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    a = _norm_axis("stack", axis, ts[0].ndim + 1)
    return concatenate([t.unsqueeze(a) for t in ts], axis=a)
