"""Gradient checking: autodiff against finite differences, and the `gradcheck` command.

`gradcheck` builds the whole Jacobian of `f` twice — once from the engine's backward (one
pass per output element) and once from central differences of `f` in float64 — and compares
them entry by entry. When they disagree it does not stop at "input 0 is wrong": it walks the
graph `f` recorded and checks every op on the arrays it actually saw (its vjp rule against
finite differences of its own forward), then names the first op whose own derivative is
wrong. `gradgradcheck` does the same for the gradient itself, recorded with create_graph.

`CATALOGUE` lists every differentiable op (each primitive of `ops.py` and the composites
built on them) with input shapes and a valid input domain; `main` runs both checks over it.
"""

from __future__ import annotations

import argparse
import math
import numbers
import sys
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import engine, ops
from .cli import non_negative_number, positive_number, seed_number
from .engine import Node, enable_grad, no_grad
from .function import OnceDifferentiableError
from .tensor import Op, Tensor, apply

__all__ = [
    "CATALOGUE",
    "GradcheckError",
    "OpCase",
    "gradcheck",
    "gradgradcheck",
    "main",
    "numerical_grad",
    "numerical_jacobian",
    "sample_inputs",
]


class GradcheckError(RuntimeError):
    """An autodiff derivative does not match finite differences (raised by gradcheck)."""


# --------------------------------------------------------------------------- finite differences


def _check_eps(eps: float, fname: str) -> float:
    if not isinstance(eps, numbers.Real) or not math.isfinite(eps) or eps <= 0:
        raise ValueError(f"{fname}: eps must be a positive finite number, got {eps!r}")
    return float(eps)


def _f64(x: Any, fname: str, pos: int) -> np.ndarray:
    """Argument `pos` as a fresh float64 array (the finite differences are taken on it)."""
    if isinstance(x, Tensor):
        arr = x.data
    elif isinstance(x, bool | np.bool_):
        raise TypeError(f"{fname}: argument {pos} is a bool; it cannot be differentiated")
    else:
        arr = np.asarray(x)
    if arr.dtype.kind not in "fiu" or (arr.dtype.kind in "iu" and not isinstance(x, int)):
        raise TypeError(
            f"{fname}: argument {pos} has dtype {arr.dtype}; only floating point inputs (or "
            "Python numbers) can be differentiated"
        )
    # C order: the finite differences step through `reshape(-1)`, a view only of a C array.
    return np.array(arr, dtype=np.float64, copy=True, order="C")


def _evaluate(f: Callable, args: Sequence[Any], arrays: list[np.ndarray], fname: str) -> np.ndarray:
    out = f(*[Tensor(a) for a in arrays])  # called as grad calls it: with Tensors
    if isinstance(out, Tensor):
        out = out.data
    try:
        return np.array(out, dtype=np.float64, copy=True)
    except (TypeError, ValueError):
        raise TypeError(
            f"{fname}: f must return a Tensor, an array or a number, got {type(out).__name__}"
        ) from None


def _fd_columns(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, eps: float) -> np.ndarray:
    """Central differences of `fn` at float64 `x`: one column per element, (out.size, x.size)."""
    x = np.array(x, dtype=np.float64, copy=True, order="C")
    flat = x.reshape(-1)  # a view (x is C-ordered): perturbing it perturbs x
    cols = []
    for j in range(flat.size):
        orig = flat[j]
        flat[j] = orig + eps
        hi = flat[j]
        # Copies: a forward may return a view of its input, which the next step changes.
        plus = np.array(fn(x), dtype=np.float64, copy=True)
        flat[j] = orig - eps
        lo = flat[j]
        minus = np.array(fn(x), dtype=np.float64, copy=True)
        flat[j] = orig
        # Divide by the step actually taken (x ± eps are rounded), not by 2·eps.
        cols.append(((plus - minus) / (hi - lo)).reshape(-1))
    if not cols:
        return np.zeros((fn(x).size, 0))
    return np.stack(cols, axis=1)


def _partial(f: Callable, args: Sequence[Any], arrays: list, i: int, fname: str) -> Callable:
    """`f` as a function of argument `i` alone (a float64 array), returning float64."""

    def fn(xi: np.ndarray) -> np.ndarray:
        vals = list(arrays)
        vals[i] = xi
        return _evaluate(f, args, vals, fname)

    return fn


