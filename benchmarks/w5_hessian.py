"""W5: a full Hessian — of f(x) = sum(tanh(W @ x)), x in R^100, float64.

The Hessian is W.T diag(-2 t (1 - t^2)) W with t = tanh(W x); numpy-hand is that formula.
An engine that builds it from one batched backward (a vectorised Jacobian of the gradient)
beats one that runs 100 separate backward passes.
"""

from __future__ import annotations

import numpy as np

from . import peers
from .harness import Builder, Case


def _ad_mini(W: np.ndarray, x0: np.ndarray) -> Builder:
    def build():
        import autograd_mini as ag

        Wt = ag.tensor(W)
        h = ag.hessian(lambda x: ag.tanh(Wt @ x).sum())
        return (lambda: h(x0)), lambda H: {"H": np.asarray(H)}

    return build


def _numpy_hand(W: np.ndarray, x0: np.ndarray) -> Builder:
    def build():
        def step():
            t = np.tanh(W @ x0)
            d = -2.0 * t * (1.0 - t * t)
            return W.T @ (d[:, None] * W)

        return step, lambda H: {"H": H}

    return build


def _torch(W: np.ndarray, x0: np.ndarray) -> Builder:
    def build():
        torch = peers.torch()
        Wt = torch.from_numpy(W)
        x = torch.from_numpy(x0.copy())
        h = torch.func.hessian(lambda x: torch.tanh(Wt @ x).sum())
        return (lambda: h(x)), lambda H: {"H": H.numpy()}

    return build


def _jax(W: np.ndarray, x0: np.ndarray, jit: bool) -> Builder:
    def build():
        jax = peers.jax()
        jnp = jax.numpy
        Wj = jnp.asarray(W)
        h = jax.hessian(lambda x: jnp.sum(jnp.tanh(Wj @ x)))
        if jit:
            h = jax.jit(h)
        x = jnp.asarray(x0)
        return (lambda: jax.block_until_ready(h(x))), lambda H: {"H": np.asarray(H)}

    return build


def _hips(W: np.ndarray, x0: np.ndarray) -> Builder:
    def build():
        import autograd.numpy as anp
        from autograd import hessian

        h = hessian(lambda x: anp.sum(anp.tanh(anp.dot(W, x))))
        return (lambda: h(x0)), lambda H: {"H": H}

    return build


def cases(tiny: bool = False) -> list[Case]:
    """The W5 case (tiny: x in R^5)."""
    n = 5 if tiny else 100
    rng = np.random.default_rng(5)
    W = rng.standard_normal((n, n)) / np.sqrt(n)
    x0 = rng.standard_normal(n)
    return [
        Case(
            workload="W5",
            label="W5",
            title=f"full Hessian of sum(tanh(W @ x)), x in R^{n}, float64",
            reference="hips",
            peers={
                "autograd_mini": _ad_mini(W, x0),
                "numpy-hand": _numpy_hand(W, x0),
                "torch": _torch(W, x0),
                "jax": _jax(W, x0, jit=False),
                "jax-jit": _jax(W, x0, jit=True),
                "hips": _hips(W, x0),
            },
            targets={"time": 0.30},
            rtol=1e-10,
            atol=1e-13,
            not_applicable={
                "mygrad": "no higher-order derivatives",
                "micrograd": "scalar Values only (W1, W7v)",
            },
        )
    ]
