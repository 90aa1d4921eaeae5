"""One MLP training step — forward, loss, backward, SGD update — written for every peer.

Shared by W1 (its vectorised rows: max-margin loss + L2) and W2 (softmax cross-entropy).
Parameters are `[(W, b), ...]` NumPy arrays with W shaped (in, out), so a layer is
`a @ W + b`; ReLU between layers, none after the last. Each builder copies the arrays it is
given, so every peer starts from the same weights, and returns `(step, result)` where
`result` gives the loss of the step and the gradient of every parameter
(`{"loss", "W0", "b0", "W1", ...}`), taken before the update.

The losses, over a batch of n:
- "margin": mean(relu(1 - y * score)) + alpha * sum of p**2 over all parameters (y in ±1);
- "xent": mean(logsumexp(logits) - logits[y]) (y integer class labels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import peers
from .harness import Builder

Params = list[tuple[np.ndarray, np.ndarray]]


def init_params(sizes: list[int], dtype: Any, seed: int, uniform: bool = False) -> Params:
    """Weights for layer sizes `sizes`: He-normal (or micrograd's U(-1, 1)), zero biases."""
    rng = np.random.default_rng(seed)
    out = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        if uniform:
            W = rng.uniform(-1.0, 1.0, (fan_in, fan_out))
        else:
            W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        b = rng.uniform(-0.1, 0.1, fan_out)
        out.append((W.astype(dtype), b.astype(dtype)))
    return out


def _names(n_layers: int) -> list[str]:
    return [f"{k}{i}" for i in range(n_layers) for k in ("W", "b")]


def _pack(loss: Any, grads: list[Any]) -> dict:
    out = {"loss": float(loss)}
    out.update(zip(_names(len(grads) // 2), (np.asarray(g) for g in grads)))
    return out


# --------------------------------------------------------------------------- numpy-hand


def numpy_hand(
    params: Params, X: np.ndarray, y: np.ndarray, kind: str, lr: float, alpha: float = 0.0
) -> Builder:
    """The step with a hand-written backward pass: the floor a NumPy engine can reach."""

    def build():
        Ws = [W.copy() for W, _ in params]
        bs = [b.copy() for _, b in params]
        n = X.shape[0]
        rows = np.arange(n)
        last = len(Ws) - 1

        def step():
            acts = [X]
            pre = []
            a = X
            for i, (W, b) in enumerate(zip(Ws, bs)):
                h = a @ W
                h += b
                if i < last:
                    pre.append(h)
                    a = np.maximum(h, 0)
                    acts.append(a)
            if kind == "margin":
                m = 1.0 - y * h[:, 0]
                loss = np.maximum(m, 0).sum() / n
                loss += alpha * sum((W * W).sum() + (b * b).sum() for W, b in zip(Ws, bs))
                dh = ((m > 0) * (-y / n))[:, None].astype(h.dtype)
            else:
                z = h - h.max(axis=1, keepdims=True)
                e = np.exp(z)
                se = e.sum(axis=1, keepdims=True)
                loss = (np.log(se[:, 0]) - z[rows, y]).mean()
                dh = e / se
                dh[rows, y] -= 1
                dh /= n
            grads: list = [None] * (2 * len(Ws))
            for i in range(last, -1, -1):
                gW = acts[i].T @ dh
                gb = dh.sum(axis=0)
                if alpha:
                    gW += 2 * alpha * Ws[i]
                    gb += 2 * alpha * bs[i]
                grads[2 * i], grads[2 * i + 1] = gW, gb
                if i > 0:
                    dh = dh @ Ws[i].T
                    dh *= pre[i - 1] > 0
            for p, g in zip([q for pair in zip(Ws, bs) for q in pair], grads):
                p -= lr * g
            return loss, grads

        return step, lambda out: _pack(out[0], out[1])

    return build


# --------------------------------------------------------------------------- autograd_mini


def autograd_mini(
    params: Params, X: np.ndarray, y: np.ndarray, kind: str, lr: float, alpha: float = 0.0
) -> Builder:
    """The step as a user writes it: F.linear layers (weights (out, in), as nn.Linear keeps
    them), F.relu, F.cross_entropy or the margin loss, optim.SGD."""

    def build():
        import autograd_mini as ag

        F = ag.nn.functional
        ps = []
        for W, b in params:
            ps += [ag.tensor(W.T.copy(), requires_grad=True), ag.tensor(b, requires_grad=True)]
        opt = ag.optim.SGD(ps, lr=lr)
        Xt = ag.tensor(X)
        yt = ag.tensor(y)
        last = len(params) - 1

        def step():
            a = Xt
            for i in range(len(params)):
                a = F.linear(a, ps[2 * i], ps[2 * i + 1])
                if i < last:
                    a = F.relu(a)
            if kind == "margin":
                loss = F.relu(1.0 - yt * a[:, 0]).mean()
                loss = loss + alpha * sum((p * p).sum() for p in ps)
            else:
                loss = F.cross_entropy(a, yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        def result(loss):
            grads = [p.grad.data.T if p.ndim == 2 else p.grad.data for p in ps]
            return _pack(loss.item(), grads)

        return step, result

    return build


# --------------------------------------------------------------------------- torch


def torch(
    params: Params, X: np.ndarray, y: np.ndarray, kind: str, lr: float, alpha: float = 0.0
) -> Builder:
    """The step with PyTorch tensors and F.cross_entropy."""

    def build():
        torch = peers.torch()
        F = torch.nn.functional
        ps = [torch.tensor(a, requires_grad=True) for pair in params for a in pair]
        Xt = torch.from_numpy(X)
        yt = torch.from_numpy(y)
        last = len(params) - 1

        def step():
            a = Xt
            for i in range(len(params)):
                a = a @ ps[2 * i] + ps[2 * i + 1]
                if i < last:
                    a = torch.relu(a)
            if kind == "margin":
                loss = torch.relu(1.0 - yt * a[:, 0]).mean()
                loss = loss + alpha * sum((p * p).sum() for p in ps)
            else:
                loss = F.cross_entropy(a, yt)
            for p in ps:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in ps:
                    p -= lr * p.grad
            return loss

        return step, lambda loss: _pack(loss.item(), [p.grad.numpy() for p in ps])

    return build


# --------------------------------------------------------------------------- jax


def _jax_loss(jnp: Any, lse: Any, n_layers: int, kind: str, alpha: float):
    def loss_fn(ps, X, y):
        a = X
        for i in range(n_layers):
            a = a @ ps[2 * i] + ps[2 * i + 1]
            if i < n_layers - 1:
                a = jnp.maximum(a, 0)
        if kind == "margin":
            loss = jnp.mean(jnp.maximum(1.0 - y * a[:, 0], 0))
            return loss + alpha * sum(jnp.sum(p * p) for p in ps)
        return jnp.mean(lse(a, axis=1) - a[jnp.arange(a.shape[0]), y])

    return loss_fn


def jax(
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    kind: str,
    lr: float,
    alpha: float = 0.0,
    jit: bool = False,
) -> Builder:
    """The step with jax.value_and_grad, eager or with the whole step under jax.jit."""

    def build():
        jax = peers.jax()
        jnp = jax.numpy
        from jax.scipy.special import logsumexp

        loss_fn = _jax_loss(jnp, logsumexp, len(params), kind, alpha)
        vg = jax.value_and_grad(loss_fn)

        def update(ps, X, y):
            loss, grads = vg(ps, X, y)
            return loss, grads, [p - lr * g for p, g in zip(ps, grads)]

        if jit:
            update = jax.jit(update)
        state = [[jnp.asarray(a) for pair in params for a in pair]]
        Xj, yj = jnp.asarray(X), jnp.asarray(y)

        def step():
            loss, grads, new = update(state[0], Xj, yj)
            state[0] = new
            jax.block_until_ready((loss, grads, new))  # the update is part of the step
            return loss, grads

        return step, lambda out: _pack(out[0], [np.asarray(g) for g in out[1]])

    return build


# --------------------------------------------------------------------------- HIPS autograd


def hips(
    params: Params, X: np.ndarray, y: np.ndarray, kind: str, lr: float, alpha: float = 0.0
) -> Builder:
    """The step with HIPS autograd's value_and_grad."""

    def build():
        import autograd.numpy as anp
        from autograd import value_and_grad
        from autograd.scipy.special import logsumexp

        loss_fn = _jax_loss(anp, logsumexp, len(params), kind, alpha)
        vg = value_and_grad(loss_fn)
        ps = [a.copy() for pair in params for a in pair]

        def step():
            loss, grads = vg(ps, X, y)
            for p, g in zip(ps, grads):
                p -= lr * g
            return loss, grads

        return step, lambda out: _pack(out[0], out[1])

    return build


# --------------------------------------------------------------------------- mygrad


def mygrad(
    params: Params, X: np.ndarray, y: np.ndarray, kind: str, lr: float, alpha: float = 0.0
) -> Builder:
    """The step with mygrad tensors and its softmax_crossentropy."""

    def build():
        import mygrad as mg
        from mygrad.nnet.activations import relu
        from mygrad.nnet.losses import softmax_crossentropy

        ps = [mg.tensor(a.copy()) for pair in params for a in pair]
        last = len(params) - 1

        def step():
            a = X
            for i in range(len(params)):
                a = mg.matmul(a, ps[2 * i]) + ps[2 * i + 1]
                if i < last:
                    a = relu(a)
            if kind == "margin":
                loss = mg.mean(relu(1.0 - y * a[:, 0]))
                loss = loss + alpha * sum(mg.sum(p * p) for p in ps)
            else:
                loss = softmax_crossentropy(a, y)
            loss.backward()
            grads = [p.grad for p in ps]
            for p, g in zip(ps, grads):
                p.data -= lr * g  # the graph is cleared by backward, so the data is writable
            return loss.item(), grads

        return step, lambda out: _pack(out[0], out[1])

    return build


def all_peers(
    params: Params, X: np.ndarray, y: np.ndarray, kind: str, lr: float, alpha: float = 0.0
) -> dict[str, Builder]:
    """Builders for every tensor peer (autograd_mini included)."""
    args = (params, X, y, kind, lr, alpha)
    return {
        "autograd_mini": autograd_mini(*args),
        "numpy-hand": numpy_hand(*args),
        "torch": torch(*args),
        "jax": jax(*args),
        "jax-jit": jax(*args, jit=True),
        "hips": hips(*args),
        "mygrad": mygrad(*args),
    }
