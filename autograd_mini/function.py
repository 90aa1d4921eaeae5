"""User-defined ops, as `torch.autograd.Function`: subclass, write forward and backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import engine
from .engine import Node, _Anomaly, _state
from .tensor import Tensor, _check_forward, _complex_error


class FunctionCtx:
    """What a Function's forward leaves for its backward."""

    def __init__(self, n_inputs: int, needs: tuple[bool, ...]) -> None:
        self._saved: tuple | None = ()
        self._freed = False
        self.needs_input_grad = needs
        self.n_inputs = n_inputs

    def save_for_backward(self, *values: Any) -> None:
        """Keep `values` (arrays, Tensors, anything) for backward."""
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """Exactly what `save_for_backward` was given."""
        if self._freed:
            raise RuntimeError(
                "saved_tensors: the values saved for backward were freed by a previous "
                "backward; pass retain_graph=True to keep them"
            )
        return self._saved


# The attributes FunctionCtx sets itself; any other attribute is something forward kept.
_CTX_OWN = frozenset(vars(FunctionCtx(0, ())))


class _FunctionOp:
    """Adapts a Function subclass to the engine's op interface (name, vjp, release)."""

    __slots__ = ("cls", "ctx", "name", "saves_ans", "view", "owns_grads", "differentiable")

    def __init__(self, cls: type, ctx: FunctionCtx) -> None:
        self.cls = cls
        self.ctx = ctx
        self.name = cls.__name__
        self.saves_ans = False
        self.view = False
        self.owns_grads = False  # a user's backward may hand back arrays it keeps elsewhere
        self.differentiable = True

    keeps_state = True  # the ctx holds what the user saved: freed after backward
    saving = None  # the ctx holds what backward needs, too

    def fwd(self, *args: Any) -> np.ndarray:
        """Run the user's forward again (used by gradcheck to localise a wrong rule)."""
        ctx = FunctionCtx(len(args), self.ctx.needs_input_grad)
        return np.asarray(self.cls.forward(ctx, *args))

    def vjp(self, g: Any, ans: Any, args: tuple, attrs: Any, edges: tuple) -> list:
        """Call the user's backward once, with the upstream gradient as a Tensor."""
        gt = g if isinstance(g, Tensor) else Tensor(g)
        grads = self.cls.backward(self.ctx, gt)
        if not isinstance(grads, tuple | list):
            grads = (grads,)
        if len(grads) > len(edges) and all(gi is None for gi in grads[len(edges) :]):
            grads = grads[: len(edges)]  # trailing Nones are fine, as in PyTorch
        if len(grads) != len(edges):
            raise RuntimeError(
                f"{self.name}.backward returned {len(grads)} gradients, but forward took "
                f"{len(edges)} inputs (return None for an input that needs no gradient)"
            )
        if not _state.enabled:
            return list(grads)
        # The backward is being recorded (create_graph=True). It ran on the NumPy arrays the
        # forward saved, so how the gradients depend on the inputs is not in the graph: a
        # derivative through them would be silently wrong (see _once_differentiable). If
        # forward kept nothing, they cannot depend on the inputs.
        kept = bool(_kept_by(self.ctx))
        return [_once_differentiable(self.name, gi, gt, edges, kept) for gi in grads]

    def release(self, node: Node) -> None:
        """Free the values the user saved."""
        self.ctx._saved = None
        self.ctx._freed = True


class OnceDifferentiableError(RuntimeError):
    """A derivative was asked through the gradient a user Function's backward computed."""


class _NotDifferentiable:
    """The op standing for what a user's backward left out of the graph: differentiating
    through it raises, as through torch's `once_differentiable`."""

    __slots__ = ("name",)
    saves_ans = view = owns_grads = keeps_state = False
    differentiable = True
    saving = None

    def __init__(self, name: str) -> None:
        self.name = name

    def vjp(self, g: Any, ans: Any, args: tuple, attrs: Any, edges: tuple) -> list:
        """Raise: the dependence this stands for is unknown."""
        fn = self.name.removesuffix(".backward")
        raise OnceDifferentiableError(
            f"cannot differentiate through the gradient that {fn}.backward computed: a "
            "Function's backward works on NumPy arrays (what its forward kept, or the "
            "gradient's values), so how that gradient depends on the Function's inputs is "
            "unknown (as with torch's once_differentiable). For second derivatives (hessian, "
            "grad of grad, a backward through create_graph=True gradients), keep nothing in "
            f"forward and compute with grad_output's Tensor operations, or write {fn} with "
            "built-in Tensor operations instead of as a Function."
        )


