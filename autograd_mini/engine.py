"""The reverse-mode engine: graph nodes, grad mode, and the backward walk.

The engine knows nothing about specific operations. A `Node` records one call of an op
(its inputs and, if needed, its output); the op object itself supplies the vector-Jacobian
products. The walk here visits nodes in reverse topological order, applies the chain rule
(upstream gradient in, one gradient per input out), undoes broadcasting in exactly one place,
checks what each rule returned, and accumulates gradients of leaves.
"""

from __future__ import annotations

import threading
import traceback
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np

# --------------------------------------------------------------------------- grad mode


class _GradState(threading.local):
    # Class attributes are the per-thread defaults: a new thread starts with grad enabled.
    enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether operations are currently recorded for backward (per thread)."""
    return _state.enabled


class set_grad_enabled:
    """Context manager and decorator that turns graph recording on or off."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self.prev = _state.enabled
        _state.enabled = self.mode  # like torch: takes effect when called, too

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        _state.enabled = self.prev  # used as a decorator: undo the call-time switch
        mode = self.mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.enabled
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper


class _GradMode:
    mode = True

    def __init__(self) -> None:
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(_state.enabled)
        _state.enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        _state.enabled = self.prev.pop()

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _state.enabled
            _state.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _state.enabled = prev

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator: operations inside are not recorded."""

    mode = False


class enable_grad(_GradMode):
    """Context manager and decorator: operations inside are recorded (undoes no_grad)."""

    mode = True


# --------------------------------------------------------------------------- anomaly mode


class _Anomaly:
    enabled = False
    # Where each node was created, kept only while anomaly mode is on (weak: no leaks).
    traces: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class detect_anomaly:
    """Context manager: a NaN or Inf made in forward or backward raises, naming the op."""

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = check_nan
        self.prev: list[bool] = []

    def __enter__(self) -> None:
        self.prev.append(_Anomaly.enabled)
        _Anomaly.enabled = self.check_nan

    def __exit__(self, *exc: object) -> None:
        _Anomaly.enabled = self.prev.pop()


def is_anomaly_enabled() -> bool:
    """Whether detect_anomaly is active."""
    return _Anomaly.enabled


def _nonfinite(a: Any) -> bool:
    try:
        arr = np.asarray(a)
    except Exception:  # pragma: no cover - non-array values are never NaN
        return False
    return arr.dtype.kind in "fc" and not bool(np.isfinite(arr).all())


def _where_made(node: Node) -> str:
    tb = _Anomaly.traces.get(node)
    return ("\nThe op was called at:\n" + "".join(tb)) if tb else ""


# --------------------------------------------------------------------------- graph nodes


class Node:
    """One recorded op call: the op, its inputs, and where each input's gradient goes.

    `edges[i]` is the input's own Node (non-leaf), the input Tensor (a leaf that requires
    grad, whose `.grad` receives the gradient) or None (no gradient needed).
    """

    __slots__ = ("op", "inputs", "datas", "edges", "versions", "out", "attrs", "__weakref__")

    def __init__(self, op, inputs, datas, edges, versions, out, attrs) -> None:  # noqa: ANN001
        self.op = op
        self.inputs = inputs  # the op's arguments (Tensors and constants); None once freed
        self.datas = datas  # the same arguments as raw arrays / numbers
        self.edges = edges
        self.versions = versions  # version of each Tensor input when the op ran
        self.out = out  # (output array, its version cell, version) if the rule needs it
        self.attrs = attrs  # keyword arguments of the op (axis, shape, ...) or None

    @property
    def name(self) -> str:
        """The op's name, as errors and drawings show it."""
        return self.op.name

    def __repr__(self) -> str:
        return f"<Node {self.op.name}>"


def toposort(roots: Iterable[Hashable], parents: Callable[[Any], Iterable[Hashable]]) -> list:
    """Every node reachable from `roots`, each listed before the nodes it depends on.

    Iterative depth-first search (no recursion limit): a node is appended after all its
    parents are finished, and the reversed list puts consumers first.
    """
    order: list = []
    seen: set = set()
    stack = [(r, False) for r in roots]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        for p in parents(node):
            if p not in seen:
                stack.append((p, False))
    order.reverse()
    return order