def numerical_grad(f: Callable, *args: Any, eps: float = 1e-6, method: str = "central") -> Any:
    """Finite-difference gradient(s) of scalar `f`, in float64, shaped like each argument.

    `f` is called as `grad` calls it, with float64 Tensors (no graph is needed).
    """
    eps = _check_eps(eps, "numerical_grad")
    if method not in ("central", "forward"):
        raise ValueError(f"numerical_grad: method must be 'central' or 'forward', got {method!r}")
    if not args:
        raise TypeError("numerical_grad: give at least one argument to differentiate f at")
    arrays = [_f64(a, "numerical_grad", i) for i, a in enumerate(args)]
    f0 = _evaluate(f, args, arrays, "numerical_grad")
    if f0.size != 1:
        raise ValueError(
            f"numerical_grad: f must return a single element (a scalar), got shape {f0.shape}; "
            "use numerical_jacobian for other outputs"
        )
    grads = []
    for i, a in enumerate(args):
        if method == "central":
            g = _fd_columns(_partial(f, args, arrays, i, "numerical_grad"), arrays[i], eps)[0]
        else:
            flat = arrays[i].reshape(-1)
            g = np.empty(flat.size)
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                step = flat[j] - orig
                g[j] = (_evaluate(f, args, arrays, "numerical_grad").item() - f0.item()) / step
                flat[j] = orig
        g = g.reshape(arrays[i].shape)
        grads.append(float(g) if _is_number(a) else g)
    return grads[0] if len(grads) == 1 else tuple(grads)


def numerical_jacobian(f: Callable, *args: Any, eps: float = 1e-6) -> Any:
    """Central-difference Jacobian(s) of `f` in float64, each shaped `out.shape + arg.shape`.

    `f` is called as `jacobian` calls it, with float64 Tensors.
    """
    eps = _check_eps(eps, "numerical_jacobian")
    if not args:
        raise TypeError("numerical_jacobian: give at least one argument to differentiate f at")
    arrays = [_f64(a, "numerical_jacobian", i) for i, a in enumerate(args)]
    out_shape = _evaluate(f, args, arrays, "numerical_jacobian").shape
    jacs = [
        _fd_columns(_partial(f, args, arrays, i, "numerical_jacobian"), a, eps).reshape(
            out_shape + a.shape
        )
        for i, a in enumerate(arrays)
    ]
    return jacs[0] if len(jacs) == 1 else tuple(jacs)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, np.ndarray | Tensor)


# --------------------------------------------------------------------------- the check


class _Result(NamedTuple):
    ok: bool
    max_abs: float
    max_rel: float
    message: str


def _check_tolerances(eps: float, atol: float, rtol: float, fname: str) -> None:
    _check_eps(eps, fname)
    for name, v in (("atol", atol), ("rtol", rtol)):
        if not isinstance(v, numbers.Real) or not v >= 0:
            raise ValueError(f"{fname}: {name} must be a non-negative number, got {v!r}")


def _prepare_inputs(inputs: Any, fname: str) -> tuple[list, list[int]]:
    """float64 leaves for the inputs to check; everything else passed through unchanged."""
    if isinstance(inputs, Tensor | np.ndarray):
        inputs = (inputs,)
    if not isinstance(inputs, tuple | list):
        raise TypeError(
            f"{fname}: inputs must be a tuple of Tensors (or arrays), got {type(inputs).__name__}"
        )
    call: list = []
    diff: list[int] = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            if x.requires_grad:
                if x.dtype.kind != "f":  # pragma: no cover - the Tensor forbids it
                    raise TypeError(f"{fname}: input {i} has dtype {x.dtype}")
                # float32 inputs are checked in float64: differences of float32 values are
                # too coarse to tell a right derivative from a wrong one.
                call.append(Tensor(x.data.astype(np.float64), requires_grad=True))
                diff.append(i)
            else:
                call.append(x)
        elif isinstance(x, np.ndarray) and x.dtype.kind == "f":
            call.append(Tensor(x.astype(np.float64), requires_grad=True))
            diff.append(i)
        else:
            call.append(x)
    if not diff:
        raise ValueError(
            f"{fname}: none of the {len(call)} inputs requires grad; pass Tensors with "
            "requires_grad=True (or float arrays) for the inputs to check"
        )
    return call, diff


def _outputs(out: Any, fname: str) -> tuple[Tensor, ...]:
    items = tuple(out) if isinstance(out, tuple | list) else (out,)
    res = []
    for o in items:
        if isinstance(o, Tensor):
            res.append(o)
        elif isinstance(o, np.ndarray | np.generic | numbers.Number):
            res.append(Tensor(np.asarray(o)))
        else:
            raise TypeError(
                f"{fname}: f must return a Tensor or a tuple of Tensors, got {type(o).__name__}"
            )
    return tuple(res)


def _analytic(outs: tuple, leaves: list[Tensor]) -> list[list[np.ndarray]]:
    """J[k][i]: d outs[k] / d leaves[i] from the engine, shape (out.size, leaf.size)."""
    jac = []
    for o in outs:
        blocks = [np.zeros((o.data.size, leaf.data.size)) for leaf in leaves]
        if o.requires_grad and o.dtype.kind == "f":
            for r in range(o.data.size):
                e = np.zeros(o.data.size, o.dtype)
                e[r] = 1
                gs = engine.backward([o], [e.reshape(o.shape)], retain_graph=True, inputs=leaves)
                for b, g in zip(blocks, gs):
                    if g is not None:
                        b[r] = (g.data if isinstance(g, Tensor) else np.asarray(g)).reshape(-1)
        jac.append(blocks)
    return jac


