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


# ---- found by mutation testing


def test_module_base_has_no_parameters_and_layers_keep_their_order():
    from autograd_mini.value_nn import Module

    assert Module().parameters() == []
    Module().zero_grad()  # nothing to do, and no error
    n = Neuron(3)
    assert n.parameters()[:3] == n.w and n.parameters()[-1] is n.b
    layer = Layer(2, 3)
    assert layer.parameters() == [p for m in layer.neurons for p in m.parameters()]
    model = MLP(2, [3, 1])
    assert model.parameters() == model.layers[0].parameters() + model.layers[1].parameters()


def test_weights_cover_both_signs_of_the_interval():
    random.seed(0)
    w = [p.data for p in MLP(2, [16, 16, 1]).parameters() if p.data != 0]
    assert min(w) < -0.9 and max(w) > 0.9


def test_linear_neuron_passes_negative_values_and_relu_clips_them():
    relu, linear = Neuron(2), Neuron(2, nonlin=False)
    for n in (relu, linear):
        n.w[0].data, n.w[1].data, n.b.data = 1.0, -2.0, 0.25
    assert linear([1.0, 1.0]).data == -0.75
    assert relu([1.0, 1.0]).data == 0.0
    assert repr(relu) == "ReLUNeuron(2)" and repr(linear) == "LinearNeuron(2)"


def test_only_the_last_layer_is_linear_and_sizes_chain():
    model = MLP(3, [4, 5, 2])
    assert [layer.neurons[0].nonlin for layer in model.layers] == [True, True, False]
    assert [(len(layer.neurons), len(layer.neurons[0].w)) for layer in model.layers] == [
        (4, 3),
        (5, 4),
        (2, 5),
    ]
    out = model([1.0, -1.0, 0.5])
    assert isinstance(out, list) and len(out) == 2 and all(isinstance(v, Value) for v in out)
    pair = Layer(2, 2)([1.0, 2.0])
    assert isinstance(pair, list) and len(pair) == 2


def test_an_mlp_can_output_a_negative_score():
    random.seed(0)
    model = MLP(1, [1])
    neuron = model.layers[0].neurons[0]
    neuron.w[0].data, neuron.b.data = -3.0, 1.0
    out = model([2.0])
    assert isinstance(out, Value) and out.data == -5.0


def test_reprs_match_micrograd():
    model = MLP(2, [2, 1])
    assert repr(model) == (
        "MLP of [Layer of [ReLUNeuron(2), ReLUNeuron(2)], Layer of [LinearNeuron(2)]]"
    )
