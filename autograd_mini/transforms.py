"""Function transforms: `grad`, `value_and_grad`, `vjp`, `jvp`, `jacobian`, `hessian`.

Each transform calls `f` on leaf tensors standing for the differentiated arguments and asks
the engine for the gradients with respect to exactly those leaves (`engine.backward(...,
inputs=...)`), so nothing is accumulated into anyone's `.grad`.

Two modes, chosen by the arguments:
- NumPy mode (no Tensor among the arguments): results are NumPy arrays (Python floats for
  Python-number arguments) and no graph outlives the call.
- Tensor mode (a Tensor among the arguments): results are Tensors recorded with
  `create_graph=True`, so they can be differentiated again — `grad(grad(f))`,
  `jacobian(grad(f))` and gradient penalties through closed-over parameters all work.

`jacobian` and `hessian` in NumPy mode push a whole batch of cotangents (rows of the
identity) through the graph at once instead of one backward pass per output element: the
vjp rules of the built-in ops are NumPy-broadcasting code, so most accept a leading batch
axis unchanged and the rest need only their axis / shape / index attributes shifted by one.
Ops that cannot be batched that way (user Functions, a few indexing patterns) are run once
per row; the answer is the same either way.
"""

from __future__ import annotations

import functools
import numbers
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import engine, ops
from .engine import Node, enable_grad, is_grad_enabled, no_grad
from .tensor import Op, Tensor, get_default_dtype

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian"]

# Rows of cotangents pushed through the graph in one batch are capped so that the largest
# batched array stays around this many elements (memory stays bounded for big Jacobians).
_BATCH_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------- arguments


def _argnums(argnums: Any, nargs: int, fname: str) -> tuple[tuple[int, ...], bool]:
    """Normalised argument positions and whether a single int was given."""
    single = isinstance(argnums, numbers.Integral) and not isinstance(argnums, bool)
    if single:
        nums: tuple = (argnums,)
    elif isinstance(argnums, tuple | list) and argnums:
        nums = tuple(argnums)
    else:
        raise TypeError(
            f"{fname}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}"
        )
    out = []
    for a in nums:
        if not isinstance(a, numbers.Integral) or isinstance(a, bool):
            raise TypeError(f"{fname}: argnums entries must be ints, got {a!r}")
        if not -nargs <= a < nargs:
            raise ValueError(
                f"{fname}: argnums {a} is out of range: the function was called with "
                f"{nargs} positional argument(s)"
            )
        out.append(int(a) % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"{fname}: argnums {argnums!r} repeats an argument")
    return tuple(out), single


def _leaf(x: Any, fname: str, pos: int) -> Tensor:
    """A tensor to differentiate with respect to, standing for argument `pos`."""
    if isinstance(x, Tensor):
        if x.dtype.kind != "f":
            raise TypeError(
                f"{fname}: argument {pos} is a Tensor of dtype {x.dtype}; only floating point "
                "inputs can be differentiated"
            )
        if x.requires_grad:
            # A node of its own, still connected to the caller's graph (so the result is
            # differentiable with respect to whatever `x` depends on: grad(grad(f))). Taking
            # `x` itself would count every other use of it — a closure over `x`, an outer
            # transform's variable — as this argument (JAX's "perturbation confusion").
            return ops.copy(x)
        return Tensor(x.data, requires_grad=True)
    if isinstance(x, bool | np.bool_):
        raise TypeError(f"{fname}: argument {pos} is a bool; it cannot be differentiated")
    if isinstance(x, numbers.Number) and not isinstance(x, np.generic):
        if isinstance(x, complex):
            raise TypeError(f"{fname}: argument {pos} is complex; only real inputs are supported")
        return Tensor(np.array(float(x), dtype=get_default_dtype()), requires_grad=True)
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise TypeError(
            f"{fname}: argument {pos} has dtype {arr.dtype}; only floating point inputs can "
            "be differentiated"
        )
    return Tensor(arr, requires_grad=True)


