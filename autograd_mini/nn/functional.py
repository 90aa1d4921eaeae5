"""Activations and losses (``torch.nn.functional``'s formulas), composed from the library's ops.

Every function is built from `ops` (exp, log, logsumexp, where, indexing, ...), so gradients
of any order come from the engine; `linear` and the everyday `cross_entropy` (integer targets,
no weights) are single primitives of `ops`, one graph node each, as in PyTorch. Where the textbook
formula loses precision the composition is arranged so it does not:
- `log_softmax`/`cross_entropy` subtract the row maximum before `logsumexp`, so logits of
  magnitude 1e4 give exact-looking losses, also tiny ones (a confident, correct prediction);
- `binary_cross_entropy_with_logits` picks, per element, the branch of
  (1 - t)·x + log(1 + e^-x) that never exponentiates a positive number, with an accurate
  log(1 + y) for small y, and so that its gradient is σ(x) - t in a single rounding.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np

from .. import ops
from ..engine import is_grad_enabled
from ..functions import exp, log, where
from ..tensor import Tensor, _dim_alias, _norm_axis, apply, get_rng

__all__ = [
    "linear",
    "relu",
    "tanh",
    "sigmoid",
    "softmax",
    "log_softmax",
    "dropout",
    "mse_loss",
    "nll_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]

_REDUCTIONS = ("mean", "sum", "none")
_UNSIGNED = {n: np.dtype(f"u{n}") for n in (1, 2, 4, 8)}  # int dtypes' itemsizes
# torch's binary_cross_entropy backward caps x·(1 - x) at its EPSILON, the float literal
# 1e-12f, i.e. 1e-12 rounded to float32 (9.99999996e-13), in every dtype.
_BCE_EPS = float(np.float32(1e-12))


def _t(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _like(name: str, x: Tensor, other: Any) -> Tensor:
    """`other` (a target or weight) as a Tensor of x's dtype (differentiably, if it needs grad)."""
    o = _t(other)
    if o.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected numbers, got dtype {o.dtype}")
    return o if o.dtype == x.dtype else o.astype(x.dtype)


def _weight(name: str, x: Tensor, w: Any, what: str = "weight") -> Tensor:
    """A per-element weight for x: numbers that broadcast to x's shape (as in PyTorch)."""
    w = _like(name, x, w)
    try:
        fits = np.broadcast_shapes(w.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{name}: {what} of shape {w.shape} does not broadcast to the input's shape {x.shape}"
        )
    return w


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_float(name: str, what: str, x: Tensor) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: {what} must be a floating point tensor, got dtype {x.dtype}")


def _check_same_shape(name: str, x: Tensor, target: Any) -> None:
    tshape = np.shape(_data(target))
    if tshape != x.shape:
        raise ValueError(
            f"{name}: target shape {tshape} differs from input shape {x.shape}; they must be "
            f"equal (broadcasting a target is almost always a bug, e.g. (n, 1) against (n,))"
        )


def _log1p(y: Tensor) -> Tensor:
    """log(1 + y) for y >= -1, accurate when |y| is tiny (-inf at y = -1)."""
    # Goldberg's trick: with u = 1 ⊕ y (rounded), log(1 + y) = log(u)·y / (u - 1), and
    # log(1 + y) = y when u rounds to 1. The correction log(u)·(y / (u - 1) - 1) only undoes
    # the rounding of u; it is 0 in real arithmetic, so it is added as a constant and the
    # gradient is that of log(u): 1/u, within an ulp of 1/(1 + y). The `where`s keep log away
    # from 0 so that no branch, selected or not, makes a NaN gradient.
    u = 1 + y
    ud, yd = u.data, y.data
    exact = ud == 1
    pos = ud > 0
    plain = exact | ~pos
    with np.errstate(divide="ignore", invalid="ignore"):
        lu = np.log(np.where(pos, ud, 1.0))
        corr = np.where(plain, 0.0, lu * (yd / np.where(plain, 1.0, ud - 1) - 1))
    lg = log(where(pos, u, 1.0)) + corr.astype(yd.dtype, copy=False)
    return where(exact, y, where(pos, lg, -np.inf))


def _axis(name: str, x: Tensor, axis: Any, kw: dict) -> int:
    axis = _dim_alias(name, axis, kw)
    if x.ndim == 0 and axis not in (None, 0, -1):
        raise ValueError(f"{name}: axis {axis} is out of range for a 0-d tensor (use 0 or -1)")
    # A 0-d input counts as one element along axis 0 (or -1), as in PyTorch.
    return _norm_axis(name, -1 if axis is None else axis, max(x.ndim, 1))


