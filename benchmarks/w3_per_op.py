"""W3: the fixed cost of one op — many tiny ops on a 16-vector, then backward.

x (16,) float64; 100 times `y = tanh(y * 1.01 + 0.1)` (3 ops each), `sum`, backward:
301 recorded ops per call, so the time per op is what an engine adds around NumPy's work.
"""

from __future__ import annotations

import numpy as np

from . import peers
from .harness import Builder, Case


def _ad_mini(x0: np.ndarray, n: int) -> Builder:
    def build():
        import autograd_mini as ag

        x = ag.tensor(x0, requires_grad=True)

        def step():
            y = x
            for _ in range(n):
                y = (y * 1.01 + 0.1).tanh()
            s = y.sum()
            x.grad = None
            s.backward()
            return s

        return step, lambda s: {"loss": s.item(), "grad": x.grad.data.copy()}

    return build


def _numpy_hand(x0: np.ndarray, n: int) -> Builder:
    def build():
        x = x0.copy()

        def step():
            ts = []
            y = x
            for _ in range(n):
                y = np.tanh(y * 1.01 + 0.1)
                ts.append(y)
            s = y.sum()
            g = np.ones_like(x)
            for t in reversed(ts):
                g = g * (1.0 - t * t) * 1.01
            return s, g

        return step, lambda out: {"loss": float(out[0]), "grad": out[1]}

    return build


def _torch(x0: np.ndarray, n: int) -> Builder:
    def build():
        torch = peers.torch()
        x = torch.tensor(x0, requires_grad=True)

        def step():
            y = x
            for _ in range(n):
                y = torch.tanh(y * 1.01 + 0.1)
            s = y.sum()
            x.grad = None
            s.backward()
            return s

        return step, lambda s: {"loss": s.item(), "grad": x.grad.numpy().copy()}

    return build


def _fn(np_mod, n: int):
    def f(x):
        y = x
        for _ in range(n):
            y = np_mod.tanh(y * 1.01 + 0.1)
        return np_mod.sum(y)

    return f


def _jax(x0: np.ndarray, n: int, jit: bool) -> Builder:
    def build():
        jax = peers.jax()
        vg = jax.value_and_grad(_fn(jax.numpy, n))
        if jit:
            vg = jax.jit(vg)
        x = jax.numpy.asarray(x0)

        def step():
            return jax.block_until_ready(vg(x))

        return step, lambda out: {"loss": float(out[0]), "grad": np.asarray(out[1])}

    return build


def _hips(x0: np.ndarray, n: int) -> Builder:
    def build():
        import autograd.numpy as anp
        from autograd import value_and_grad

        vg = value_and_grad(_fn(anp, n))
        x = x0.copy()
        return (lambda: vg(x)), lambda out: {"loss": float(out[0]), "grad": out[1]}

    return build


def _mygrad(x0: np.ndarray, n: int) -> Builder:
    def build():
        import mygrad as mg

        x = mg.tensor(x0.copy())

        def step():
            y = x
            for _ in range(n):
                y = mg.tanh(y * 1.01 + 0.1)
            s = mg.sum(y)
            s.backward()
            return s

        return step, lambda s: {"loss": s.item(), "grad": np.array(x.grad)}

    return build


def cases(tiny: bool = False) -> list[Case]:
    """The W3 case (tiny: x (4,), 5 iterations)."""
    size, n = (4, 5) if tiny else (16, 100)
    x0 = np.random.default_rng(3).standard_normal(size)
    return [
        Case(
            workload="W3",
            label="W3",
            title=f"per-op cost: x ({size},) float64, {n} x tanh(y*1.01 + 0.1), sum, backward "
            f"({3 * n + 1} ops)",
            reference="torch",
            peers={
                "autograd_mini": _ad_mini(x0, n),
                "numpy-hand": _numpy_hand(x0, n),
                "torch": _torch(x0, n),
                "jax": _jax(x0, n, jit=False),
                "jax-jit": _jax(x0, n, jit=True),
                "hips": _hips(x0, n),
                "mygrad": _mygrad(x0, n),
            },
            targets={"time": 1.00},
            ops_per_call=3 * n + 1,
            rtol=1e-12,
            atol=1e-14,
            not_applicable={"micrograd": "scalar Values only (W1, W7v)"},
        )
    ]
