"""W1: one step of micrograd's demo — a scalar-autodiff MLP on the two moons.

MLP(2, [16, 16, 1]) with ReLU, 100 points of `ag.data.make_moons(noise=0.1)`, labels ±1,
loss = mean(relu(1 - y·score)) + 1e-4 · Σ p², then zero_grad, backward, SGD update — exactly
the loop of micrograd's demo notebook (inputs wrapped in Values every step, as it does).

The scalar rows (autograd_mini's `ag.Value`, micrograd's `Value`) run the same micrograd-style
model code below, so only the engine differs. The tensor peers run the same step vectorised
(`mlp.py`): not the workload being compared, but the price of staying scalar.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import mlp
from .harness import Builder, Case

ALPHA = 1e-4
LR = 0.05


class ScalarMLP:
    """micrograd's nn.MLP for any Value class: neurons of weights `w`, bias `b`."""

    def __init__(self, value_cls: type, params: mlp.Params) -> None:
        self.layers = []
        for W, b in params:  # W is (in, out): neuron j has weights W[:, j]
            neurons = [
                ([value_cls(float(w)) for w in W[:, j]], value_cls(float(b[j])))
                for j in range(W.shape[1])
            ]
            self.layers.append(neurons)
        self.n_layers = len(params)

    def __call__(self, x: list) -> Any:
        last = self.n_layers - 1
        for i, layer in enumerate(self.layers):
            out = []
            for w, b in layer:
                act = sum((wi * xi for wi, xi in zip(w, x)), b)
                out.append(act.relu() if i < last else act)
            x = out
        return x[0]

    def parameters(self) -> list:
        """Every weight and bias Value, neuron by neuron."""
        return [p for layer in self.layers for w, b in layer for p in (*w, b)]

    def grads(self) -> list[np.ndarray]:
        """Gradients laid out as mlp.Params: [gW0, gb0, gW1, ...] with W shaped (in, out)."""
        out = []
        for layer in self.layers:
            gW = np.array([[wi.grad for wi in w] for w, _ in layer]).T
            gb = np.array([b.grad for _, b in layer])
            out += [gW, gb]
        return out


def scalar_peer(module: str, params: mlp.Params, X: np.ndarray, y: np.ndarray) -> Builder:
    """micrograd's demo step on `module`.Value (autograd_mini or micrograd)."""

    def build():
        if module == "autograd_mini":
            from autograd_mini import Value
        else:
            from micrograd.engine import Value
        model = ScalarMLP(Value, params)
        ps = model.parameters()
        rows = X.tolist()  # Python floats, as the demo's inputs are after Value(...)
        labels = y.tolist()

        def step():
            inputs = [list(map(Value, xrow)) for xrow in rows]
            scores = list(map(model, inputs))
            losses = [(1 + -yi * si).relu() for yi, si in zip(labels, scores)]
            data_loss = sum(losses) * (1.0 / len(losses))
            reg_loss = ALPHA * sum(p * p for p in ps)
            total = data_loss + reg_loss
            for p in ps:
                p.grad = 0.0
            total.backward()
            for p in ps:
                p.data -= LR * p.grad
            return total

        return step, lambda total: mlp._pack(total.data, model.grads())

    return build


def cases(tiny: bool = False) -> list[Case]:
    """The W1 case (tiny: a 2-4-4-1 net on 8 points)."""
    from autograd_mini.data import make_moons

    n, hidden = (8, [4, 4]) if tiny else (100, [16, 16])
    X, y01 = make_moons(n, noise=0.1, seed=1)
    y = (2.0 * y01 - 1.0).astype(np.float64)
    params = mlp.init_params([2, *hidden, 1], np.float64, seed=1, uniform=True)
    peers = {
        "autograd_mini": scalar_peer("autograd_mini", params, X, y),
        "micrograd": scalar_peer("micrograd", params, X, y),
    }
    for name, builder in mlp.all_peers(params, X, y, "margin", LR, ALPHA).items():
        if name != "autograd_mini":
            peers[name] = builder
    size = "-".join(map(str, [2, *hidden, 1]))
    return [
        Case(
            workload="W1",
            label="W1",
            title=f"micrograd demo step, MLP {size} ReLU, {n} moons, max-margin + L2, "
            "ag.Value (tensor peers: same step vectorised)",
            reference="micrograd",
            peers=peers,
            targets={"time": 0.10},
            rtol=1e-9,
            atol=1e-12,
            tolerances={},
        )
    ]