def _along(op: Any, name: str, x: Any, axis: Any, kw: dict) -> Tensor:
    """op (softmax or log_softmax) of x along `axis`; a 0-d x as its one-element vector."""
    x = _t(x)
    attrs = {"axis": _axis(name, x, axis, kw)}
    if x.ndim == 0:
        return apply(op, (x.reshape((1,)),), attrs).reshape(())
    return apply(op, (x,), attrs)


# --------------------------------------------------------------------------- activations


def linear(input: Any, weight: Any, bias: Any = None) -> Tensor:
    """input @ weight.T + bias, with weight shaped (out_features, in_features)."""
    x, w = _t(input), _t(weight)
    xs, ws = x.data.shape, w.data.shape  # (the arrays' own shapes: this runs every layer)
    if len(ws) != 2:
        raise ValueError(f"linear: weight must be 2-d (out, in), got shape {ws}")
    if not xs or xs[-1] != ws[1]:
        raise ValueError(
            f"linear: input of shape {xs} does not end in in_features={ws[1]} "
            f"(weight of shape {ws})"
        )
    if bias is None:
        return apply(ops.linear, (x, w))
    b = bias if isinstance(bias, Tensor) else _data(bias)
    bs = b.data.shape if isinstance(b, Tensor) else b.shape
    if bs != (ws[0],):
        raise ValueError(f"linear: bias must have shape ({ws[0]},) for weight {ws}, got {bs}")
    return apply(ops.linear, (x, w, b))


def relu(x: Any) -> Tensor:
    """max(x, 0), elementwise (relu'(0) = 0)."""
    return _t(x).relu()


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return _t(x).tanh()


def sigmoid(x: Any) -> Tensor:
    """Logistic sigmoid 1 / (1 + e^-x), elementwise."""
    return _t(x).sigmoid()


