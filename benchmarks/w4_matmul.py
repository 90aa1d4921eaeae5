"""W4: large matmuls, where an engine should cost nothing on top of BLAS.

X (1024, 1024) is a constant, W1 (1024, 1024) and W2 (1024, 10) require gradients, float32;
loss = sum(relu(X @ W1) @ W2); forward and backward. The only gradients needed are W1's
and W2's — an engine that also computes X's does a third large matmul for nothing.
"""

from __future__ import annotations

import numpy as np

from . import peers
from .harness import Builder, Case


def _ad_mini(X: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> Builder:
    def build():
        import autograd_mini as ag

        Xt = ag.tensor(X)
        w1 = ag.tensor(W1, requires_grad=True)
        w2 = ag.tensor(W2, requires_grad=True)

        def step():
            loss = ((Xt @ w1).relu() @ w2).sum()
            w1.grad = None
            w2.grad = None
            loss.backward()
            return loss

        return step, lambda loss: {
            "loss": loss.item(),
            "W1": w1.grad.data.copy(),
            "W2": w2.grad.data.copy(),
        }

    return build


def _numpy_hand(X: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> Builder:
    def build():
        def step():
            h = X @ W1
            r = np.maximum(h, 0)
            out = r @ W2
            loss = out.sum()
            g_out = np.ones_like(out)
            gW2 = r.T @ g_out
            g_h = g_out @ W2.T
            g_h *= h > 0
            gW1 = X.T @ g_h
            return loss, gW1, gW2

        return step, lambda o: {"loss": float(o[0]), "W1": o[1], "W2": o[2]}

    return build


def _torch(X: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> Builder:
    def build():
        torch = peers.torch()
        Xt = torch.from_numpy(X)
        w1 = torch.tensor(W1, requires_grad=True)
        w2 = torch.tensor(W2, requires_grad=True)

        def step():
            loss = (torch.relu(Xt @ w1) @ w2).sum()
            w1.grad = None
            w2.grad = None
            loss.backward()
            return loss

        return step, lambda loss: {
            "loss": loss.item(),
            "W1": w1.grad.numpy().copy(),
            "W2": w2.grad.numpy().copy(),
        }

    return build


def _f(np_mod):
    def f(w1, w2, X):
        return np_mod.sum(np_mod.maximum(X @ w1, 0) @ w2)

    return f


def _jax(X: np.ndarray, W1: np.ndarray, W2: np.ndarray, jit: bool) -> Builder:
    def build():
        jax = peers.jax()
        vg = jax.value_and_grad(_f(jax.numpy), argnums=(0, 1))
        if jit:
            vg = jax.jit(vg)
        args = [jax.numpy.asarray(a) for a in (W1, W2, X)]

        def step():
            return jax.block_until_ready(vg(*args))

        return step, lambda o: {
            "loss": float(o[0]),
            "W1": np.asarray(o[1][0]),
            "W2": np.asarray(o[1][1]),
        }

    return build


def _hips(X: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> Builder:
    def build():
        import autograd.numpy as anp
        from autograd import value_and_grad

        vg = value_and_grad(_f(anp), argnum=(0, 1))
        return (lambda: vg(W1, W2, X)), lambda o: {
            "loss": float(o[0]),
            "W1": o[1][0],
            "W2": o[1][1],
        }

    return build


def _mygrad(X: np.ndarray, W1: np.ndarray, W2: np.ndarray) -> Builder:
    def build():
        import mygrad as mg
        from mygrad.nnet.activations import relu

        # A NumPy array (not a Tensor) is mygrad's constant: no gradient is computed for it.
        w1 = mg.tensor(W1.copy())
        w2 = mg.tensor(W2.copy())

        def step():
            loss = mg.sum(mg.matmul(relu(mg.matmul(X, w1)), w2))
            loss.backward()
            return loss

        return step, lambda loss: {
            "loss": loss.item(),
            "W1": np.array(w1.grad),
            "W2": np.array(w2.grad),
        }

    return build


def cases(tiny: bool = False) -> list[Case]:
    """The W4 case (tiny: 32 x 32)."""
    n = 32 if tiny else 1024
    rng = np.random.default_rng(4)
    X = rng.standard_normal((n, n)).astype(np.float32)
    W1 = (rng.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32)
    W2 = (rng.standard_normal((n, 10)) / np.sqrt(n)).astype(np.float32)
    return [
        Case(
            workload="W4",
            label="W4",
            title=f"large matmul: X ({n},{n}) constant, W1 ({n},{n}), W2 ({n},10) float32, "
            "sum(relu(X @ W1) @ W2), fwd+bwd",
            reference="numpy-hand",
            peers={
                "autograd_mini": _ad_mini(X, W1, W2),
                "numpy-hand": _numpy_hand(X, W1, W2),
                "torch": _torch(X, W1, W2),
                "jax": _jax(X, W1, W2, jit=False),
                "jax-jit": _jax(X, W1, W2, jit=True),
                "hips": _hips(X, W1, W2),
                "mygrad": _mygrad(X, W1, W2),
            },
            targets={"time": 1.03},
            rtol=2e-5,
            atol=1e-5,
            not_applicable={"micrograd": "scalar Values only (W1, W7v)"},
        )
    ]