def _numerical(
    f: Callable, call: list, diff: list[int], outs: tuple, eps: float, fname: str
) -> list[list[np.ndarray]]:
    """J[k][i] from central differences of `f`, all outputs at once."""
    sizes = [o.data.size for o in outs]
    bounds = np.cumsum([0] + sizes)
    jac: list[list] = [[None] * len(diff) for _ in outs]
    for col, i in enumerate(diff):

        def f_all(xi: np.ndarray, i: int = i) -> np.ndarray:
            args = list(call)
            args[i] = Tensor(xi, requires_grad=True)
            # Grad mode as for the analytic run: f may differentiate internally.
            with enable_grad():
                res = _outputs(f(*args), fname)
            if len(res) != len(outs) or any(r.shape != o.shape for r, o in zip(res, outs)):
                raise ValueError(
                    f"{fname}: f returned outputs of different shapes on different calls"
                )
            return np.concatenate([r.data.astype(np.float64).reshape(-1) for r in res])

        block = _fd_columns(f_all, call[i].data, eps)
        for k in range(len(outs)):
            jac[k][col] = block[bounds[k] : bounds[k + 1]]
    return jac


def _errors(a: np.ndarray, n: np.ndarray, atol: float, rtol: float) -> tuple:
    """|a - n|, its relative size, the mismatches, and how far each lies outside atol + rtol·|n|
    (∞ for a NaN or an infinite numerical derivative, so those rank first; -∞ where a matches)."""
    with np.errstate(invalid="ignore"):  # ∞ - ∞ and ∞ / ∞ where both are infinite: NaN
        diff = np.abs(a - n)
        tol = atol + rtol * np.abs(n)
        # NaN anywhere counts as a mismatch; an infinite numerical derivative is matched only
        # by the same infinity (its tolerance, atol + rtol·∞, would admit any finite value).
        bad = ~((diff <= tol) & np.isfinite(n) | (a == n))
        rel = diff / np.maximum(np.abs(n), atol if atol > 0 else np.finfo(np.float64).tiny)
        excess = np.where(np.isnan(diff) | ~np.isfinite(n), np.inf, diff - tol)
    return diff, rel, bad, np.where(bad, excess, -np.inf)


