"""Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, ``torch.optim.SGD``'s update rule and defaults."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        """Validate the hyper-parameters as torch does and build the parameter groups."""
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            # float(): NumPy scalars (e.g. np.float64) would promote float32 arrays.
            lr = float(group["lr"])
            momentum = float(group["momentum"])
            dampening = float(group["dampening"])
            weight_decay = float(group["weight_decay"])
            nesterov = bool(group["nesterov"])
            maximize = group["maximize"]
            if momentum == 0 and weight_decay == 0:
                # Plain SGD, the everyday case, in one pass: p += (-lr)·g is bit for bit
                # p - lr·g (negating is exact), and maximize only flips the sign.
                scale = lr if maximize else -lr
                for p in group["params"]:
                    g = p._grad
                    if g is None:
                        continue
                    data, grad = p.data, g.data
                    if grad.dtype is not data.dtype and grad.dtype != data.dtype:
                        # The update runs in the parameter's dtype: float32 stays float32.
                        grad = grad.astype(data.dtype)
                    data += scale * grad
                    p._version[0] += 1
                continue
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = self._grad_of(p, maximize)
                if weight_decay != 0:
                    grad = grad + weight_decay * p.data
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        # First step: the buffer starts as the gradient itself, not zero.
                        # np.array, not .copy(): arithmetic on 0-d arrays yields NumPy
                        # scalars, and the buffer must be an array to be updated in place.
                        buf = np.array(grad, dtype=p.data.dtype)
                        state["momentum_buffer"] = buf
                    else:
                        buf *= momentum
                        buf += (1 - dampening) * grad
                    grad = grad + momentum * buf if nesterov else buf
                p.data -= lr * grad
                p._bump_version()
        return loss