def _stand_in(name: str, arr: np.ndarray, parents: list) -> Tensor:
    t = Tensor(arr)
    none = (None,) * len(parents)
    op = _NotDifferentiable(f"{name}.backward")
    t._node = Node(op, none, tuple(parents), none, None, None, None)
    t._rg = True
    return t


def _once_differentiable(name: str, gi: Any, g: Tensor, edges: tuple, kept: bool) -> Any:
    """`gi` made to raise if it is differentiated with respect to the op's inputs (when
    forward kept something of them), or, if the user's backward left the graph, with respect
    to the upstream gradient too."""
    if gi is None:
        return None
    inputs = [e for e in edges if e is not None]
    if isinstance(gi, Tensor) and gi.requires_grad:
        # Recorded from g (what jvp's double-vjp needs): exact, if forward kept nothing of
        # the inputs; else the inputs' part is a zero whose derivative raises.
        return gi + _stand_in(name, np.zeros((), gi.dtype), inputs) if kept else gi
    arr = gi.data if isinstance(gi, Tensor) else np.asarray(gi)
    if arr.dtype.kind not in "fc":
        return gi
    if g.requires_grad:
        inputs.append(g._node if g._node is not None else g)
    return _stand_in(name, arr, inputs)


def _kept_by(ctx: FunctionCtx) -> tuple:
    """What forward left for backward: the saved values, and arrays stashed on ctx (also
    inside a list, tuple or dict attribute)."""
    kept = list(ctx._saved or ())
    for name, v in vars(ctx).items():
        if name in _CTX_OWN:  # a user's `ctx._x = x` is a stash like any other
            continue
        kept.extend(
            v.values() if isinstance(v, dict) else v if isinstance(v, list | tuple) else [v]
        )
    return tuple(kept)


def _saved_in(arr: np.ndarray, saved: tuple) -> bool:
    """Whether `saved` holds `arr` or an array sharing its memory (a view of it)."""
    return any(
        (type(v) is np.ndarray and np.may_share_memory(v, arr))
        or (isinstance(v, Tensor) and np.may_share_memory(v.data, arr))
        for v in saved
    )


class Function:
    """Base class for user-defined differentiable ops (static forward and backward)."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> np.ndarray:
        """NumPy arrays in, one NumPy array out."""
        raise TypeError("a subclass of ag.Function must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: FunctionCtx, grad_output: Tensor) -> Any:
        """One gradient per forward input (array, Tensor or None)."""
        raise TypeError("a subclass of ag.Function must define backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run the op on `args` and record it like a built-in op."""
        datas = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(len(args), needs)
        prev = _state.enabled
        _state.enabled = False  # forward works on arrays; nothing inside is recorded
        try:
            out = cls.forward(ctx, *datas)
        finally:
            _state.enabled = prev
        if isinstance(out, Tensor):
            out = out.data
        if not isinstance(out, np.ndarray | np.generic | float | int):
            raise TypeError(
                f"{cls.__name__}.forward must return one NumPy array, got {type(out).__name__}"
            )
        out = np.asarray(out)
        if any(type(d) is np.ndarray and np.may_share_memory(out, d) for d in datas):
            # An input's memory (forward returned it, or a view of it): a later in-place
            # change of the output must not change the input behind its version counter.
            out = out.copy()
        op = _FunctionOp(cls, ctx)
        if _Anomaly.enabled:
            _check_forward(op, list(datas), out)  # type: ignore[arg-type]
        t = Tensor(out)
        recording = prev and any(needs)
        if recording and out.dtype.kind == "c":
            raise _complex_error(cls.__name__, datas)
        if recording and out.dtype.kind == "f":
            edges = tuple(
                (a._node if a._node is not None else a) if need else None
                for a, need in zip(args, needs)
            )
            # As in PyTorch, only what forward kept is checked at backward: an input it did
            # not keep may change in place before backward without changing the gradients.
            # Kept means saved, or stashed on ctx (`ctx.x = x`), which PyTorch leaves
            # unchecked: here that would be a silent wrong gradient.
            saved = _kept_by(ctx)
            versions = [
                (a._version[0] if _saved_in(a.data, saved) else engine.UNCHECKED)
                if isinstance(a, Tensor)
                else None
                for a in args
            ]
            # If forward saved its output, an in-place change of it before backward must
            # be caught like one of a built-in op's saved output.
            kept = _saved_in(out, saved)
            node = Node(
                op, args, edges, versions, out if kept else None, t._version if kept else None, None
            )
            if _Anomaly.enabled:
                engine.record_trace(node)
            t._node = node
            t._rg = True
        return t