def _max(x: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    return float("inf") if np.isnan(x).any() else float(x.max())


def _fmt_index(flat: int, shape: tuple) -> str:
    return str(tuple(int(v) for v in np.unravel_index(flat, shape))) if shape else "()"


def _check(
    f: Callable, inputs: Any, eps: float, atol: float, rtol: float, fname: str
) -> tuple[_Result, tuple]:
    """Compare the analytic and numerical Jacobians; returns the result and f's outputs."""
    _check_tolerances(eps, atol, rtol, fname)
    call, diff = _prepare_inputs(inputs, fname)
    leaves = [call[i] for i in diff]
    with enable_grad():
        outs = _outputs(f(*call), fname)
    ana = _analytic(outs, leaves)
    num = _numerical(f, call, diff, outs, eps, fname)

    max_abs = max_rel = 0.0
    worst = None  # (excess over tolerance, k, col, flat index)
    nbad = total = 0
    for k in range(len(outs)):
        for col in range(len(diff)):
            a, n = ana[k][col], num[k][col]
            d, rel, bad, excess = _errors(a, n, atol, rtol)
            max_abs, max_rel = max(max_abs, _max(d)), max(max_rel, _max(rel))
            total += a.size
            if bad.any():
                nbad += int(bad.sum())
                flat = int(np.argmax(excess))
                if worst is None or excess.flat[flat] > worst[0]:
                    worst = (excess.flat[flat], k, col, flat)
    if worst is None:
        return _Result(True, max_abs, max_rel, ""), outs

    _, k, col, flat = worst
    i = diff[col]
    o, x = outs[k], call[i]
    r, c = np.unravel_index(flat, ana[k][col].shape)
    out_name = "the output" if len(outs) == 1 else f"output {k}"
    lines = [
        f"{fname}: the Jacobian of {out_name} (shape {o.shape}) with respect to input {i} "
        f"(shape {x.shape}, checked in float64) does not match finite differences",
        f"  input {i}, element {_fmt_index(c, x.shape)} (of {out_name}, element "
        f"{_fmt_index(r, o.shape)}): analytic {ana[k][col][r, c]:.10g}, "
        f"numerical {num[k][col][r, c]:.10g}",
        f"  worst abs error {max_abs:.3g}, worst rel error {max_rel:.3g}; {nbad} of {total} "
        f"Jacobian entries outside atol + rtol*|numerical| (atol={atol:g}, rtol={rtol:g}, "
        f"eps={eps:g})",
    ]
    lines += _localise(outs, eps, atol, rtol)
    return _Result(False, max_abs, max_rel, "\n".join(lines)), outs


def _finish(res: _Result, raise_exception: bool) -> bool:
    if res.ok:
        return True
    if raise_exception:
        raise GradcheckError(res.message)
    return False


def gradcheck(
    f: Callable,
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare f's autodiff Jacobian with central differences (float64); True or GradcheckError."""
    res, _ = _check(f, inputs, eps, atol, rtol, "gradcheck")
    return _finish(res, raise_exception)


def gradgradcheck(
    f: Callable,
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives: gradcheck of f's vjp (recorded with create_graph=True)."""
    res = _gradgrad(f, inputs, eps, atol, rtol)
    return _finish(res, raise_exception)


def _gradgrad(f: Callable, inputs: Any, eps: float, atol: float, rtol: float) -> _Result:
    fname = "gradgradcheck"
    _check_tolerances(eps, atol, rtol, fname)
    call, diff = _prepare_inputs(inputs, fname)
    with enable_grad():
        outs = _outputs(f(*call), fname)
    live = [k for k, o in enumerate(outs) if o.requires_grad and o.dtype.kind == "f"]
    # Fixed random cotangents: a wrong second derivative shows up for almost every choice.
    rng = np.random.default_rng(0)
    cots = [rng.standard_normal(outs[k].shape) for k in live]
    n = len(call)

    def vjp_of_f(*args: Any) -> tuple:
        xs, vs = args[:n], args[n:]
        res = _outputs(f(*xs), fname)
        leaves = [xs[i] for i in diff]
        roots = [res[k] for k in live]
        if not roots or not any(r.requires_grad for r in roots):
            return tuple(Tensor(np.zeros(x.shape)) for x in leaves)
        pairs = [(r, v) for r, v in zip(roots, vs) if r.requires_grad]
        gs = engine.backward(
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            retain_graph=True,
            create_graph=True,
            inputs=leaves,
        )
        return tuple(Tensor(np.zeros(x.shape)) if g is None else g for g, x in zip(gs, leaves))

    extended = list(call) + [Tensor(c, requires_grad=True) for c in cots]
    users = sorted({n.op.name for n in _nodes(outs) if not _is_builtin(n.op)})
    note = "the graph contains user Function(s) " + ", ".join(repr(u) for u in users)
    try:
        res, _ = _check(vjp_of_f, tuple(extended), eps, atol, rtol, fname)
    except OnceDifferentiableError as e:
        return _Result(False, np.inf, np.inf, f"{fname}: {note}: {e}")
    if res.ok or not users:
        return res
    return res._replace(message=res.message + f"\n  note: {note}")


# --------------------------------------------------------------------------- localisation


def _is_builtin(op: Any) -> bool:
    return type(op) is Op and getattr(ops, op.name, None) is op


def _nodes(outs: tuple) -> list[Node]:
    """The recorded nodes behind `outs`, inputs first (the order the forward ran them)."""
    roots = [o._node for o in outs if o._node is not None]
    order = engine.toposort(roots, engine.graph_parents)
    return sorted((n for n in order if type(n) is Node), key=lambda n: n.seq)


def _localise(outs: tuple, eps: float, atol: float, rtol: float) -> list[str]:
    """Name the first recorded op whose own vjp disagrees with differences of its forward."""
    nodes = _nodes(outs)
    checked = 0
    for node in nodes:
        found = _check_node(node, eps, atol, rtol)
        if found is None:
            continue
        if found:
            return [found]
        checked += 1
    if not nodes:
        return []
    return [
        f"  localised: each of the {checked} recorded ops that could be re-run has a derivative "
        "that matches finite differences of its own forward at the values it saw, so the "
        "error is in how they were combined, or f is not differentiable (or not deterministic) "
        "at this point"
    ]


def _describe_op(op: Any) -> str:
    if _is_builtin(op):
        return f"built-in op '{op.name}'"
    if hasattr(op, "cls"):
        return f"user Function '{op.name}'"
    return f"op '{op.name}'"


# Above this many Jacobian entries an op is checked along random directions instead.
_FULL_JACOBIAN_LIMIT = 20_000


def _check_node(node: Node, eps: float, atol: float, rtol: float) -> str | None:
    """'' if the op's derivatives match, a description if not, None if it cannot be re-run."""
    datas = node.datas
    if datas is None:
        return None
    op = node.op
    attrs = node.attrs or {}
    d64 = [
        np.array(d, dtype=np.float64, copy=True)
        if isinstance(d, np.ndarray | np.generic) and np.asarray(d).dtype.kind == "f"
        else d
        for d in datas
    ]

    def fwd(*args: Any) -> np.ndarray:
        return np.asarray(op.fwd(*args, **attrs), dtype=np.float64)

    try:
        with no_grad():
            raw = op.fwd(*d64, **attrs)
            ans = np.asarray(raw, dtype=np.float64)
            # What the rules take as `ans`: the output, or the intermediate a `saving` op keeps.
            kept = op.saving(*d64, **attrs)[1] if op.saving is not None else ans
    except Exception:  # an op that cannot run on float64 copies is skipped, not blamed
        return None
    low = np.asarray(raw).dtype
    if low.kind == "f" and low.itemsize < 8 and any(e is not None for e in node.edges):
        # Its rounding (float32: 6e-8 of the value) divided by the step swamps the slope.
        feps = float(np.finfo(low).eps)
        return (
            f"  localised: the {_describe_op(op)} computes in {low}: its rounding (about "
            f"{feps:.1g} of each value) divided by the step eps={eps:g} leaves finite "
            f"differences through it uncertain by about {feps / eps:.0%} of the value, so they "
            "cannot check its derivative; check f in float64, without the cast"
        )
    for i, e in enumerate(node.edges):
        x = d64[i]
        if e is None or not (isinstance(x, np.ndarray) and x.dtype == np.float64):
            continue

        def vjp_i(g: np.ndarray, i: int = i, x: np.ndarray = x) -> np.ndarray:
            with no_grad():
                gi = op.vjp(g, kept, tuple(d64), node.attrs, node.edges)[i]
            if gi is None:
                return np.zeros(x.shape)
            gi = np.asarray(gi.data if isinstance(gi, Tensor) else gi, dtype=np.float64)
            return engine.unbroadcast(gi, x.shape) if gi.shape != x.shape else gi

        def fwd_i(xi: np.ndarray, i: int = i) -> np.ndarray:
            args = list(d64)
            args[i] = xi
            return fwd(*args)

        try:
            bad = _compare_op(vjp_i, fwd_i, x, ans, eps, atol, rtol)
        except Exception as exc:  # a rule that crashes on its own inputs is wrong, too
            return (
                f"  localised: the {_describe_op(op)} fails when its derivative for input {i} "
                f"is evaluated on its own saved inputs: {type(exc).__name__}: {exc}"
            )
        if bad.startswith("is not differentiable"):
            return (
                f"  localised: the {_describe_op(op)}, for its input {i} (shape {x.shape}), {bad}"
            )
        if bad:
            return (
                f"  localised: the first op whose own derivative is wrong is the "
                f"{_describe_op(op)}: for its input {i} (shape {x.shape}) {bad}"
            )
    return ""


def _compare_op(
    vjp_i: Callable, fwd_i: Callable, x: np.ndarray, ans: np.ndarray, eps: float, atol: float,
    rtol: float,
) -> str:  # fmt: skip
    """'' when op's vjp for one input matches finite differences, else what differs."""
    m, n = ans.size, x.size
    if m * n <= _FULL_JACOBIAN_LIMIT:
        ana = np.zeros((m, n))
        for r in range(m):
            g = np.zeros(m)
            g[r] = 1
            ana[r] = vjp_i(g.reshape(ans.shape)).reshape(-1)
        num = _fd_columns(fwd_i, x, eps)
        _, _, bad, excess = _errors(ana, num, atol, rtol)
        if not bad.any():
            return ""
        r, c = np.unravel_index(int(np.argmax(excess)), ana.shape)
        kink = _one_sided(fwd_i, x, ans, int(r), int(c), ana[r, c], eps, atol, rtol)
        if kink:
            return kink
        return (
            f"at element {_fmt_index(c, x.shape)} (output element {_fmt_index(r, ans.shape)}) "
            f"its backward gives {ana[r, c]:.10g} but finite differences of its forward give "
            f"{num[r, c]:.10g}"
        )
    rng = np.random.default_rng(0)
    for _ in range(3):
        u = rng.standard_normal(x.shape)
        v = rng.standard_normal(ans.shape)
        a = float(np.sum(vjp_i(v) * u))
        hi, lo = x + eps * u, x - eps * u
        num = float(np.sum(v * (fwd_i(hi) - fwd_i(lo)))) / (2 * eps)
        if not abs(a - num) <= atol * math.sqrt(m * n) + rtol * abs(num):
            return (
                f"along a random direction its backward gives {a:.10g} but finite differences "
                f"of its forward give {num:.10g}"
            )
    return ""


def _one_sided(
    fwd_i: Callable, x: np.ndarray, ans: np.ndarray, r: int, c: int, analytic: float,
    eps: float, atol: float, rtol: float,
) -> str:  # fmt: skip
    """A description of the kink at input element c if the slopes from either side differ."""
    step = np.zeros(x.size)
    step[c] = eps
    step = step.reshape(x.shape)
    here = ans.reshape(-1)[r]
    right = (fwd_i(x + step).reshape(-1)[r] - here) / eps
    left = (here - fwd_i(x - step).reshape(-1)[r]) / eps
    if not abs(right - left) > atol + rtol * max(abs(left), abs(right)):
        return ""
    side = ""
    if any(abs(analytic - s) <= atol + rtol * abs(s) for s in (left, right)):
        side = ", one of the one-sided slopes (a subgradient, the value PyTorch gives too)"
    return (
        f"is not differentiable at element {_fmt_index(c, x.shape)}: its slope is {left:.6g} "
        f"from the left and {right:.6g} from the right, so central differences give their "
        f"mean; its backward gives {analytic:.6g}{side}. That is a kink, not a wrong "
        "derivative: check f at a point away from it"
    )


# --------------------------------------------------------------------------- the catalogue


class OpCase(NamedTuple):
    """One catalogue entry: `fn(*tensors)` on inputs of `shapes`, each drawn from `domain`."""

    name: str
    fn: Callable
    shapes: tuple
    domain: tuple


# Input domains: where each op is smooth and finite differences are reliable. "varied":
# real values that are not all equal along an axis (std's derivative is infinite at zero
# variance).
DOMAINS = ("real", "positive", "nonzero", "varied")


def sample_inputs(case: OpCase, rng: np.random.Generator) -> list[np.ndarray]:
    """Random float64 inputs for `case`, each inside its domain."""
    out = []
    for shape, dom in zip(case.shapes, case.domain):
        if dom in ("real", "varied"):
            out.append(rng.standard_normal(shape))
        elif dom == "positive":
            out.append(rng.uniform(0.5, 2.0, shape))
        elif dom == "nonzero":
            out.append(rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape))
        else:
            raise ValueError(f"sample_inputs: unknown domain {dom!r}; expected one of {DOMAINS}")
    return out


def _case(name: str, fn: Callable, shapes: Sequence[tuple], domain: Any = "real") -> OpCase:
    shapes = tuple(tuple(s) for s in shapes)
    dom = (domain,) * len(shapes) if isinstance(domain, str) else tuple(domain)
    if len(dom) != len(shapes):
        raise ValueError(f"catalogue entry {name!r}: one domain per input is needed")
    return OpCase(name, fn, shapes, dom)


def _build_catalogue() -> list[OpCase]:
    from . import functions as F
    from .nn import functional as NF

    targets = np.array([0, 2])
    targets_3d = np.array([[1, 0], [2, 2]])
    targets_33 = np.arange(33) % 4

    mask = np.array([[True, False, True], [False, True, True]])
    sel = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]) > 0.5

    def setitem(a: Tensor, b: Tensor) -> Tensor:
        y = a * 1.0
        y[0] = b
        return y

    def setitem_advanced(a: Tensor, b: Tensor) -> Tensor:
        y = a * 1.0
        y[[0, 2]] = b
        return y

    def softmax(a: Tensor) -> Tensor:
        return apply(ops.softmax, (a,), {"axis": a.ndim - 1})

    def log_softmax(a: Tensor) -> Tensor:
        return apply(ops.log_softmax, (a,), {"axis": a.ndim - 1})

    m23 = [(2, 3), (2, 3)]
    return [
        # arithmetic and broadcasting
        _case("add", lambda a, b: a + b, m23),
        _case("add broadcast", lambda a, b: a + b, [(2, 3), (3,)]),
        _case("add scalar", lambda a: a + 1.5, [(3,)]),
        _case("sub", lambda a, b: a - b, [(2, 3), (2, 1)]),
        _case("rsub scalar", lambda a: 2.0 - a, [(3,)]),
        _case("mul", lambda a, b: a * b, m23),
        _case("mul broadcast", lambda a, b: a * b, [(2, 1), (1, 3)]),
        _case("div", lambda a, b: a / b, m23, ("real", "nonzero")),
        _case("div broadcast", lambda a, b: a / b, [(2, 3), (3,)], ("real", "nonzero")),
        _case("rdiv scalar", lambda a: 1.0 / a, [(3,)], "nonzero"),
        _case("pow", lambda a, b: a**b, m23, ("positive", "real")),
        _case("pow scalar exponent", lambda a: a**3, [(2, 3)]),
        _case("pow negative exponent", lambda a: a**-1.5, [(3,)], "positive"),
        _case("rpow scalar base", lambda a: 2.0**a, [(3,)]),
        _case("square", lambda a: a.square(), [(2, 3)]),
        _case("neg", lambda a: -a, [(2, 3)]),
        _case("maximum", lambda a, b: F.maximum(a, b), m23),
        _case("minimum broadcast", lambda a, b: F.minimum(a, b), [(2, 3), (3,)]),
        _case("where", lambda a, b: F.where(mask, a, b), m23),
        # elementwise functions
        _case("exp", lambda a: a.exp(), [(2, 3)]),
        _case("log", lambda a: a.log(), [(2, 3)], "positive"),
        _case("sqrt", lambda a: a.sqrt(), [(2, 3)], "positive"),
        _case("sin", lambda a: a.sin(), [(2, 3)]),
        _case("cos", lambda a: a.cos(), [(2, 3)]),
        _case("tanh", lambda a: a.tanh(), [(2, 3)]),
        _case("sigmoid", lambda a: a.sigmoid(), [(2, 3)]),
        _case("relu", lambda a: a.relu(), [(2, 3)]),
        _case("abs", lambda a: a.abs(), [(2, 3)]),
        _case("clip", lambda a: a.clip(-0.5, 0.5), [(2, 3)]),
        _case("clip lower bound only", lambda a: a.clip(lo=0.2), [(2, 3)]),
        _case("clip upper bound only", lambda a: a.clip(hi=-0.2), [(2, 3)]),
        _case("clip tensor bounds", lambda a, lo, hi: a.clip(lo, hi), [(2, 3), (3,), (2, 1)]),
        _case("copy (clone)", lambda a: a.clone(), [(2, 3)]),
        _case("astype", lambda a: a.astype(np.longdouble).astype(np.float64), [(2, 3)]),
        # reductions
        _case("sum", lambda a: a.sum(), [(2, 3)]),
        _case("sum axis", lambda a: a.sum(axis=1), [(2, 3)]),
        _case("sum axes keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True), [(2, 3, 2)]),
        _case("mean", lambda a: a.mean(), [(2, 3)]),
        _case("mean axis", lambda a: a.mean(axis=0), [(2, 3)]),
        _case("max", lambda a: a.max(), [(2, 3)]),
        _case("max axis keepdims", lambda a: a.max(axis=1, keepdims=True), [(2, 3)]),
        _case("min axis", lambda a: a.min(axis=0), [(2, 3)]),
        _case("logsumexp", lambda a: a.logsumexp(), [(2, 3)]),
        _case("logsumexp axis", lambda a: F.logsumexp(a, axis=1), [(2, 3)]),
        _case("var", lambda a: a.var(), [(2, 3)]),
        _case("var axis ddof=1", lambda a: a.var(axis=1, ddof=1), [(2, 3)]),
        _case("std", lambda a: a.std(), [(2, 3)], "varied"),
        _case("std axis keepdims", lambda a: a.std(axis=0, keepdims=True), [(3, 2)], "varied"),
        # shape
        _case("reshape", lambda a: a.reshape(3, 2), [(2, 3)]),
        _case("transpose", lambda a: a.transpose(2, 0, 1), [(2, 3, 2)]),
        _case("T", lambda a: a.T, [(2, 3)]),
        _case("permute", lambda a: a.permute(1, 0, 2), [(2, 3, 2)]),
        _case("swapaxes", lambda a: a.swapaxes(0, 2), [(2, 3, 2)]),
        _case("expand", lambda a: a.expand(2, 3, 2), [(3, 1)]),
        _case("squeeze", lambda a: a.squeeze(1), [(2, 1, 3)]),
        _case("unsqueeze", lambda a: a.unsqueeze(1), [(2, 3)]),
        _case("flatten", lambda a: a.flatten(), [(2, 3, 2)]),
        # indexing
        _case("index int", lambda a: a[1], [(2, 3)]),
        _case("index slices", lambda a: a[1:, ::2], [(3, 3)]),
        _case("index negative step", lambda a: a[::-1], [(4,)]),
        _case("index ellipsis newaxis", lambda a: a[..., None, 1], [(2, 3)]),
        _case("index array repeated", lambda a: a[[0, 2, 0]], [(3, 2)]),
        _case("index two arrays", lambda a: a[[0, 1, 1], [2, 0, 2]], [(2, 3)]),
        _case("index arrays split by a slice", lambda a: a[[0, 1, 1], :, [1, 0, 1]], [(2, 3, 2)]),
        _case("index bool mask", lambda a: a[sel], [(2, 3)]),
        _case("index mixed slice array", lambda a: a[:, [1, 0, 1]], [(2, 3)]),
        _case("index tensor", lambda a: a[Tensor(np.array([2, 0]))], [(3,)]),
        _case("setitem (index_put)", setitem, [(2, 3), (3,)]),
        _case("setitem advanced", setitem_advanced, [(3, 2), (2, 2)]),
        _case(
            "untake (scatter-add)",
            lambda a: ops.untake(a, idx=np.array([0, 2, 0]), shape=(4,)),
            [(3,)],
        ),  # fmt: skip
        _case(
            "concatenate",
            lambda a, b, c: F.concatenate([a, b, c], axis=1),
            [(2, 1), (2, 3), (2, 2)],
        ),  # fmt: skip
        _case("stack", lambda a, b: F.stack([a, b], axis=0), m23),
        _case("stack last axis", lambda a, b: F.stack([a, b], axis=-1), m23),
        # matmul, as numpy.matmul
        _case("matmul 1-d @ 1-d", lambda a, b: a @ b, [(4,), (4,)]),
        _case("matmul 2-d @ 1-d", lambda a, b: a @ b, [(3, 4), (4,)]),
        _case("matmul 1-d @ 2-d", lambda a, b: a @ b, [(4,), (4, 2)]),
        _case("matmul 2-d @ 2-d", lambda a, b: F.matmul(a, b), [(3, 4), (4, 2)]),
        _case("matmul batched", lambda a, b: a @ b, [(2, 3, 4), (2, 4, 2)]),
        _case("matmul broadcast batch", lambda a, b: a @ b, [(2, 1, 3, 4), (3, 4, 2)]),
        _case("matmul 3-d @ 2-d", lambda a, b: a @ b, [(2, 3, 4), (4, 2)]),
        _case("matmul 1-d @ 3-d", lambda a, b: a @ b, [(4,), (2, 4, 3)]),
        _case("matmul 3-d @ 1-d", lambda a, b: a @ b, [(2, 3, 4), (4,)]),
        # composites
        _case("softmax", softmax, [(2, 3)]),
        _case("log_softmax", log_softmax, [(2, 3)]),
        _case("mse", lambda a, b: ((a - b) ** 2).mean(), m23),
        # nn.functional's one-node ops
        _case("linear", lambda x, w, b: NF.linear(x, w, b), [(2, 3), (4, 3), (4,)]),
        _case("linear no bias, 1-d input", lambda x, w: NF.linear(x, w), [(3,), (2, 3)]),
        _case("linear 3-d input", lambda x, w, b: NF.linear(x, w, b), [(2, 2, 3), (4, 3), (4,)]),
        _case("cross_entropy", lambda a: NF.cross_entropy(a, targets), [(2, 3)]),
        _case(
            "cross_entropy 3-d sum",
            lambda a: NF.cross_entropy(a, targets_3d, reduction="sum"),
            [(2, 3, 2)],
        ),  # fmt: skip
        _case(
            "cross_entropy none, many rows",
            lambda a: NF.cross_entropy(a, targets_33, reduction="none"),
            [(33, 4)],
        ),  # fmt: skip
    ]


CATALOGUE: list[OpCase] = _build_catalogue()


# --------------------------------------------------------------------------- the command


def _run_case(case: OpCase, rng: np.random.Generator, eps: float, atol: float, rtol: float):  # noqa: ANN202
    arrays = sample_inputs(case, rng)
    inputs = tuple(Tensor(a, requires_grad=True) for a in arrays)
    first, _ = _check(case.fn, inputs, eps, atol, rtol, "gradcheck")
    second = _gradgrad(case.fn, inputs, eps, atol, rtol)
    return first, second


def main(argv: list[str] | None = None) -> int:
    """`autograd-mini gradcheck`: check every catalogue op, print a table, 1 if any fails."""
    parser = argparse.ArgumentParser(
        prog="autograd-mini gradcheck",
        description="Check every built-in op's first and second derivatives against central "
        "finite differences (float64) on random valid inputs, and print a table.",
    )
    parser.add_argument("--seed", type=seed_number, default=0, help="seed for the random inputs")
    parser.add_argument("--op", default=None, help="only ops whose name contains this text")
    parser.add_argument("--eps", type=positive_number, default=1e-6, help="finite-difference step")
    parser.add_argument("--atol", type=non_negative_number, default=1e-5, help="absolute tolerance")
    parser.add_argument("--rtol", type=non_negative_number, default=1e-3, help="relative tolerance")
    parser.add_argument("-v", "--verbose", action="store_true", help="print failure details")
    args = parser.parse_args(argv)

    cases = [c for c in CATALOGUE if args.op is None or args.op.lower() in c.name.lower()]
    if not cases:
        print(f"autograd-mini gradcheck: no op matches {args.op!r}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    width = max(len(c.name) for c in cases)
    header = f"{'op':<{width}}  {'max abs err':>11}  {'max rel err':>11}  pass"
    print(header)
    print("-" * len(header))
    failures = []
    for case in cases:
        try:
            first, second = _run_case(case, rng, args.eps, args.atol, args.rtol)
        except Exception as exc:
            failures.append((case.name, f"{type(exc).__name__}: {exc}"))
            print(f"{case.name:<{width}}  {'-':>11}  {'-':>11}  ERROR")
            continue
        ok = first.ok and second.ok
        abs_err = max(first.max_abs, second.max_abs)
        rel_err = max(first.max_rel, second.max_rel)
        flag = "yes" if ok else ("NO (grad)" if not first.ok else "NO (gradgrad)")
        print(f"{case.name:<{width}}  {abs_err:11.2e}  {rel_err:11.2e}  {flag}")
        if not ok:
            failures.append((case.name, first.message or second.message))
    print("-" * len(header))
    print(
        f"{len(cases)} ops checked (first and second derivatives), {len(failures)} failed "
        f"(eps={args.eps:g}, atol={args.atol:g}, rtol={args.rtol:g}, seed={args.seed})"
    )
    for name, msg in failures:
        if args.verbose:
            print(f"\n[{name}]\n{msg}")
    if failures and not args.verbose:
        print("run with --verbose for details")
    return 1 if failures else 0
