"""Adam (optionally AMSGrad) and AdamW, the decoupled-weight-decay variant."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT

__all__ = ["Adam", "AdamW"]


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start.lerp_(end, weight)`` with torch's two formulas (chosen by ``|weight| < 0.5``)."""
    # torch switches formula at 0.5 so the result is exact at both ends; matching it keeps
    # float64 results within rounding of torch's.
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        np.subtract(end, (end - start) * (1 - weight), out=start)


class Adam(Optimizer):
    """Adam, ``torch.optim.Adam``'s update rule and defaults (L2 weight decay in the gradient)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        """Validate the hyper-parameters as torch does and build the parameter groups."""
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        # torch insists on floats (or Tensors); any real number is accepted here and made float.
        if not all(isinstance(b, Real) and not isinstance(b, bool) for b in betas[:2]):
            raise ValueError("betas must be either both floats or both Tensors")
        defaults = {
            "lr": lr,
            "betas": (float(betas[0]), float(betas[1])),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _restore_group(self, group: dict[str, Any]) -> None:
        """Give loaded betas back their tuple form (a JSON round trip may make them a list)."""
        group["betas"] = tuple(group["betas"])

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            lr = float(group["lr"])
            beta1, beta2 = (float(b) for b in group["betas"])
            eps = float(group["eps"])
            weight_decay = float(group["weight_decay"])
            amsgrad = bool(group["amsgrad"])
            decoupled = bool(group["decoupled_weight_decay"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = self._grad_of(p, group["maximize"])
                state = self.state[p]
                if len(state) == 0:  # lazy initialisation, as torch does
                    state["step"] = 0.0
                    state["exp_avg"] = np.zeros_like(p.data)
                    state["exp_avg_sq"] = np.zeros_like(p.data)
                    if amsgrad:
                        state["max_exp_avg_sq"] = np.zeros_like(p.data)
                elif amsgrad and "max_exp_avg_sq" not in state:
                    # amsgrad switched on after some steps: start its running max at zero
                    state["max_exp_avg_sq"] = np.zeros_like(p.data)
                exp_avg = state["exp_avg"]
                exp_avg_sq = state["exp_avg_sq"]
                state["step"] += 1
                step = state["step"]

                if weight_decay != 0:
                    if decoupled:
                        p.data *= 1 - lr * weight_decay
                    else:
                        grad = grad + weight_decay * p.data

                _lerp_(exp_avg, grad, 1 - beta1)
                exp_avg_sq *= beta2
                exp_avg_sq += (1 - beta2) * grad * grad

                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                bias_correction2_sqrt = bias_correction2**0.5  # pow, as torch (not sqrt)

                if amsgrad:
                    max_exp_avg_sq = state["max_exp_avg_sq"]
                    np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
                    denom = np.sqrt(max_exp_avg_sq) / bias_correction2_sqrt
                else:
                    denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt
                denom += eps
                p.data -= step_size * exp_avg / denom
                p._bump_version()
        return loss


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (``torch.optim.AdamW``, default 1e-2)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        """Adam's arguments, with weight decay applied to the parameters, not the gradient."""
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )

    def _restore_group(self, group: dict[str, Any]) -> None:
        """As torch does, a group loaded into AdamW always decays decoupled."""
        super()._restore_group(group)
        group["decoupled_weight_decay"] = True
