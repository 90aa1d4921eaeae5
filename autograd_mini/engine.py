"""The reverse-mode engine: graph nodes, grad mode, and the backward walk.

The engine knows nothing about specific operations. A `Node` records one call of an op
(its inputs and, if needed, its output); the op object itself supplies the vector-Jacobian
products. The walk here visits nodes in reverse topological order, applies the chain rule
(upstream gradient in, one gradient per input out), undoes broadcasting in exactly one place,
checks what each rule returned, and accumulates gradients of leaves.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading
import traceback
import weakref
from collections.abc import Callable, Hashable, Iterable
from heapq import heappop, heappush
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


class _GradMode:
    """Context manager and decorator that sets grad mode to `mode` inside."""

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
        if inspect.isgeneratorfunction(fn):
            return _generator_in_mode(fn, mode)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return _in_mode(mode, fn, *args, **kwargs)

        return wrapper


def _in_mode(mode: bool, fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) with grad mode `mode`, the previous mode restored after."""
    prev = _state.enabled
    _state.enabled = mode
    try:
        return fn(*args, **kwargs)
    finally:
        _state.enabled = prev


def _generator_in_mode(fn: Callable, mode: bool) -> Callable:
    """A generator function whose body runs with grad mode `mode` each time it is resumed,
    while the caller's code between two `yield`s keeps its own mode (as in PyTorch)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gen = fn(*args, **kwargs)  # (no code of the body runs before the first send)
        try:
            response = _in_mode(mode, gen.send, None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    _in_mode(mode, gen.close)
                    raise
                except BaseException as e:  # thrown in by the caller: into the body
                    response = _in_mode(mode, gen.throw, e)
                else:
                    response = _in_mode(mode, gen.send, request)
        except StopIteration as stop:
            return stop.value

    return wrapper


class set_grad_enabled(_GradMode):
    """Turn graph recording on or off: at once when called, or as a context/decorator."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        self.mode = bool(mode)
        self.prev.append(_state.enabled)  # like torch: the call itself switches the mode
        _state.enabled = self.mode

    def __enter__(self) -> None:
        return None

    def __call__(self, fn: Callable) -> Callable:
        _state.enabled = self.prev.pop()  # used as a decorator: undo the call-time switch
        return super().__call__(fn)


class _BareDecorator(_GradMode):
    # `@no_grad` as well as `@no_grad()`, as torch accepts both.
    def __new__(cls, fn: Callable | None = None) -> Any:
        self = super().__new__(cls)
        if fn is None:
            return self
        self.__init__()
        return self(fn)

    def __init__(self, fn: Callable | None = None) -> None:
        super().__init__()


class no_grad(_BareDecorator):
    """Context manager and decorator: operations inside are not recorded."""

    mode = False


class enable_grad(_BareDecorator):
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


_sequence = itertools.count()
# The recorded version of an input whose value the op's rules never read: not checked.
UNCHECKED = -1
# The counter of a tensor that has none of its own yet (Tensor._version makes one when first
# needed): version 0, never written in place. A tuple: bumping it by mistake raises.
_UNWRITTEN = (0,)


