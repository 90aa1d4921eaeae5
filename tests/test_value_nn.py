"""micrograd's demo, run on autograd_mini with only the imports changed."""

from __future__ import annotations

import random

import numpy as np

import autograd_mini as ag
from autograd_mini.value import Value
from autograd_mini.value_nn import MLP, Layer, Neuron


def test_shapes_names_and_parameter_counts_match_micrograd():
    random.seed(0)
    model = MLP(2, [16, 16, 1])
    assert len(model.parameters()) == (2 * 16 + 16) + (16 * 16 + 16) + (16 + 1) == 337
    assert str(Neuron(3, nonlin=False)) == "LinearNeuron(3)"
    assert isinstance(Layer(2, 3)([1.0, 2.0]), list) and isinstance(model([1.0, 2.0]), Value)
    w = model.layers[0].neurons[0].w
    assert all(-1 <= p.data <= 1 for p in w) and model.layers[0].neurons[0].b.data == 0


def test_neuron_computes_relu_of_affine_and_its_gradient():
    n = Neuron(2)
    n.w[0].data, n.w[1].data, n.b.data = 2.0, -1.0, 0.5
    out = n([3.0, 1.0])  # relu(2·3 - 1·1 + 0.5) = 5.5
    out.backward()
    assert out.data == 5.5
    assert (n.w[0].grad, n.w[1].grad, n.b.grad) == (3.0, 1.0, 1.0)
    n.zero_grad()
    assert all(p.grad == 0.0 for p in n.parameters())


def test_micrograd_demo_training_lowers_the_loss_and_fits_the_moons():
    random.seed(1337)
    X, y = ag.data.make_moons(60, noise=0.1, seed=0)
    y = y * 2 - 1  # labels -1 / +1, as the demo uses
    model = MLP(2, [16, 16, 1])

    def loss():
        scores = [model(list(map(Value, xrow))) for xrow in X.tolist()]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y.tolist(), scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        acc = np.mean([(yi > 0) == (si.data > 0) for yi, si in zip(y.tolist(), scores)])
        return data_loss + reg_loss, acc

    first, _ = loss()
    for k in range(30):
        total, acc = loss()
        model.zero_grad()
        total.backward()
        lr = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= lr * p.grad
    last, acc = loss()
    assert last.data < 0.5 * first.data
    assert acc >= 0.85