def _prepare(args: tuple, nums: tuple, fname: str) -> tuple[list, list[Tensor]]:
    """The arguments to call `f` with, and the leaves standing for the differentiated ones."""
    call = list(args)
    leaves: list[Tensor] = []
    for i in nums:
        leaf = _leaf(args[i], fname, i)  # a new tensor each time: the same array or tensor
        call[i] = leaf  # at two positions gets two partial derivatives
        leaves.append(leaf)
    return call, leaves


class _Running(threading.local):
    """The leaves of the transform calls now running `f` in this thread (id -> count)."""

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}


_running = _Running()


def _walk(out: Tensor, leaves: list) -> tuple[list[Node], bool]:
    """The nodes `out` depends on short of `leaves`, and whether it also depends on the
    variable of an enclosing transform that is still running (a nested transform)."""
    own = {id(_key(leaf)) for leaf in leaves}
    running = _running.ids
    stack = [out._node] if out._node is not None else []
    seen: dict = {}
    outside = False
    while stack:
        item = stack.pop()
        if id(item) in own or id(item) in seen:
            continue
        if id(item) in running:
            outside = True
            continue
        if type(item) is not Node:
            continue
        seen[id(item)] = item
        stack.extend(e for e in item.edges if e is not None)
    return list(seen.values()), outside


def _reaches_outside(out: Tensor, leaves: list) -> bool:
    """Whether `out` depends on a running enclosing transform's variable."""
    if out._node is None:  # f returned a tensor as it is: perhaps the enclosing variable
        return id(out) in _running.ids
    return _walk(out, leaves)[1]


def _trace(
    f: Callable,
    args: Sequence[Any],
    nums: tuple,
    kwargs: dict,
    fname: str,
    *more: Sequence[Any],
    before: Callable[[list[Tensor]], None] | None = None,
) -> tuple[Tensor, list[Tensor], bool, bool]:
    """Call f on leaves for `args[nums]`: (output, leaves, Tensor mode, record the backward).
    `before(leaves)` runs first, to reject bad input before f's work is done.

    Tensor mode when a Tensor is among the arguments (or `more`); NumPy arguments give NumPy
    results, unless f closed over the variable of an enclosing transform that is still
    running — then the result must stay differentiable with respect to it
    (`grad(lambda w: grad(lambda x: w * x)(2.0))`). A closed-over parameter of the user's own
    does not switch: NumPy in, NumPy out.
    """
    grad_on = is_grad_enabled()
    with enable_grad():
        call, leaves = _prepare(tuple(args), nums, fname)
        if before is not None:
            before(leaves)
        ids = _running.ids
        keys = [id(_key(leaf)) for leaf in leaves]  # marked while f runs (see _walk)
        for k in keys:
            ids[k] = ids.get(k, 0) + 1
        try:
            out = _as_output(f(*call, **kwargs), fname)
        finally:
            for k in keys:
                ids[k] -= 1
                if not ids[k]:
                    del ids[k]
    tmode = _tensor_mode(args, tuple(kwargs.values()), *more)
    if not tmode and grad_on and _reaches_outside(out, leaves):
        tmode = True
    return out, leaves, tmode, tmode and grad_on


def _tensor_mode(*groups: Sequence[Any]) -> bool:
    return any(isinstance(a, Tensor) for g in groups for a in g)


def _as_output(out: Any, fname: str) -> Tensor:
    """`f`'s result as a Tensor (arrays and numbers are constants: zero gradient)."""
    if isinstance(out, Tensor):
        return out
    if isinstance(out, np.ndarray | np.generic | numbers.Number) and not isinstance(out, bool):
        # f is called with Tensors, so a plain result is a constant, or (far more often) a
        # value that left the graph: warn, as HIPS autograd does, rather than hand back a
        # zero gradient in silence (torch.func raises; JAX accepts a constant).
        warnings.warn(
            f"{fname}: f returned {type(out).__name__}, not a Tensor, so it does not depend on "
            "the inputs and its derivatives are zero. If that is not meant, f left the graph "
            "somewhere (.item(), .data, float() or a NumPy function on a Tensor).",
            UserWarning,
            stacklevel=_caller_level(),
        )
        return Tensor(np.asarray(out))
    raise TypeError(
        f"{fname}: f must return one Tensor (or array / number), got {type(out).__name__}"
    )


