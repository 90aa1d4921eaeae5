"""Adagrad: per-coordinate step sizes from the running sum of squared gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad, ``torch.optim.Adagrad``'s update rule and defaults."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        """Validate the hyper-parameters as torch does and build the parameter groups."""
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _init_new_group(self, group: dict[str, Any]) -> None:
        """Create every parameter's state up front, as torch's Adagrad does."""
        for p in group["params"]:
            self._init_state(p, group)

    def _init_state(self, p: Any, group: dict[str, Any]) -> None:
        """Step 0 and an accumulator filled with the group's initial value."""
        state = self.state[p]
        state["step"] = 0.0
        # The group's own value (torch reads the constructor's/defaults' value instead,
        # which ignores a per-group initial_accumulator_value).
        state["sum"] = np.full_like(p.data, float(group["initial_accumulator_value"]))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            lr_decay = float(group["lr_decay"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                if len(self.state[p]) == 0:
                    self._init_state(p, group)
                state = self.state[p]
                state["step"] += 1
                step = state["step"]
                grad = self._grad_of(p, group["maximize"])
                if weight_decay != 0:
                    grad = grad + weight_decay * p.data

                clr = lr / (1 + (step - 1) * lr_decay)
                state_sum = state["sum"]
                state_sum += grad * grad
                std = np.sqrt(state_sum)
                std += eps
                p.data -= clr * grad / std
                p._bump_version()
        return loss
