"""W6: one gradient of f(x) = sum(sin(x) * x^2) for n = 10 ... 10^4, and its accuracy.

Each n is its own table. Besides the time, `err` is max |g - g_exact| / max |g_exact| with
g_exact = cos(x) x^2 + 2 x sin(x): autodiff is exact to rounding, central differences
(eps = 1e-6, 2n evaluations of f) are neither exact nor cheap — the reason for autodiff.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import peers
from .harness import Builder, Case

EPS = 1e-6


def _res(g) -> dict:
    return {"grad": np.asarray(g, dtype=np.float64)}


def _ad_mini(x0: np.ndarray) -> Builder:
    def build():
        import autograd_mini as ag

        x = ag.tensor(x0, requires_grad=True)

        def step():
            x.grad = None
            (x.sin() * x**2).sum().backward()
            return x.grad

        return step, lambda g: _res(g.data)

    return build


def _numpy_hand(x0: np.ndarray) -> Builder:
    def build():
        x = x0.copy()

        def step():
            s = np.sin(x)
            x2 = x * x
            _ = (s * x2).sum()
            # backward: d/ds = x2, d/dx2 = s; sin' = cos, (x^2)' = 2x
            return np.cos(x) * x2 + 2.0 * x * s

        return step, _res

    return build


def _central(x0: np.ndarray) -> Builder:
    def build():
        x = x0.copy()

        def f(v):
            return (np.sin(v) * v * v).sum()

        def step():
            g = np.empty_like(x)
            for i in range(x.size):
                xi = x[i]
                x[i] = xi + EPS
                fp = f(x)
                x[i] = xi - EPS
                fm = f(x)
                x[i] = xi
                g[i] = (fp - fm) / (2 * EPS)
            return g

        return step, _res

    return build


def _torch(x0: np.ndarray) -> Builder:
    def build():
        torch = peers.torch()
        x = torch.tensor(x0, requires_grad=True)

        def step():
            x.grad = None
            (torch.sin(x) * x**2).sum().backward()
            return x.grad

        return step, lambda g: _res(g.numpy())

    return build


def _f(np_mod) -> Callable:
    return lambda x: np_mod.sum(np_mod.sin(x) * x**2)


def _jax(x0: np.ndarray, jit: bool) -> Builder:
    def build():
        jax = peers.jax()
        g = jax.grad(_f(jax.numpy))
        if jit:
            g = jax.jit(g)
        x = jax.numpy.asarray(x0)
        return (lambda: jax.block_until_ready(g(x))), _res

    return build


def _hips(x0: np.ndarray) -> Builder:
    def build():
        import autograd.numpy as anp
        from autograd import grad

        g = grad(_f(anp))
        x = x0.copy()
        return (lambda: g(x)), _res

    return build


def _mygrad(x0: np.ndarray) -> Builder:
    def build():
        import mygrad as mg

        x = mg.tensor(x0.copy())

        def step():
            mg.sum(mg.sin(x) * x**2).backward()
            return x.grad

        return step, _res

    return build


def cases(tiny: bool = False) -> list[Case]:
    """One case per n (tiny: n = 10 and 30)."""
    out = []
    for n in (10, 30) if tiny else (10, 100, 1000, 10_000):
        x0 = np.random.default_rng(6).uniform(-3.0, 3.0, n)
        exact = np.cos(x0) * x0**2 + 2.0 * x0 * np.sin(x0)
        scale = np.max(np.abs(exact))

        def err(name: str, res: dict, exact: np.ndarray = exact, scale: float = scale) -> dict:
            return {"err": float(np.max(np.abs(res["grad"] - exact)) / scale)}

        out.append(
            Case(
                workload="W6",
                label=f"W6 n={n}",
                title=f"one gradient of sum(sin(x)*x^2), x in R^{n} float64; "
                "err = max relative error vs the analytic gradient",
                reference="torch",
                peers={
                    "autograd_mini": _ad_mini(x0),
                    "numpy-hand": _numpy_hand(x0),
                    "torch": _torch(x0),
                    "jax": _jax(x0, jit=False),
                    "jax-jit": _jax(x0, jit=True),
                    "hips": _hips(x0),
                    "mygrad": _mygrad(x0),
                    "central-diff": _central(x0),
                },
                targets={"time": 1.5},
                rtol=1e-12,
                atol=1e-14,
                tolerances={"central-diff": (1e-5, 0.0)},
                metrics=err,
                # 2n evaluations of f: seconds per call at n = 10^4.
                max_samples={"central-diff": 2} if n >= 10_000 else {},
                not_applicable={"micrograd": "scalar Values only (W1, W7v)"},
            )
        )
    return out