class _Freed:
    """What a Node's first input becomes once a backward has freed its inputs."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<freed>"


FREED = _Freed()
_tensor_type: list = [type(None)]  # set by tensor.py: the engine walks Tensors it does not import


def set_tensor_type(cls: type) -> None:
    """Tell the engine which class is the Tensor (tensor.py calls this once)."""
    _tensor_type[0] = cls


class Node:
    """One recorded op call: the op, its inputs, and where each input's gradient goes.

    `edges[i]` is the input's own Node (non-leaf), the input Tensor (a leaf that requires
    grad, whose `.grad` receives the gradient) or None (no gradient needed).
    """

    # Few objects per node: every object that holds references is one more thing for the
    # cyclic garbage collector to walk, again and again, while a graph is alive (a chain of
    # 100 000 ops spent half its time there). So a one- or two-input call, nearly every node,
    # keeps its inputs, edges and input versions in slots of its own (x0 x1, e0 e1, v0 v1;
    # x1 e1 v1 are set only for two) rather than in three tuples; a call with another number
    # of inputs keeps the three tuples in x0, e0 and v0. `n` says which. The `inputs`,
    # `edges` and `versions` properties give every reader the tuples.
    __slots__ = (
        "op", "n", "x0", "x1", "e0", "e1", "v0", "v1", "ans", "ans_cell", "ans_version",
        "attrs", "retain", "seq", "__weakref__",
    )  # fmt: skip

    def __init__(self, op, inputs, edges, versions, ans, ans_cell, attrs) -> None:  # noqa: ANN001
        self.op = op
        self.n = n = len(edges)
        if n == 2:
            self.x0, self.x1 = inputs  # the op's arguments (Tensors and constants)
            self.e0, self.e1 = edges
            self.v0, self.v1 = versions  # version of each Tensor input when the op ran
        elif n == 1:
            (self.x0,), (self.e0,), (self.v0,) = inputs, edges, versions
        else:
            self.x0, self.e0, self.v0 = tuple(inputs), tuple(edges), tuple(versions)
        self.ans = ans  # the output array, if the rule needs it
        self.ans_cell = ans_cell  # the output's version counter, to notice in-place changes
        self.ans_version = ans_cell[0] if ans_cell is not None else 0
        self.attrs = attrs  # keyword arguments of the op (axis, shape, ...) or None
        self.retain = None  # weakref to the output Tensor when it asked for retain_grad()
        # Creation order: every node is made after the nodes of its inputs, so running
        # nodes from the highest `seq` down visits each after all of its consumers.
        self.seq = next(_sequence)

    @property
    def inputs(self) -> tuple | None:
        """The op's arguments (Tensors and constants); None once a backward freed them."""
        x0 = self.x0
        return None if x0 is FREED else _kept_tuple(self, x0, "x1")

    @property
    def edges(self) -> tuple:
        """Where each input's gradient goes (see the class docstring)."""
        return _kept_tuple(self, self.e0, "e1")

    @property
    def versions(self) -> tuple:
        """The version of each Tensor input when the op ran (None for a constant)."""
        return _kept_tuple(self, self.v0, "v1")

    @property
    def name(self) -> str:
        """The op's name, as errors and drawings show it."""
        return self.op.name

    @property
    def datas(self) -> tuple | None:
        """The op's arguments as raw arrays and numbers (None once freed)."""
        inputs = self.inputs
        if inputs is None:
            return None
        return tuple([x.data if isinstance(x, _tensor_type[0]) else x for x in inputs])

    @property
    def out(self) -> tuple | None:
        """(output array, its version counter, version when made), if the rule needs it."""
        if self.ans is None:
            return None
        return (self.ans, self.ans_cell, self.ans_version)

    def __repr__(self) -> str:
        return f"<Node {self.op.name}>"


def _kept_tuple(node: Node, first: Any, second: str) -> tuple:
    """One of a node's three per-input tuples, from its slots (see Node)."""
    n = node.n
    return (first, getattr(node, second)) if n == 2 else (first,) if n == 1 else first


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