def _graph_parents(item: Any) -> tuple:
    if type(item) is Node:
        return tuple(e for e in item.edges if e is not None)
    return ()


def unbroadcast(g: Any, shape: tuple) -> Any:
    """Sum `g` down to `shape`, undoing NumPy broadcasting (works on arrays and Tensors)."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise ValueError(f"cannot unbroadcast gradient of shape {gshape} to {shape}")
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


# --------------------------------------------------------------------------- backward


class _Grad:
    """A pending gradient and whether the engine owns its buffer (may add into it in place)."""

    __slots__ = ("value", "owned")

    def __init__(self, value: Any, owned: bool) -> None:
        self.value = value
        self.owned = owned


def _add_into(pending: dict, key: Any, g: Any, owned: bool, differentiable: bool) -> None:
    slot = pending.get(key)
    if slot is None:
        pending[key] = _Grad(g, owned)
    elif differentiable:
        slot.value = slot.value + g
    elif slot.owned and type(slot.value) is np.ndarray:
        np.add(slot.value, g, out=slot.value)
    else:
        # First sum allocates a fresh buffer; later contributions go into it in place.
        slot.value = np.asarray(slot.value + g)
        slot.owned = True


def backward(
    roots: list,
    grad_roots: list,
    retain_graph: bool = False,
    create_graph: bool = False,
    inputs: list | None = None,
) -> list | None:
    """Back-propagate `grad_roots` from the Tensors `roots`.

    With `inputs=None` gradients are accumulated into the `.grad` of leaves; otherwise
    nothing is accumulated and the gradients with respect to `inputs` are returned (None
    for an input the roots do not depend on).
    """
    from .tensor import Tensor, _make, _retained

    # Keys of the graph: a non-leaf is found by its Node, a leaf by the Tensor itself.
    start: list = []
    pending: dict = {}
    for t, g in zip(roots, grad_roots):
        key = t._node if t._node is not None else t
        start.append(key)
        _add_into(pending, key, g, False, create_graph)

    targets: dict = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            targets.setdefault(t._node if t._node is not None else t, []).append(i)
        results: list = [None] * len(inputs)

    order = toposort(start, _graph_parents)
    prev_mode = _state.enabled
    _state.enabled = create_graph  # rules record only when the backward itself is recorded
    try:
        for item in order:
            slot = pending.pop(item, None)
            if slot is None:
                continue
            if item in targets:
                for i in targets[item]:
                    results[i] = _as_tensor(slot.value) if create_graph else slot.value
                if type(item) is not Node:
                    continue
            if type(item) is Node:
                if _retained:
                    kept = _retained.get(item)
                    if kept is not None and inputs is None:
                        _accumulate_leaf(kept, _Grad(slot.value, False), create_graph, Tensor)
                _run_node(item, slot, pending, retain_graph, create_graph, Tensor, _make)
            elif inputs is None:
                _accumulate_leaf(item, slot, create_graph, Tensor)
    finally:
        _state.enabled = prev_mode
    if inputs is not None:
        return results
    return None


def _as_tensor(v: Any) -> Any:
    from .tensor import Tensor

    return v if isinstance(v, Tensor) else Tensor(np.asarray(v))


def _describe(x: Any) -> str:
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"shape {tuple(x.shape)}, dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"


def _run_node(node: Node, slot: _Grad, pending: dict, retain: bool, create: bool, Tensor, _make):  # noqa: ANN001, N803
    op = node.op
    if node.inputs is None:
        raise RuntimeError(
            f"Trying to backward through the graph a second time (through '{op.name}'): its "
            "saved arrays were freed by the first backward. Pass retain_graph=True to the "
            "first backward if you need to go through the graph again."
        )
    inputs = node.inputs
    # Version checks: an input (or the output) changed in place since the op ran.
    for i, (x, v) in enumerate(zip(inputs, node.versions)):
        if v is not None and x._version[0] != v:
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an "
                f"in-place operation: input {i} of '{op.name}' ({_describe(x)}) is at version "
                f"{x._version[0]}; expected version {v}.{_where_made(node)}"
            )
    out = node.out
    if out is not None and out[1][0] != out[2]:
        raise RuntimeError(
            f"one of the tensors needed for gradient computation has been modified by an "
            f"in-place operation: the output of '{op.name}' ({_describe(out[0])}) is at "
            f"version {out[1][0]}; expected version {out[2]}.{_where_made(node)}"
        )

    g = slot.value
    if create:
        g = _as_tensor(g)
        ans = _make(out[0], node) if out is not None else None
        args = inputs
    else:
        ans = out[0] if out is not None else None
        args = node.datas
    grads = op.vjp(g, ans, args, node.attrs, node.edges)

    edges = node.edges
    if len(grads) != len(edges):
        raise RuntimeError(
            f"'{op.name}' backward returned {len(grads)} gradients, expected {len(edges)} "
            f"(one per input)"
        )
    anomaly = _Anomaly.enabled
    for i, (gi, e) in enumerate(zip(grads, edges)):
        if e is None or gi is None:
            continue
        x = node.datas[i]
        shape = np.shape(x)
        if create:
            gi = _as_tensor(gi)
        elif isinstance(gi, Tensor):
            gi = gi.data
        elif not hasattr(gi, "shape"):
            gi = np.asarray(gi)
        if gi.shape != shape:
            try:
                gi = unbroadcast(gi, shape)
            except ValueError:
                raise RuntimeError(
                    f"'{op.name}' backward returned a gradient of shape {tuple(gi.shape)} for "
                    f"input {i} of shape {shape}"
                ) from None
        dtype = x.dtype
        if gi.dtype != dtype:
            if gi.dtype.kind not in "fc" and gi.dtype.kind not in "iub":
                raise RuntimeError(
                    f"'{op.name}' backward returned a gradient of dtype {gi.dtype} for input "
                    f"{i} of dtype {dtype}"
                )
            gi = gi.astype(dtype)
        if anomaly and _nonfinite(gi.data if create else gi):
            raise RuntimeError(
                f"Function '{op.name}' returned nan or inf values in its gradient for input "
                f"{i} during backward.{_where_made(node)}"
            )
        # A fresh array from the rule may be added into in place later; a passed-through
        # one (the upstream gradient itself, a view, a user's array) must not.
        owned = (
            not create
            and op.owns_grads
            and type(gi) is np.ndarray
            and gi.base is None
            and gi is not g
            and all(gi is not other for other in grads[:i])
        )
        _add_into(pending, e, gi, owned, create)

    if not retain:
        node.inputs = None
        node.datas = None
        node.out = None
        op.release(node)


def _accumulate_leaf(leaf: Any, slot: _Grad, create: bool, Tensor) -> None:  # noqa: ANN001, N803
    g = slot.value
    if create:
        g = _as_tensor(g)
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    if isinstance(g, Tensor):
        g = g.data
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    if leaf.grad is None:
        arr = g if (slot.owned and type(g) is np.ndarray) else np.array(g, copy=True)
        leaf.grad = Tensor(arr)
    else:
        if leaf.grad.shape != leaf.shape:
            raise RuntimeError(
                f"cannot accumulate a gradient of shape {leaf.shape} into .grad of shape "
                f"{leaf.grad.shape}"
            )
        if leaf.grad._node is not None or not leaf.grad.data.flags.writeable:
            leaf.grad = Tensor(leaf.grad.data + g)
        else:
            leaf.grad.data += g
            leaf.grad._version[0] += 1


def record_trace(node: Node) -> None:
    """Remember where `node` was created (anomaly mode), for error messages."""
    _Anomaly.traces[node] = traceback.format_stack()[:-3]