def _caller_level() -> int:
    """The warnings stacklevel of the first frame outside this package: the user's call."""
    here = os.path.dirname(__file__)
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == here:
        frame, level = frame.f_back, level + 1
    return level


def _check_float_output(out: Tensor, fname: str) -> None:
    if out.dtype.kind != "f":
        raise TypeError(
            f"{fname}: f returned a tensor of dtype {out.dtype}; only floating point outputs "
            "can be differentiated"
        )


def _plain(value: Any, like: Any) -> Any:
    """A NumPy-mode result: a float for a Python number argument, else an array like it."""
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    if isinstance(like, np.generic):
        return np.asarray(arr, dtype=like.dtype)[()]
    if isinstance(like, numbers.Number) and not isinstance(like, np.ndarray):
        return float(arr)
    return arr


def _plain_value(out: Tensor) -> Any:
    """The value of `f` in NumPy mode: an array, or a NumPy scalar when 0-d (as NumPy does)."""
    return out.data[()] if out.data.ndim == 0 else out.data


def _zeros(leaf: Tensor, create: bool) -> Any:
    z = np.zeros(leaf.shape, leaf.dtype)
    return Tensor(z) if create else z


def _backward(outs: list, cots: list, leaves: list, create: bool, retain: bool) -> list:
    """d(outs · cots)/d(leaves) from the engine; zeros where an output does not depend."""
    roots, grads = [], []
    for o, c in zip(outs, cots):
        if o.requires_grad:
            roots.append(o)
            grads.append(c)
    if not roots:
        return [_zeros(leaf, create) for leaf in leaves]
    res = engine.backward(
        roots, grads, retain_graph=retain or create, create_graph=create, inputs=leaves
    )
    out = []
    for r, leaf in zip(res, leaves):
        if r is None:
            r = _zeros(leaf, create)
        elif create and not isinstance(r, Tensor):
            r = Tensor(r)
        elif not create and isinstance(r, Tensor):
            r = r.data
        out.append(r)
    return out


def _cotangent(c: Any, like: Tensor, fname: str, what: str, keep_tensor: bool) -> Any:
    """`c` checked against `like`'s shape and cast to its dtype (a Tensor is kept if asked)."""
    if isinstance(c, Tensor):
        arr = c.data
    else:
        arr = np.asarray(c)
    if arr.shape != like.shape:
        raise ValueError(f"{fname}: {what} has shape {arr.shape} but must have shape {like.shape}")
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{fname}: {what} has dtype {arr.dtype}; a real dtype is needed")
    if isinstance(c, Tensor) and keep_tensor:
        return c if c.dtype == like.dtype else c.astype(like.dtype)
    return arr.astype(like.dtype, copy=False) if arr.dtype != like.dtype else arr


def _wrap(transform: Callable, f: Callable, name: str) -> Callable:
    functools.update_wrapper(transform, f, assigned=("__module__", "__doc__"), updated=())
    transform.__name__ = f"{name}({getattr(f, '__name__', 'f')})"
    transform.__qualname__ = transform.__name__
    return transform


# --------------------------------------------------------------------------- grad & friends