def unbroadcast(g: Any, shape: tuple) -> Any:
    """Sum `g` down to `shape`, undoing NumPy broadcasting (works on arrays and Tensors)."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    if lead < 0:
        raise ValueError(f"cannot unbroadcast gradient of shape {gshape} to {shape}")
    if lead == 1 and gshape[1:] == shape:  # the everyday case: a bias added to a batch
        return np.add.reduce(g, axis=0) if type(g) is np.ndarray else g.sum(axis=0)
    ones = tuple(lead + i for i, s in enumerate(shape) if s == 1 and gshape[lead + i] != 1)
    if not ones:  # only leading axes were added (a bias): one sum, a fresh array
        g = g.sum(axis=tuple(range(lead)))
        if g.shape != shape:
            raise ValueError(f"cannot unbroadcast gradient of shape {gshape} to {shape}")
        return g
    g = g.sum(axis=tuple(range(lead)) + ones, keepdims=True)
    return g.reshape(shape)


# --------------------------------------------------------------------------- backward
#
# Nodes run from the most recently created down (a max-heap on `Node.seq`, as PyTorch's
# engine orders by sequence number): a node runs once, after every consumer has sent its
# share, so its gradient is complete; its pending entry is popped (freed) as it runs.
# Leaves take their gradient as soon as it arrives.


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
    pending: dict = {}  # node (or, with `inputs`, leaf) -> gradient received so far
    owned: set = set()  # keys whose pending array the engine allocated: safe to add into
    heap: list = []
    targets: dict = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            targets.setdefault(t._node if t._node is not None else t, []).append(i)
    for t, g in zip(roots, grad_roots):
        key = t._node
        if key is None:  # backward from a leaf itself
            _send_to_leaf(t, g, False, pending, owned, create_graph, targets)
        elif key in pending:
            pending[key] = pending[key] + g
        else:
            pending[key] = g
            heappush(heap, (-key.seq, key))

    found: dict = {}  # gradients reaching non-leaf `inputs`
    needed = _leading_to(list(pending), targets) if targets else None
    prev_mode = _state.enabled
    _state.enabled = create_graph  # rules record only when the backward itself is recorded
    try:
        while heap:
            node = heappop(heap)[1]
            g = pending.pop(node)
            if targets and node in targets:
                found[node] = _as_tensor(g) if create_graph else g
            if node.retain is not None and inputs is None:
                kept = node.retain()
                if kept is not None:
                    _accumulate_leaf(kept, g, False, create_graph)
            if needed is None or node in needed:  # with `inputs`, stop where none lies below
                _run_node(node, g, pending, owned, heap, retain_graph, create_graph, targets)
    finally:
        _state.enabled = prev_mode
    if inputs is None:
        return None
    results: list = [None] * len(inputs)
    for key, idxs in targets.items():
        g = found.get(key) if type(key) is Node else pending.get(key)
        if g is not None and create_graph:
            g = _as_tensor(g)
        for i in idxs:
            results[i] = g
    return results


def _leading_to(start: list, targets: dict) -> set:
    """The nodes with some target below them: the only ones worth running."""
    needed: set = set()
    for item in reversed(toposort([k for k in start if type(k) is Node], graph_parents)):
        if any(e in targets or e in needed for e in graph_parents(item)):
            needed.add(item)
    return needed


def graph_parents(item: Any) -> list:
    """What a graph item's gradient flows to: a Node's non-None edges; nothing for a leaf."""
    return [e for e in item.edges if e is not None] if type(item) is Node else []


def _send_to_leaf(
    leaf: Any, g: Any, is_owned: bool, pending: dict, owned: set, create: bool, targets: dict
) -> None:
    if not targets:
        _accumulate_leaf(leaf, g, is_owned, create)
    elif leaf in targets:  # collecting gradients for `inputs`: .grad is left alone
        prev = pending.get(leaf)
        pending[leaf] = g if prev is None else prev + g


def _as_tensor(v: Any) -> Any:
    T = _tensor_type[0]
    return v if isinstance(v, T) else T(np.asarray(v))


def _describe(x: Any) -> str:
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"shape {tuple(x.shape)}, dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"


def check_node(node: Node) -> None:
    """Raise if `node` cannot run backward: freed by a backward, or an input changed in place."""
    if node.inputs is None:
        raise RuntimeError(
            f"Trying to backward through the graph a second time (through '{node.op.name}'): "
            "its saved arrays were freed by the first backward. Pass retain_graph=True to the "
            "first backward if you need to go through the graph again."
        )
    _check_versions(node)


def _check_versions(node: Node) -> None:
    op = node.op
    for i, (x, v) in enumerate(zip(node.inputs, node.versions)):
        if v is not None and v != UNCHECKED and x._version[0] != v:
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an "
                f"in-place operation: input {i} of '{op.name}' ({_describe(x)}) is at version "
                f"{x._version[0]}; expected version {v}.{_where_made(node)}"
            )
    if node.ans is not None and node.ans_cell[0] != node.ans_version:
        raise RuntimeError(
            f"one of the tensors needed for gradient computation has been modified by an "
            f"in-place operation: the output of '{op.name}' ({_describe(node.ans)}) is at "
            f"version {node.ans_cell[0]}; expected version {node.ans_version}."
            f"{_where_made(node)}"
        )


def _run_node(
    node: Node,
    g: Any,
    pending: dict,
    owned: set,
    heap: list,
    retain: bool,
    create: bool,
    targets: dict,
) -> None:
    """Apply one node's vjp rules and send each input's gradient along its edge."""
    op = node.op
    a = node.x0
    if a is FREED:
        check_node(node)  # raises: freed by an earlier backward
    # The raw arrays the rules need, checking on the way that no input changed in place
    # (unrolled for the one- and two-input ops that are nearly all of a graph).
    n = node.n
    if n == 2:
        b, va, vb = node.x1, node.v0, node.v1
        if va is None:
            da = a
        elif a._vcell[0] == va or va == UNCHECKED:
            da = a.data
        else:
            _check_versions(node)  # raises, naming the input
        if vb is None:
            db = b
        elif b._vcell[0] == vb or vb == UNCHECKED:
            db = b.data
        else:
            _check_versions(node)
        datas: tuple = (da, db)
        edges: tuple = (node.e0, node.e1)
    elif n == 1:
        va = node.v0
        if va is None:  # a version is None exactly where the input is not a Tensor
            datas = (a,)
        elif a._vcell[0] == va or va == UNCHECKED:
            datas = (a.data,)
        else:
            _check_versions(node)
        edges = (node.e0,)
    else:  # any other number of inputs: the node keeps the tuples
        edges = node.e0
        data_list = []
        for x, v in zip(a, node.v0):
            if v is None:
                data_list.append(x)
            elif x._vcell[0] == v or v == UNCHECKED:
                data_list.append(x.data)
            else:
                _check_versions(node)
        datas = tuple(data_list)
    ans = node.ans
    if ans is not None and node.ans_cell[0] != node.ans_version:
        _check_versions(node)

    if create:
        from .tensor import _make

        g = _as_tensor(g)
        ans_t = _make(ans, node) if op.saves_ans else None  # a `saving` op recomputes
        grads = op.vjp(g, ans_t, node.inputs, node.attrs, edges)
    else:
        grads = op.vjp(g, ans, datas, node.attrs, edges)
    if len(grads) != len(edges):
        raise RuntimeError(
            f"'{op.name}' backward returned {len(grads)} gradients, expected {len(edges)} "
            f"(one per input)"
        )
    owns = op.owns_grads and not create
    i = -1
    for gi, e in zip(grads, edges):
        i += 1
        if e is None or gi is None:
            continue
        x = datas[i]
        if type(gi) is not np.ndarray:
            gi = _coerce(op, i, gi, create)
        if gi.shape != x.shape:
            gi = _unbroadcast_for(op, i, gi, x.shape)
            if not create and type(gi) is not np.ndarray:
                gi = np.asarray(gi)  # a full reduction gives a NumPy scalar
        if gi.dtype != x.dtype:
            gi = _cast_for(op, i, gi, x.dtype)
        if _Anomaly.enabled and _nonfinite(gi.data if create else gi):
            raise RuntimeError(
                f"Function '{op.name}' returned nan or inf values in its gradient for input "
                f"{i} during backward.{_where_made(node)}"
            )
        # A fresh array from a built-in rule may be added into in place later; the
        # upstream gradient passed through, a view, or a user's array must not be.
        fresh = owns and gi.base is None and gi is not g and (i == 0 or gi is not grads[0])
        if type(e) is not Node:
            if targets:
                _send_to_leaf(e, gi, fresh, pending, owned, create, targets)
            elif not e._rg:  # frozen (requires_grad_(False)) after the forward: no .grad, as torch
                pass
            elif fresh and e._grad is None:  # the everyday leaf: its first gradient, ours to keep
                e._grad = _leaf_grad(gi)
            else:
                _accumulate_leaf(e, gi, fresh, create)
            continue
        prev = pending.get(e)
        if prev is None:
            pending[e] = gi
            heappush(heap, (-e.seq, e))
            if fresh:
                owned.add(e)
        elif create:
            pending[e] = prev + gi
        elif e in owned:
            np.add(prev, gi, out=prev)
        else:
            total = prev + gi  # a fresh buffer: later contributions go in place
            pending[e] = total if type(total) is np.ndarray else np.asarray(total)
            owned.add(e)

    if not retain:
        node.x0 = FREED
        node.x1 = node.ans = None
        if op.keeps_state:
            op.release(node)


def _coerce(op: Any, i: int, gi: Any, create: bool) -> Any:
    """A rule's gradient that is not an ndarray (a Tensor, NumPy scalar, number) as one."""
    if type(gi) is np.float64 and not create:  # 0-d arithmetic: every node of a scalar chain
        return np.asarray(gi)
    if not isinstance(gi, (_tensor_type[0], np.ndarray, np.generic, int, float, list)):
        raise RuntimeError(  # a user Function returned something else (a string, ...)
            f"'{op.name}' backward returned a {type(gi).__name__} as the gradient for input {i}, "
            f"not an array, tensor or number"
        )
    if create:
        return _as_tensor(gi)
    if isinstance(gi, _tensor_type[0]):
        return gi.data
    return np.asarray(gi)  # NumPy scalars from 0-d arithmetic, Python numbers


