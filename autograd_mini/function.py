"""User-defined ops, as `torch.autograd.Function`: subclass, write forward and backward."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import engine
from .engine import Node, _Anomaly, _state
from .tensor import Tensor, _check_forward


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
        if len(grads) != len(edges):
            raise RuntimeError(
                f"{self.name}.backward returned {len(grads)} gradients, but forward took "
                f"{len(edges)} inputs (return None for an input that needs no gradient)"
            )
        return list(grads)

    def release(self, node: Node) -> None:
        """Free the values the user saved."""
        self.ctx._saved = None
        self.ctx._freed = True


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
        op = _FunctionOp(cls, ctx)
        if _Anomaly.enabled:
            _check_forward(op, list(datas), out)  # type: ignore[arg-type]
        t = Tensor(out)
        if prev and any(needs) and out.dtype.kind in "fc":
            edges = tuple(
                (a._node if a._node is not None else a) if need else None
                for a, need in zip(args, needs)
            )
            versions = [a._version[0] if isinstance(a, Tensor) else None for a in args]
            node = Node(op, args, edges, versions, None, None, None)
            if _Anomaly.enabled:
                engine.record_trace(node)
            t._node = node
            t._rg = True
        return t