def value_and_grad(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """A function returning `(f(*args), gradient of f)` with respect to `argnums`."""

    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        return _value_and_grad(f, argnums, args, kwargs, "value_and_grad")

    return _wrap(value_and_grad_f, f, "value_and_grad")


def grad(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """A function returning the gradient of scalar `f` with respect to `argnums`."""

    def grad_f(*args: Any, **kwargs: Any) -> Any:
        return _value_and_grad(f, argnums, args, kwargs, "grad")[1]

    return _wrap(grad_f, f, "grad")


def _value_and_grad(f: Callable, argnums: Any, args: tuple, kwargs: dict, fname: str) -> tuple:
    nums, single = _argnums(argnums, len(args), fname)
    out, leaves, tmode, create = _trace(f, args, nums, kwargs, fname)
    if out.data.size != 1:
        raise ValueError(
            f"{fname}: f must return a single element (a scalar), but it returned an output "
            f"of shape {out.shape}; use jacobian or vjp for non-scalar outputs"
        )
    _check_float_output(out, fname)
    grads = _backward([out], [np.ones(out.shape, out.dtype)], leaves, create, retain=tmode)
    if tmode:
        value = out if create else out.detach()
        grads = [g if isinstance(g, Tensor) else Tensor(g) for g in grads]
    else:
        value = _plain_value(out)
        grads = [_plain(g, args[i]) for g, i in zip(grads, nums)]
    return value, (grads[0] if single else tuple(grads))


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """`(f(*primals), vjp_fn)`; `vjp_fn(cotangent)` gives one gradient per primal."""
    if not primals:
        raise TypeError("vjp: need at least one primal argument")
    out, leaves, tmode, create = _trace(f, primals, tuple(range(len(primals))), {}, "vjp")
    _check_float_output(out, "vjp")

    def vjp_fn(cotangent: Any) -> tuple:
        """Gradients of `<f(*primals), cotangent>` with respect to each primal."""
        ct = _cotangent(cotangent, out, "vjp_fn", "the cotangent", keep_tensor=create)
        if not create:
            ct = np.asarray(ct)
        with enable_grad() if create else no_grad():
            gs = _backward([out], [ct], leaves, create, retain=True)
        if tmode:
            return tuple(g if isinstance(g, Tensor) else Tensor(g) for g in gs)
        return tuple(_plain(g, p) for g, p in zip(gs, primals))

    value = (out if create else out.detach()) if tmode else _plain_value(out)
    return value, vjp_fn


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """`(f(*primals), J·tangents)`: the forward-mode directional derivative of `f`."""
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise TypeError(
            "jvp: primals and tangents must be tuples (one entry per argument of f), got "
            f"{type(primals).__name__} and {type(tangents).__name__}"
        )
    if len(primals) != len(tangents):
        raise ValueError(
            f"jvp: got {len(primals)} primals but {len(tangents)} tangents; give one tangent "
            "per primal"
        )
    if not primals:
        raise TypeError("jvp: need at least one primal argument")
    # The tangents are checked before f runs. A Tensor tangent puts jvp in Tensor mode, where
    # the result is recorded exactly when grad is on: that much of `create` is known already.
    grad_on = is_grad_enabled()
    tans: list = []

    def check_tangents(leaves: list[Tensor]) -> None:
        for i, (t, leaf) in enumerate(zip(tangents, leaves)):
            tans.append(_cotangent(t, leaf, "jvp", f"tangent {i}", keep_tensor=grad_on))

    nums = tuple(range(len(primals)))
    out, leaves, tmode, create = _trace(
        f, primals, nums, {}, "jvp", tangents, before=check_tangents
    )
    _check_float_output(out, "jvp")
    with enable_grad():
        tangent_out = _jvp_double_vjp(out, leaves, tans, create)
    if tmode:
        value = out if create else out.detach()
        return value, tangent_out if isinstance(tangent_out, Tensor) else Tensor(tangent_out)
    return _plain_value(out), _plain_value(Tensor(tangent_out))


def _jvp_double_vjp(out: Tensor, leaves: list, tans: list, create: bool) -> Any:
    """J·t by differentiating the (linear in u) vjp u ↦ Jᵀu with respect to u."""
    if not out.requires_grad:
        return _zeros(out, create)
    if any(type(node.op) is not Op for node in _walk(out, leaves)[0]):
        return _jvp_by_jacobian(out, leaves, tans, create)
    u = Tensor(np.zeros(out.shape, out.dtype), requires_grad=True)
    gs = engine.backward([out], [u], retain_graph=True, create_graph=True, inputs=leaves)
    roots, cots = [], []
    for g, t in zip(gs, tans):
        if g is not None and g.requires_grad:
            roots.append(g)
            cots.append(t if create else np.asarray(t))
    if not roots:
        return _zeros(out, create)
    (res,) = engine.backward(roots, cots, retain_graph=create, create_graph=create, inputs=[u])
    if res is None:
        return _zeros(out, create)
    return res


def _jvp_by_jacobian(out: Tensor, leaves: list, tans: list, create: bool) -> Any:
    """J·t from the whole Jacobian, for graphs with user Functions: the double-vjp trick
    differentiates their backward, which may be plain NumPy."""
    total: Any = None
    m = out.data.size
    for jac, t, leaf in zip(_jacobian_of(out, leaves, create), tans, leaves):
        n = leaf.data.size
        term = (jac.reshape((m, n)) @ t.reshape((n,))).reshape(out.shape)
        total = term if total is None else total + term
    return total if total.dtype == out.dtype else total.astype(out.dtype)


# --------------------------------------------------------------------------- jacobian & hessian


def jacobian(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """A function returning d f / d args[argnums], of shape `out.shape + arg.shape`."""

    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "jacobian")
        out, leaves, tmode, create = _trace(f, args, nums, kwargs, "jacobian")
        _check_float_output(out, "jacobian")
        jacs = _jacobian_of(out, leaves, create)
        if tmode:
            jacs = [j if isinstance(j, Tensor) else Tensor(j) for j in jacs]
        return jacs[0] if single else tuple(jacs)

    return _wrap(jacobian_f, f, "jacobian")


def hessian(f: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """A function returning the Hessian of scalar `f`, of shape `arg.shape + arg.shape`.

    With several `argnums` the result is a nested tuple: `H[i][j]` is d²f / d args[i] d args[j].
    """

    def hessian_f(*args: Any, **kwargs: Any) -> Any:
        nums, single = _argnums(argnums, len(args), "hessian")
        out, leaves, tmode, create = _trace(f, args, nums, kwargs, "hessian")
        with enable_grad():
            if out.data.size != 1:
                raise ValueError(
                    f"hessian: f must return a single element (a scalar), but it returned an "
                    f"output of shape {out.shape}"
                )
            _check_float_output(out, "hessian")
            gs = _backward([out], [np.ones(out.shape, out.dtype)], leaves, True, retain=True)
        rows = []
        for g in gs:
            # Block (i, j) in args[i]'s dtype, as torch.func and JAX (forward-over-reverse)
            # have it; reverse-over-reverse would give args[j]'s.
            blocks = [
                b if b.dtype == g.dtype else b.astype(g.dtype)
                for b in _jacobian_of(g, leaves, create)
            ]
            if tmode:
                blocks = [b if isinstance(b, Tensor) else Tensor(b) for b in blocks]
            rows.append(blocks[0] if single else tuple(blocks))
        return rows[0] if single else tuple(rows)

    return _wrap(hessian_f, f, "hessian")


def _jacobian_of(out: Tensor, leaves: list, create: bool) -> list:
    """d out / d leaf for each leaf, shaped `out.shape + leaf.shape`."""
    m = out.data.size
    if not out.requires_grad or m == 0:
        return [_zeros_jac(out, leaf, create) for leaf in leaves]
    if create:
        return _jacobian_loop(out, leaves)
    biggest = max([out.data.size] + [leaf.data.size for leaf in leaves])
    step = max(1, min(m, _BATCH_ELEMENTS // max(biggest, 1)))
    parts: list[list] = [[] for _ in leaves]
    with no_grad():
        for start in range(0, m, step):
            k = min(step, m - start)
            rows = np.zeros((k, m), dtype=out.dtype)
            rows[np.arange(k), start + np.arange(k)] = 1  # rows start.. of the identity
            rows = rows.reshape((k,) + out.shape)
            res = batched_vjp([out], [rows], leaves)
            for k, (r, leaf) in enumerate(zip(res, leaves)):
                if r is None:
                    r = np.zeros((rows.shape[0],) + leaf.shape, leaf.dtype)
                parts[k].append(r)
    return [
        np.concatenate(p, axis=0).reshape(out.shape + leaf.shape) for p, leaf in zip(parts, leaves)
    ]


def _zeros_jac(out: Tensor, leaf: Tensor, create: bool) -> Any:
    z = np.zeros(out.shape + leaf.shape, np.result_type(out.dtype, leaf.dtype))
    return Tensor(z) if create else z


def _jacobian_loop(out: Tensor, leaves: list) -> list:
    """Row by row with create_graph=True, so the Jacobian itself is differentiable."""
    from .functions import stack

    m = out.data.size
    rows: list[list] = [[] for _ in leaves]
    for k in range(m):
        e = np.zeros(m, out.dtype)
        e[k] = 1
        gs = _backward([out], [e.reshape(out.shape)], leaves, True, retain=True)
        for r, g in zip(rows, gs):
            r.append(g)
    return [stack(r, axis=0).reshape(out.shape + leaf.shape) for r, leaf in zip(rows, leaves)]


# --------------------------------------------------------------------------- batched backward


def _key(t: Tensor) -> Any:
    return t._node if t._node is not None else t


def batched_vjp(roots: list, cotangents: list, targets: list) -> list:
    """Vector-Jacobian products for a batch of cotangents at once (no graph is recorded).

    `cotangents[i]` has shape `(B,) + roots[i].shape`; the result for each target has shape
    `(B,) + target.shape` (None if the roots do not depend on it). Row b of every result is
    what `engine.backward(roots, [c[b] for c in cotangents], inputs=targets)` returns.
    """
    tkeys: dict = {}
    for j, t in enumerate(targets):
        tkeys.setdefault(_key(t), []).append(j)
    pending: dict = {}
    start = []
    for r, c in zip(roots, cotangents):
        k = _key(r)
        if not r.requires_grad and k not in tkeys:
            continue
        start.append(k)
        pending[k] = pending[k] + c if k in pending else c
    order = engine.toposort(start, engine.graph_parents)
    # Only nodes that lead to a target need to run.
    needed = set(tkeys)
    for item in reversed(order):
        if type(item) is Node and any(e in needed for e in item.edges if e is not None):
            needed.add(item)
    results: list = [None] * len(targets)
    for item in order:
        g = pending.pop(item, None)
        if g is None or item not in needed:
            continue
        if item in tkeys:
            for j in tkeys[item]:
                results[j] = g
        if type(item) is not Node:
            continue
        for gi, e in zip(_node_vjp_batched(item, g), item.edges):
            if gi is None or e is None or e not in needed:
                continue
            pending[e] = pending[e] + gi if e in pending else gi
    return results


def _node_vjp_batched(node: Node, g: np.ndarray) -> list:
    """One batched gradient per input of `node` (None where no gradient is needed)."""
    engine.check_node(node)
    op = node.op
    datas = node.datas
    B = g.shape[0]
    handler = _BATCHED.get(op.name) if _is_builtin(op) and B > 1 else None
    if handler is not None:
        raw = handler(op, g, node.ans, datas, node)
        if raw is not None:
            out = []
            for gi, e, x in zip(raw, node.edges, datas):
                if e is None or gi is None:
                    out.append(None)
                    continue
                gi = _unbroadcast_batched(gi, B, np.shape(x))
                if gi is None:
                    break  # a shape the batched rule did not foresee: do it row by row
                out.append(_cast(gi, x))
            else:
                return out
    return _node_vjp_rows(node, g)


def _is_builtin(op: Any) -> bool:
    return type(op) is Op and getattr(ops, op.name, None) is op


def _cast(gi: np.ndarray, x: Any) -> np.ndarray:
    dt = getattr(x, "dtype", None)
    if dt is not None and gi.dtype != dt and dt.kind in "fc":
        return gi.astype(dt)
    return gi


def _unbroadcast_batched(gi: Any, B: int, shape: tuple) -> np.ndarray | None:
    """Sum a batched gradient down to `(B,) + shape` (None if it cannot be)."""
    if isinstance(gi, Tensor):
        gi = gi.data
    gi = np.asarray(gi)
    if gi.ndim == 0 or gi.shape[0] != B:
        return None
    rest = gi.shape[1:]
    if rest == shape:
        return gi
    lead = len(rest) - len(shape)
    if lead < 0:
        return None
    axes = tuple(range(1, 1 + lead)) + tuple(
        1 + lead + i for i, s in enumerate(shape) if s == 1 and rest[lead + i] != 1
    )
    if axes:
        gi = gi.sum(axis=axes, keepdims=True)
    try:
        return np.broadcast_to(gi.reshape(gi.shape[:1] + gi.shape[1 + lead :]), (B,) + shape)
    except ValueError:
        return None


def _node_vjp_rows(node: Node, g: np.ndarray) -> list:
    """The reference: the node's rules run once per row of the batch, exactly as backward."""
    op = node.op
    ans = node.ans
    datas = node.datas
    edges = node.edges
    per_input: list[list | None] = [[] if e is not None else None for e in edges]
    for b in range(g.shape[0]):
        grads = op.vjp(g[b], ans, datas, node.attrs, edges)
        if len(grads) != len(edges):
            raise RuntimeError(
                f"'{op.name}' backward returned {len(grads)} gradients, expected "
                f"{len(edges)} (one per input)"
            )
        for i, gi in enumerate(grads):
            if per_input[i] is None:
                continue
            x = datas[i]
            if gi is None:
                gi = np.zeros(np.shape(x), getattr(x, "dtype", g.dtype))
            elif isinstance(gi, Tensor):
                gi = gi.data
            gi = np.asarray(gi)
            if gi.shape != np.shape(x):
                gi = engine.unbroadcast(gi, np.shape(x))
            per_input[i].append(_cast(gi, x))
    return [None if p is None else np.stack(p) for p in per_input]


# How each built-in op's rules take a leading batch axis on `g` (see the module docstring).
# A handler returns the rules' raw results, or None to fall back to row-by-row.


def _bh_direct(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    # Elementwise rules combine g with inputs of the output's rank or less: NumPy
    # broadcasting lines them up with g's trailing axes, and the batch axis rides along
    # (linear's rules too: their matmuls treat g's extra leading axis as a batch axis).
    return op.vjp(g, ans, datas, node.attrs, node.edges)


def _bview(x: Any, B: int) -> Any:
    x = np.asarray(x)
    return np.broadcast_to(x, (B,) + x.shape)


def _bh_reduce(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    B = g.shape[0]
    (x,) = datas
    attrs = dict(node.attrs or {})
    axis = attrs.get("axis")
    nd = np.ndim(x)
    attrs["axis"] = tuple(range(1, nd + 1)) if axis is None else tuple(a + 1 for a in axis)
    bans = _bview(ans, B) if ans is not None else None
    return op.vjp(g, bans, (_bview(x, B),), attrs, node.edges)


def _bh_axis(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    # softmax-like rules broadcast the unbatched output against g; only the axis moves.
    return op.vjp(g, ans, datas, dict(node.attrs, axis=node.attrs["axis"] + 1), node.edges)


def _bh_reshape(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    B = g.shape[0]
    attrs = dict(node.attrs)
    attrs["shape"] = (B,) + tuple(attrs["shape"])
    return op.vjp(g, ans, (_bview(datas[0], B),), attrs, node.edges)


def _bh_transpose(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    B = g.shape[0]
    axes = node.attrs["axes"]
    if axes is None:
        axes = tuple(range(np.ndim(datas[0]) - 1, -1, -1))
    attrs = dict(node.attrs, axes=(0,) + tuple(int(a) + 1 for a in axes))
    return op.vjp(g, ans, (_bview(datas[0], B),), attrs, node.edges)


def _batched_index(idx: Any) -> tuple | None:
    """`idx` with a leading full slice, or None when that would move the result's axes."""
    # (Tensor indexing made every advanced index in it an ndarray: see tensor._raw_index.)
    items = idx if isinstance(idx, tuple) else (idx,)
    advanced = [
        k
        for k, it in enumerate(items)
        if not (isinstance(it, slice) or it is None or it is Ellipsis)
    ]
    # Any index array but a 0-d integer one (NumPy reads that as an int) makes the ints
    # advanced indices too.
    has_array = any(
        isinstance(it, np.ndarray) and (it.ndim or it.dtype.kind not in "iu") for it in items
    )
    # NumPy moves the axes of non-adjacent advanced indices to the front; a leading slice
    # would then end up behind them.
    if has_array and advanced and advanced[-1] - advanced[0] + 1 != len(advanced):
        return None
    return (slice(None),) + items


def _bh_getitem(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list | None:
    B = g.shape[0]
    idx = _batched_index(node.attrs["idx"])
    if idx is None:
        return None
    x = _bview(datas[0], B)
    return op.vjp(g, ans, (x,), dict(node.attrs, idx=idx), node.edges)


def _bh_untake(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list | None:
    B = g.shape[0]
    idx = _batched_index(node.attrs["idx"])
    if idx is None:
        return None
    attrs = dict(node.attrs, idx=idx, shape=(B,) + tuple(node.attrs["shape"]))
    return op.vjp(g, ans, datas, attrs, node.edges)


def _bh_index_put(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list | None:
    idx = _batched_index(node.attrs["idx"])
    if idx is None:
        return None
    return op.vjp(g, ans, datas, dict(node.attrs, idx=idx), node.edges)


def _bh_concatenate(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    xs = tuple(np.asarray(x)[None] for x in datas)
    return op.vjp(g, ans, xs, dict(node.attrs, axis=node.attrs["axis"] + 1), node.edges)


def _bh_matmul(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    # Promote 1-d operands to matrices (as numpy.matmul does), so both have a batch
    # position for the leading axis; the rules then see ordinary batched matmuls.
    x, y = np.asarray(datas[0]), np.asarray(datas[1])
    B = g.shape[0]
    x2 = x[None, :] if x.ndim == 1 else x
    y2 = y[:, None] if y.ndim == 1 else y
    gs = g.shape[1:]
    if x.ndim == 1:
        gs = gs[:-1] + (1,) + gs[-1:] if y.ndim > 1 else gs + (1,)
    if y.ndim == 1:
        gs = gs + (1,)
    g2 = g.reshape((B,) + gs)
    gx, gy = op.vjp(g2, None, (x2[None], y2[None]), node.attrs, node.edges)
    out = []
    for gi, orig, promoted in ((gx, x, x2), (gy, y, y2)):
        if gi is None:
            out.append(None)
            continue
        gi = _unbroadcast_batched(gi, B, promoted.shape)
        out.append(None if gi is None else gi.reshape((B,) + orig.shape))
    return out


def _bh_cross_entropy(op: Op, g: Any, ans: Any, datas: tuple, node: Node) -> list:
    # The rule scales (softmax - onehot) by g: give g the batch axis in front of x's axes.
    axis, reduction = node.attrs["axis"], node.attrs["reduction"]
    if reduction == "none":
        g, attrs = np.expand_dims(g, axis + 1), dict(node.attrs, reduction="sum")
    else:
        g, attrs = g.reshape(g.shape[:1] + (1,) * np.ndim(datas[0])), node.attrs
    return op.vjp(g, ans, datas, attrs, node.edges)


_BATCHED: dict[str, Callable] = {
    **dict.fromkeys(
        (
            "add sub mul div pow neg maximum minimum exp log sqrt sin cos tanh sigmoid relu "
            "abs clip where copy astype expand expand_copy linear"
        ).split(),
        _bh_direct,
    ),
    **dict.fromkeys(("sum", "mean", "max", "min", "logsumexp"), _bh_reduce),
    **dict.fromkeys(("softmax", "log_softmax"), _bh_axis),
    "reshape": _bh_reshape,
    "transpose": _bh_transpose,
    "getitem": _bh_getitem,
    "take": _bh_getitem,
    "untake": _bh_untake,
    "index_put": _bh_index_put,
    "concatenate": _bh_concatenate,
    "matmul": _bh_matmul,
    "cross_entropy": _bh_cross_entropy,
}