def _unbroadcast_for(op: Any, i: int, gi: Any, shape: tuple) -> Any:
    try:
        return unbroadcast(gi, shape)
    except ValueError:
        raise RuntimeError(
            f"'{op.name}' backward returned a gradient of shape {tuple(gi.shape)} for input "
            f"{i} of shape {shape}"
        ) from None


def _cast_for(op: Any, i: int, gi: Any, dtype: np.dtype) -> Any:
    # A complex gradient for a real input would lose its imaginary part in the cast.
    if gi.dtype.kind not in "fciub" or (gi.dtype.kind == "c" and dtype.kind != "c"):
        raise RuntimeError(
            f"'{op.name}' backward returned a gradient of dtype {gi.dtype} for input {i} of "
            f"dtype {dtype}"
        )
    return gi.astype(dtype)


def _accumulate_leaf(leaf: Any, g: Any, is_owned: bool, create: bool) -> None:
    Tensor = _tensor_type[0]  # noqa: N806

    if create:
        g = _as_tensor(g)
        if leaf._grad is not None:
            leaf._grad = leaf._grad + g
        elif g._rg:  # a .grad of its own: a rule may send one tensor to several leaves
            leaf._grad = g * 1
        else:
            leaf._grad = Tensor(g.data.copy())
        return
    if isinstance(g, Tensor):
        g = g.data
    if g.dtype != leaf.data.dtype:
        g = g.astype(leaf.data.dtype)
    if leaf._grad is None:
        leaf._grad = _leaf_grad(
            g if (is_owned and type(g) is np.ndarray) else np.array(g, copy=True)
        )
    elif leaf._grad._node is not None or not leaf._grad.data.flags.writeable:
        leaf._grad = Tensor(leaf._grad.data + g)
    else:
        if leaf._grad.shape != leaf.shape:
            raise RuntimeError(
                f"cannot accumulate a gradient of shape {leaf.shape} into .grad of shape "
                f"{leaf._grad.shape}"
            )
        leaf._grad.data += g
        leaf._grad._version[0] += 1


def _leaf_grad(arr: np.ndarray) -> Any:
    """A leaf's new `.grad`: Tensor(arr), without re-checking an array the engine made."""
    grad = _tensor_type[0].__new__(_tensor_type[0])
    grad.data, grad._grad, grad._rg, grad._node, grad._vcell, grad._base = (
        arr, None, False, None, _UNWRITTEN, None
    )  # fmt: skip
    return grad


def record_trace(node: Node) -> None:
    """Remember where `node` was created (anomaly mode), for error messages."""
    _Anomaly.traces[node] = traceback.format_stack()[:-3]