def softmax(x: Any, axis: int | None = None, **kw: Any) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis` (default: the last one; `dim` is an alias)."""
    return _along(ops.softmax, "softmax", x, axis, kw)


def log_softmax(x: Any, axis: int | None = None, **kw: Any) -> Tensor:
    """x - logsumexp(x) along `axis` (default: the last one; `dim` is an alias)."""
    return _along(ops.log_softmax, "log_softmax", x, axis, kw)


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (if training)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability has to be between 0 and 1, but got {p!r}")
    x = _t(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * np.zeros((), dtype=x.dtype)
    keep = get_rng().random(x.shape) < 1.0 - p
    return x * (keep * (1.0 / (1.0 - p))).astype(x.dtype)


# --------------------------------------------------------------------------- losses


def mse_loss(input: Any, target: Any, reduction: str = "mean") -> Tensor:
    """(input - target)², reduced by `reduction` ('mean', 'sum' or 'none')."""
    _check_reduction("mse_loss", reduction)
    x = _t(input)
    _check_float("mse_loss", "input", x)
    tshape = np.shape(_data(target))
    if tshape != x.shape:
        try:
            np.broadcast_shapes(x.shape, tshape)
        except ValueError:
            raise ValueError(
                f"mse_loss: target shape {tshape} does not broadcast against input shape {x.shape}"
            ) from None
        # As PyTorch: broadcast, with its warning ((n, 1) against (n,) gives an (n, n) loss).
        warnings.warn(
            f"mse_loss: using a target size {tshape} that is different to the input size "
            f"{x.shape}. This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            UserWarning,
            stacklevel=2,
        )
    d = x - _like("mse_loss", x, target)
    return _reduce(d * d, reduction)


def _class_weight(name: str, weight: Any, n_classes: int, dtype: np.dtype) -> np.ndarray | None:
    if weight is None:
        return None
    if isinstance(weight, Tensor) and weight._rg and is_grad_enabled():
        # The weight enters as a constant: no gradient would reach it, without a word.
        raise TypeError(
            f"{name}: the class weight requires grad, but no gradient flows to it (as in "
            f"PyTorch for class-index targets); pass weight.detach()"
        )
    w = _data(weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name}: weight must hold numbers, got dtype {w.dtype}")
    if w.shape != (n_classes,):
        raise ValueError(
            f"{name}: weight must have shape ({n_classes},), one entry per class, got {w.shape}"
        )
    return w.astype(dtype, copy=False)


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """-input[n, target[n]] (input: log-probabilities, classes on axis 1), weighted and reduced."""
    _check_reduction("nll_loss", reduction)
    x = _t(input)
    _check_float("nll_loss", "input", x)
    if x.ndim == 0:
        raise ValueError("nll_loss: input must have a class axis, got a 0-d tensor")
    cax = 1 if x.ndim >= 2 else 0
    n_classes = x.shape[cax]
    w = _class_weight("nll_loss", weight, n_classes, x.dtype)
    t, _ = _int_targets("nll_loss", x, target, cax, ignore_index)
    loss, denom = _nll(x, t, w, cax, ignore_index)
    return _reduce_nll(loss, denom, reduction)


def _reduce_nll(loss: Tensor, denom: np.ndarray | None, reduction: str) -> Tensor:
    """Reduce per-sample losses; "mean" divides by the total weight when there is one."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if denom is None:
        return loss.mean()
    with np.errstate(invalid="ignore", divide="ignore"):  # no weight at all: NaN, as in torch
        return loss.sum() / denom


def _int_targets(
    name: str, x: Tensor, target: Any, cax: int, ignore_index: int
) -> tuple[np.ndarray, bool]:
    """The class-index targets, checked, and whether some of them is `ignore_index`."""
    if not isinstance(ignore_index, numbers.Integral):
        raise TypeError(f"{name}: ignore_index must be an int, got {type(ignore_index).__name__}")
    t = _data(target)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: target must hold integer class indices (got dtype {t.dtype}); for class "
            f"probabilities pass a floating target shaped like the input"
        )
    expected = x.shape[:cax] + x.shape[cax + 1 :]
    if t.shape != expected:
        raise ValueError(
            f"{name}: expected a target of shape {expected} for input of shape {x.shape} "
            f"(classes on axis {cax}), got {t.shape}"
        )
    n_classes = x.shape[cax]
    # The common case in one reduction: read as unsigned, a negative index is huge, so the
    # largest target is below n_classes exactly when every target is a class.
    u = t.view(_UNSIGNED[t.itemsize]) if t.dtype.kind == "i" else t
    if not t.size or np.maximum.reduce(u if u.ndim == 1 else u.reshape(-1)) < n_classes:
        return t, 0 <= ignore_index < n_classes and ignore_index in t
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if np.any(bad):
        raise ValueError(
            f"{name}: target value {int(t[bad].flat[0])} is out of range for {n_classes} "
            f"classes (valid: 0..{n_classes - 1}, or ignore_index={ignore_index})"
        )
    return t, True


def _nll(
    logp: Tensor, t: np.ndarray, w: np.ndarray | None, cax: int, ignore_index: int
) -> tuple[Tensor, np.ndarray | None]:
    """Per-sample -w[t]·logp[.., t, ..] and the mean's denominator (None: a plain mean)."""
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    if logp.ndim == 1:
        picked = logp[safe]
    else:
        grid = np.indices(t.shape, sparse=True)
        picked = logp[(grid[0], safe, *grid[1:])]
    if w is None and valid.all():
        return -picked, None
    ws = np.where(valid, w[safe] if w is not None else 1.0, 0.0).astype(logp.dtype)
    # An ignored sample's weight 0 alone does not remove it: its stand-in pick (class 0) may
    # be -inf (masked logits on padding), and -inf·0 is NaN. The `where` cuts ignored samples
    # out of the value and the gradient (0, as in torch), whatever reaches them.
    total = ws.sum()
    if not valid.any():
        # The mean over no samples is torch's 0/0 = NaN. Dividing by NaN gives it without
        # 0/0's and g/0's warnings, and the `where` turns the gradient g/NaN into 0.
        total = ws.dtype.type(np.nan)
    return where(valid, -picked, 0.0) * ws, total


def _smoothing(label_smoothing: Any) -> float:
    """cross_entropy's label_smoothing, checked: a number in [0, 1]."""
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(
            f"cross_entropy: label_smoothing must be a number, got {type(label_smoothing).__name__}"
        )
    label_smoothing = float(label_smoothing)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}"
        )
    return label_smoothing


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits (classes on axis 1) vs class indices or probabilities."""
    _check_reduction("cross_entropy", reduction)
    x = _t(input)
    _check_float("cross_entropy", "input (logits)", x)
    ndim = x.data.ndim
    if ndim == 0:
        raise ValueError("cross_entropy: input must have a class axis, got a 0-d tensor")
    if type(label_smoothing) is not float or not 0.0 <= label_smoothing <= 1.0:
        label_smoothing = _smoothing(label_smoothing)
    cax = 1 if ndim >= 2 else 0
    n_classes = x.data.shape[cax]
    w = None if weight is None else _class_weight("cross_entropy", weight, n_classes, x.dtype)
    wshape = (n_classes,) + (1,) * (ndim - cax - 1)

    if _data(target).dtype.kind == "f":  # class probabilities, shaped like the input
        _check_same_shape("cross_entropy", x, target)
        logp = log_softmax(x, axis=cax)
        p = _like("cross_entropy", x, target)
        if label_smoothing > 0:
            p = p * (1 - label_smoothing) + label_smoothing / n_classes
        wl = logp * w.reshape(wshape) if w is not None else logp
        loss = -(wl * p).sum(axis=cax)
        return _reduce(loss, reduction)

    t, ignored = _int_targets("cross_entropy", x, target, cax, ignore_index)
    if w is None and label_smoothing == 0 and not ignored:
        # The everyday case in one node: log_softmax, pick, reduce.
        return apply(ops.cross_entropy, (x, t), {"axis": cax, "reduction": reduction})
    logp = log_softmax(x, axis=cax)
    nll, denom = _nll(logp, t, w, cax, ignore_index)
    out = _reduce_nll(nll, denom, reduction)
    if label_smoothing == 0:
        return out
    # torch's label smoothing: (1 - ε)·nll + ε/C · (-Σ_c w_c·logp_c), reduced like the nll.
    wl = logp * w.reshape(wshape) if w is not None else logp
    valid = t != ignore_index
    smooth = where(valid, -wl.sum(axis=cax), 0.0)
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        if denom is None:
            denom = np.asarray(valid.sum(), dtype=x.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):  # see _reduce_nll
            smooth = smooth.sum() / denom
    return out * (1 - label_smoothing) + smooth * (label_smoothing / n_classes)


# 0 (shaped like t) whose gradient with respect to t is g·d, for a constant array d: a term
# that adds a gradient d, even an infinite one, without changing a value. Its rule is linear
# in g, so a recorded backward (create_graph) can be differentiated again (d/dt of it is 0).
_zero_with_grad = ops.primitive(
    "zero_with_grad", lambda t, d: np.zeros_like(t), lambda g, ans, t, d: g * d, None
)


def binary_cross_entropy(
    input: Any, target: Any, weight: Any = None, reduction: str = "mean"
) -> Tensor:
    """-w·(t·log x + (1 - t)·log(1 - x)) for probabilities x, each log clamped at -100."""
    _check_reduction("binary_cross_entropy", reduction)
    x = _t(input)
    _check_float("binary_cross_entropy", "input", x)
    _check_same_shape("binary_cross_entropy", x, target)
    target = _like("binary_cross_entropy", x, target)
    xd, td = x.data, target.data
    if not np.all((xd >= 0) & (xd <= 1)):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and 1")
    if not np.all((td >= 0) & (td <= 1)):
        raise ValueError("binary_cross_entropy: all elements of target should be between 0 and 1")
    # torch clamps both logs at -100 so x = 0 or 1 gives a finite loss (at most 100).
    pos = xd > 0
    log_x = where(pos, log(where(pos, x, 1.0)), -100.0)
    log_x = where(log_x.data > -100, log_x, -100.0)
    log_1mx = _log1p(-x)
    log_1mx = where(log_1mx.data > -100, log_1mx, -100.0)
    loss = (target - 1) * log_1mx - target * log_x
    # torch's gradient is (x - t) / max(x·(1 - x), ε): the derivative of the loss, except
    # within ε of 0 or 1 where the cap keeps it finite. There use torch's value: the term
    # g·(x - x.detach()) is 0 but carries the gradient g.
    edge = xd * (1 - xd) < _BCE_EPS
    if edge.any():
        g = (xd - td) / np.maximum(xd * (1 - xd), _BCE_EPS)
        t = target.detach()
        capped = (t - 1) * log_1mx.detach() - t * log_x.detach() + g * (x - x.detach())
        if target.requires_grad:
            # The clamps (all inside `edge`) must not reach the target's gradient: torch's is
            # log(1 - x) - log(x), unclamped (±inf at x = 1 and 0), which a product with the
            # target cannot carry (0·inf is NaN); `_zero_with_grad` adds 0 with that gradient.
            with np.errstate(divide="ignore"):
                dt = np.log1p(-xd) - np.log(xd)
            capped = capped + apply(_zero_with_grad, (target, dt))
        loss = where(edge, capped, loss)
    if weight is not None:
        loss = loss * _weight("binary_cross_entropy", x, weight)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy, stably: (1 - t)·x - l·log σ(x), l = 1 + (pw - 1)·t."""
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    x = _t(input)
    _check_float("binary_cross_entropy_with_logits", "input (logits)", x)
    _check_same_shape("binary_cross_entropy_with_logits", x, target)
    target = _like("binary_cross_entropy_with_logits", x, target)
    # -log σ(x) = log(1 + e^-x) for x >= 0 and -x + log(1 + e^x) for x < 0: e^(-|x|) never
    # overflows, and the linear parts are merged per branch so nothing cancels.
    nonneg = x.data >= 0
    sp = _log1p(exp(where(nonneg, -x, x)))  # log(1 + e^-|x|)
    if pos_weight is None:
        loss = where(nonneg, (1 - target) * x, -target * x) + sp
    else:
        pos_weight = _weight("binary_cross_entropy_with_logits", x, pos_weight, "pos_weight")
        lw = 1 + (pos_weight - 1) * target
        loss = where(nonneg, (1 - target) * x, -(pos_weight * target) * x) + lw * sp
    if weight is not None:
        loss = loss * _weight("binary_cross_entropy_with_logits", x, weight)
    return _reduce(loss, reduction)
