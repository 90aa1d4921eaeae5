"""Tests for ``autograd_mini.nn``: modules, parameter discovery, state dicts, layers and init.

The tests at the end compare with ``torch.nn`` (same state-dict keys and shapes, loading in both
directions, same outputs) and are skipped when torch is not installed.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import nn
from autograd_mini.nn import functional as F
from autograd_mini.nn import init
from autograd_mini.tensor import Tensor


class Net(nn.Module):
    """A module with every kind of attribute the discovery must (and must not) pick up."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(np.ones(3))
        self.fc = nn.Linear(4, 3)
        self.blocks = [nn.Linear(3, 3), nn.Tanh(), nn.Linear(3, 2)]
        self.heads = {"a": nn.Linear(2, 1), "b": nn.Linear(2, 1, bias=False)}
        self.pair = (nn.Parameter(np.zeros(2)), nn.ReLU())
        self.plain = ag.tensor(np.ones(2), requires_grad=True)  # not a Parameter: not registered
        self.numbers = [1, 2, 3]
        self.name = "net"

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc(x) * self.scale
        for b in self.blocks:
            h = b(h)
        return self.heads["a"](h) + self.heads["b"](h)


NET_KEYS = [
    "scale",
    "pair.0",
    "fc.weight",
    "fc.bias",
    "blocks.0.weight",
    "blocks.0.bias",
    "blocks.2.weight",
    "blocks.2.bias",
    "heads.a.weight",
    "heads.a.bias",
    "heads.b.weight",
]


# --------------------------------------------------------------------------- discovery


def test_parameters_found_in_attributes_lists_tuples_and_dicts() -> None:
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == NET_KEYS
    assert list(net.state_dict()) == NET_KEYS
    params = list(net.parameters())
    assert params[0] is net.scale and params[2] is net.fc.weight
    assert params[-1] is net.heads["b"].weight
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert not any(p is net.plain for p in params)
    assert sum(p.size for p in params) == 3 + 2 + 15 + 12 + 8 + 3 + 2


def test_modules_and_children() -> None:
    net = Net()
    kids = [n for n, _ in net.named_children()]
    assert kids == ["fc", "blocks.0", "blocks.1", "blocks.2", "heads.a", "heads.b", "pair.1"]
    assert [n for n, _ in net.named_modules()] == [""] + kids
    assert next(iter(net.modules())) is net
    assert list(net.children())[0] is net.fc
    seq = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1", "1.0", "1.1"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.1.weight", "1.1.bias"]


def test_shared_parameters_listed_once_but_state_dict_keeps_both_keys() -> None:
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(seq.modules())) == 3  # seq, lin, relu


def test_lists_of_modules_track_later_changes() -> None:
    net = nn.Module()
    net.layers = [nn.Linear(1, 1)]
    net.layers.append(nn.Linear(1, 2))
    assert list(net.state_dict()) == ["layers.0.weight", "layers.0.bias"] + [
        "layers.1.weight",
        "layers.1.bias",
    ]
    del net.layers
    assert list(net.parameters()) == []


def test_module_without_super_init_still_works() -> None:
    class Bare(nn.Module):
        def __init__(self) -> None:  # forgets super().__init__(), which torch would reject
            self.lin = nn.Linear(2, 1)

        def forward(self, x: Tensor) -> Tensor:
            return self.lin(x)

    m = Bare()
    assert m.training is True
    assert [n for n, _ in m.named_parameters()] == ["lin.weight", "lin.bias"]
    assert m(ag.ones(3, 2)).shape == (3, 1)


def test_call_without_forward_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="forward"):
        nn.Module()(1)


def test_containers() -> None:
    ml = nn.ModuleList([nn.Linear(1, 2)])
    ml.append(nn.ReLU()).extend([nn.Linear(2, 3)])
    ml.insert(0, nn.Tanh())
    assert len(ml) == 4 and isinstance(ml[0], nn.Tanh) and isinstance(ml[-1], nn.Linear)
    assert list(ml.state_dict()) == ["1.weight", "1.bias", "3.weight", "3.bias"]
    del ml[0]
    assert list(ml.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [type(m).__name__ for m in ml[1:]] == ["ReLU", "Linear"]
    with pytest.raises(TypeError, match="not a Module"):
        ml.append(lambda x: x)

    md = nn.ModuleDict({"enc": nn.Linear(2, 2)})
    md["dec"] = nn.Linear(2, 1)
    assert list(md) == ["enc", "dec"] and "dec" in md and len(md) == 2
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    with pytest.raises(TypeError):
        md[3] = nn.ReLU()

    named = nn.Sequential(OrderedDict([("hidden", nn.Linear(3, 4)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["hidden.weight", "hidden.bias"]
    assert named(ag.ones(2, 3)).shape == (2, 4)
    with pytest.raises(TypeError, match="not a Module"):
        nn.Sequential(nn.ReLU(), 3)


def test_sequential_applies_layers_in_order() -> None:
    ag.manual_seed(0)
    a, b = nn.Linear(3, 4), nn.Linear(4, 2)
    seq = nn.Sequential(a, nn.ReLU(), b)
    x = ag.randn(5, 3)
    expected = np.maximum(x.data @ a.weight.data.T + a.bias.data, 0) @ b.weight.data.T + b.bias.data
    np.testing.assert_allclose(seq(x).data, expected, rtol=1e-13)
    assert isinstance(seq[0:2], nn.Sequential) and len(seq[0:2]) == 2


def test_repr_like_torch() -> None:
    m = nn.MLP([4, 8, 2], activation="tanh")
    assert repr(m) == (
        "MLP(\n"
        "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
        "  (1): Tanh()\n"
        "  (2): Linear(in_features=8, out_features=2, bias=True)\n"
        ")"
    )
    assert repr(nn.Dropout(0.25)) == "Dropout(p=0.25)"


# --------------------------------------------------------------------------- Parameter


def test_parameter_is_a_leaf_tensor_that_requires_grad() -> None:
    arr = np.arange(3.0)
    p = nn.Parameter(arr)
    assert isinstance(p, Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p.data, arr)  # like torch.nn.Parameter(tensor)
    t = ag.tensor([1.0, 2.0])
    assert np.shares_memory(nn.Parameter(t).data, t.data)
    assert nn.Parameter([1.0, 2.0]).dtype == ag.get_default_dtype()
    assert nn.Parameter().shape == (0,)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.data, 2 * arr)
    # operations on a Parameter give plain Tensors; detach gives a plain Tensor
    assert type(p * 2) is Tensor and type(p.detach()) is Tensor


def test_parameter_rejects_integer_data_unless_frozen() -> None:
    with pytest.raises(TypeError, match="Parameter: only floating point"):
        nn.Parameter(np.arange(3))
    frozen = nn.Parameter(np.arange(3), requires_grad=False)
    assert not frozen.requires_grad and frozen.dtype == np.int64


# --------------------------------------------------------------------------- state dicts


def test_state_dict_is_detached_and_shares_memory() -> None:
    m = nn.Linear(3, 2)
    sd = m.state_dict()
    assert list(sd) == ["weight", "bias"] and isinstance(sd, OrderedDict)
    assert not sd["weight"].requires_grad and type(sd["weight"]) is Tensor
    assert np.shares_memory(sd["weight"].data, m.weight.data)
    assert m.state_dict(keep_vars=True)["weight"] is m.weight


def test_state_dict_round_trip_through_save_and_load(tmp_path) -> None:  # noqa: ANN001
    ag.manual_seed(1)
    a = nn.MLP([5, 7, 3])
    ag.manual_seed(2)
    b = nn.MLP([5, 7, 3])
    x = ag.randn(4, 5)
    assert not np.allclose(a(x).data, b(x).data)
    path = tmp_path / "model.npz"
    ag.save(a.state_dict(), path)
    params_before = list(b.parameters())
    result = b.load_state_dict(ag.load(path))
    assert result == nn.IncompatibleKeys([], [])
    np.testing.assert_array_equal(a(x).data, b(x).data)
    # loaded in place: the Parameter objects (which an optimizer holds) are the same
    assert all(p is q for p, q in zip(params_before, b.parameters()))


def test_load_state_dict_accepts_numpy_arrays_and_casts_dtype() -> None:
    m = nn.Linear(2, 2)
    w = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    m.load_state_dict({"weight": w, "bias": [0.5, -0.5]})
    assert m.weight.dtype == np.float64
    np.testing.assert_array_equal(m.weight.data, w)
    np.testing.assert_array_equal(m.bias.data, [0.5, -0.5])
    assert not np.shares_memory(m.weight.data, w)  # copied, not aliased


def test_load_state_dict_errors_name_the_keys_and_shapes() -> None:
    m = nn.MLP([3, 4, 2])
    good = {k: v.data.copy() for k, v in m.state_dict().items()}
    before = {k: v.copy() for k, v in good.items()}

    missing = dict(good)
    del missing["2.bias"]
    with pytest.raises(nn.StateDictError, match=r"missing key\(s\).*'2\.bias'"):
        m.load_state_dict(missing)

    extra = dict(good, **{"4.weight": np.zeros((1, 2))})
    with pytest.raises(ValueError, match=r"unexpected key\(s\).*'4\.weight'"):
        m.load_state_dict(extra)
    with pytest.raises(RuntimeError):  # the same error is a RuntimeError too, as in torch
        m.load_state_dict(extra)

    wrong = dict(good)
    wrong["0.weight"] = np.zeros((3, 4))
    wrong["2.bias"] = np.ones(2) * 7
    with pytest.raises(
        nn.StateDictError, match=r"size mismatch for '0\.weight'.*\(3, 4\).*\(4, 3\)"
    ):
        m.load_state_dict(wrong)
    # a failed load copies nothing, not even the entries that were fine
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k])

    # strict=False reports instead of raising, and loads what matches
    changed = {"0.weight": np.full((4, 3), 2.0), "extra": np.zeros(1)}
    res = m.load_state_dict(changed, strict=False)
    assert res.missing_keys == ["0.bias", "2.weight", "2.bias"]
    assert res.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(m[0].weight.data, 2.0)
    with pytest.raises(nn.StateDictError, match="size mismatch"):
        m.load_state_dict({"0.weight": np.zeros(3)}, strict=False)


def test_load_state_dict_type_errors() -> None:
    m = nn.Linear(1, 1)
    with pytest.raises(TypeError, match="mapping"):
        m.load_state_dict([("weight", np.zeros((1, 1)))])
    with pytest.raises(TypeError, match="'weight'.*dtype"):
        m.load_state_dict({"weight": np.array([["a"]]), "bias": np.zeros(1)})


# --------------------------------------------------------------------------- modes, grads


def test_train_eval_recursive_and_zero_grad() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5)))
    assert all(sub.training for sub in m.modules())
    assert m.eval() is m
    assert not any(sub.training for sub in m.modules())
    m.train()
    assert all(sub.training for sub in m.modules())
    with pytest.raises(TypeError):
        m.train("no")

    m.eval()
    m(ag.ones(3, 2)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.data == 0) for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_requires_grad_and_dtype_conversion() -> None:
    m = nn.Linear(3, 2)
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.requires_grad_()
    w = m.weight
    m.float()
    assert m.weight is w and w.dtype == np.float32 and m.bias.dtype == np.float32
    assert m(ag.ones(1, 3, dtype=np.float32)).dtype == np.float32
    m.double()
    assert w.dtype == np.float64
    with pytest.raises(TypeError):
        m.to(np.int32)
    seen = []
    nn.MLP([2, 3, 1]).apply(lambda mod: seen.append(type(mod).__name__))
    assert seen == ["Linear", "ReLU", "Linear", "MLP"]


def test_deepcopy_gives_independent_parameters() -> None:
    m = nn.MLP([2, 3, 1])
    c = copy.deepcopy(m)
    assert list(c.state_dict()) == list(m.state_dict())
    c[0].weight.data[...] = 0
    assert not np.all(m[0].weight.data == 0)


# --------------------------------------------------------------------------- Linear and init


def test_linear_forward_and_gradients() -> None:
    ag.manual_seed(3)
    lin = nn.Linear(4, 3)
    assert lin.weight.shape == (3, 4) and lin.bias.shape == (3,)
    x = ag.randn(5, 4, requires_grad=True)
    y = lin(x)
    np.testing.assert_allclose(y.data, x.data @ lin.weight.data.T + lin.bias.data, rtol=1e-14)
    g = np.random.default_rng(0).standard_normal((5, 3))
    y.backward(g)
    np.testing.assert_allclose(lin.weight.grad.data, g.T @ x.data, rtol=1e-13)
    np.testing.assert_allclose(lin.bias.grad.data, g.sum(0), rtol=1e-13)
    np.testing.assert_allclose(x.grad.data, g @ lin.weight.data, rtol=1e-13)
    # any leading batch shape, and a single sample
    assert lin(ag.ones(2, 6, 4)).shape == (2, 6, 3)
    assert lin(ag.ones(4)).shape == (3,)
    nobias = nn.Linear(4, 3, bias=False)
    assert nobias.bias is None and list(nobias.state_dict()) == ["weight"]
    np.testing.assert_allclose(nobias(x).data, x.data @ nobias.weight.data.T)


def test_gradients_of_products_follow_their_inputs_memory_layout() -> None:
    # A weight passed transposed (the (in, out) array of x @ W, seen as (out, in)) gets a
    # gradient laid out like it, as PyTorch's do, so the optimizer's update does not mix
    # layouts; the values are those of the C-ordered computation.
    rng = np.random.default_rng(5)
    x0, g = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    w_in_out = rng.standard_normal((4, 3))
    for make in (lambda a: a, np.asfortranarray):
        w = ag.tensor(make(w_in_out.T.copy()), requires_grad=True)  # (out, in)
        x = ag.tensor(make(x0.copy()), requires_grad=True)
        F.linear(x, w, ag.zeros(3, requires_grad=True)).backward(g)
        np.testing.assert_allclose(w.grad.data, g.T @ x0, rtol=1e-13)
        np.testing.assert_allclose(x.grad.data, g @ w_in_out.T, rtol=1e-13)
        assert w.grad.data.flags.f_contiguous == w.data.flags.f_contiguous
        assert x.grad.data.flags.f_contiguous == x.data.flags.f_contiguous
        assert w.grad.data.base is None and x.grad.data.base is None  # arrays of their own

        v = ag.tensor(make(w_in_out.copy()), requires_grad=True)  # x @ V, V (in, out)
        x.grad = None
        (x @ v).backward(g)
        np.testing.assert_allclose(v.grad.data, x0.T @ g, rtol=1e-13)
        np.testing.assert_allclose(x.grad.data, g @ w_in_out.T, rtol=1e-13)
        assert v.grad.data.flags.f_contiguous == v.data.flags.f_contiguous
        assert x.grad.data.flags.f_contiguous == x.data.flags.f_contiguous


def test_linear_bad_input_and_arguments() -> None:
    lin = nn.Linear(4, 3)
    with pytest.raises(ValueError, match=r"Linear\(in_features=4.*shape \(5, 3\)"):
        lin(ag.ones(5, 3))
    with pytest.raises(TypeError):
        nn.Linear(2.5, 3)
    with pytest.raises(ValueError):
        nn.Linear(-1, 3)
    with pytest.raises(TypeError):
        nn.Linear(2, 3, dtype=np.int64)


def test_container_and_mlp_argument_errors_say_what_is_wrong() -> None:
    with pytest.raises(TypeError, match=r"nn.ReLU, not nn.ReLU\(\)"):
        nn.MLP([3, 2, 1], activation=nn.ReLU())
    with pytest.raises(IndexError, match="Sequential: index 5 is out of range for 1 modules"):
        nn.Sequential(nn.ReLU())[5]


def test_linear_init_statistics() -> None:
    ag.manual_seed(0)
    fan_in, fan_out = 400, 300
    lin = nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform_(a=√5) gives exactly torch's bound
    w, b = lin.weight.data, lin.bias.data
    assert np.all(np.abs(w) <= bound) and np.all(np.abs(b) <= bound)
    assert np.abs(w).max() > 0.999 * bound  # the whole interval is used
    # U(-B, B): mean 0, variance B²/3; 120000 samples give these within a few standard errors
    n = w.size
    assert abs(w.mean()) < 4 * bound / math.sqrt(3 * n)
    assert abs(w.var() / (bound**2 / 3) - 1) < 0.02
    assert abs(b.mean()) < 4 * bound / math.sqrt(3 * fan_out)
    # roughly uniform: each tenth of the interval holds about a tenth of the samples
    hist, _ = np.histogram(w, bins=10, range=(-bound, bound))
    assert np.all(np.abs(hist / n - 0.1) < 0.01)


def test_init_is_reproducible_with_manual_seed() -> None:
    ag.manual_seed(42)
    a = nn.MLP([6, 5, 2])
    ag.manual_seed(42)
    b = nn.MLP([6, 5, 2])
    ag.manual_seed(43)
    c = nn.MLP([6, 5, 2])
    for (ka, pa), (_, pb), (_, pc) in zip(
        a.named_parameters(), b.named_parameters(), c.named_parameters()
    ):
        np.testing.assert_array_equal(pa.data, pb.data, err_msg=ka)
        assert not np.array_equal(pa.data, pc.data)


def test_parameter_dtype_follows_default_dtype_and_dtype_argument() -> None:
    assert nn.Linear(2, 2).weight.dtype == np.float64
    ag.manual_seed(5)
    ref = nn.Linear(3, 2)
    old = ag.get_default_dtype()
    try:
        ag.set_default_dtype(np.float32)
        ag.manual_seed(5)
        m32 = nn.Linear(3, 2)
        assert m32.weight.dtype == np.float32 and m32.bias.dtype == np.float32
        assert nn.MLP([2, 2]).state_dict()["0.weight"].dtype == np.float32
    finally:
        ag.set_default_dtype(old)
    # the same draws, rounded: a float32 model starts where the float64 one does
    np.testing.assert_array_equal(m32.weight.data, ref.weight.data.astype(np.float32))
    ag.manual_seed(5)
    explicit = nn.Linear(3, 2, dtype="float32")
    assert explicit.weight.dtype == np.float32
    np.testing.assert_array_equal(explicit.weight.data, m32.weight.data)


def test_init_functions() -> None:
    ag.manual_seed(0)
    t = nn.Parameter(np.empty((200, 100)))
    init.xavier_uniform_(t)
    b = math.sqrt(6 / 300)
    assert np.abs(t.data).max() <= b and np.abs(t.data).max() > 0.99 * b
    init.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.data.std() / math.sqrt(2 / 100) - 1) < 0.03
    init.constant_(t, 0.25)
    assert np.all(t.data == 0.25)
    init.zeros_(t)
    assert np.all(t.data == 0)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2 / 6)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(nn.Parameter(np.zeros(3)))
    with pytest.raises(ValueError):
        init.calculate_gain("swish")
    v0 = t._version[0]
    init.uniform_(t, -1, 1)
    assert t._version[0] == v0 + 1  # an in-place change that pending backwards will notice


# --------------------------------------------------------------------------- activations, dropout


def test_activation_modules() -> None:
    x = ag.tensor([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(nn.ReLU()(x).data, [0.0, 0.0, 3.0])
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x.data), rtol=1e-15)
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x.data)), rtol=1e-15)
    assert nn.Identity()(x) is x


def test_dropout_train_vs_eval() -> None:
    p = 0.3
    drop = nn.Dropout(p)
    x = ag.tensor(np.random.default_rng(0).uniform(1, 2, size=(200, 500)), requires_grad=True)
    ag.manual_seed(0)
    y = drop(x)
    zero = y.data == 0
    # each element dropped independently with probability p: 100000 draws
    assert abs(zero.mean() - p) < 4 * math.sqrt(p * (1 - p) / x.size)
    np.testing.assert_allclose(y.data[~zero], x.data[~zero] / (1 - p), rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.where(zero, 0.0, 1 / (1 - p)), rtol=1e-15)
    # seeded: the same mask again
    ag.manual_seed(0)
    np.testing.assert_array_equal(drop(x).data, y.data)

    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x.data)
    # inside a model, eval() reaches it
    model = nn.Sequential(nn.Linear(500, 500), nn.Dropout(0.9))
    model.eval()
    np.testing.assert_array_equal(model(x).data, model[0](x).data)
    model.train()
    assert np.mean(model(x).data == 0) > 0.8


def test_dropout_edge_probabilities() -> None:
    x = ag.ones(4, 4)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).data, 0.0)
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(bad)
    with pytest.raises(ValueError):
        F.dropout(x, p=2.0)


# --------------------------------------------------------------------------- MLP


def test_mlp_structure_and_arguments() -> None:
    m = nn.MLP([64, 128, 64, 10])
    assert [type(x).__name__ for x in m] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert list(m.state_dict()) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    ]
    assert m.state_dict()["2.weight"].shape == (64, 128)
    assert m(ag.ones(7, 64)).shape == (7, 10)
    assert len(nn.MLP([3, 1])) == 1  # no activation after the last layer
    assert isinstance(nn.MLP([3, 4, 1], activation="sigmoid")[1], nn.Sigmoid)
    assert isinstance(nn.MLP([3, 4, 1], activation=nn.Tanh)[1], nn.Tanh)
    with pytest.raises(ValueError, match="activation"):
        nn.MLP([3, 4, 1], activation="gelu")
    with pytest.raises(ValueError, match="at least"):
        nn.MLP([3])
    with pytest.raises(TypeError):
        nn.MLP("64,10")
    with pytest.raises(TypeError):
        nn.MLP([3, 2.5, 1])


def test_mlp_learns_xor() -> None:
    ag.manual_seed(0)
    X = np.array([[0.0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([0, 1, 1, 0])
    model = nn.MLP([2, 16, 2], activation="tanh")
    opt = ag.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        loss = F.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    np.testing.assert_array_equal(model(X).data.argmax(1), y)


# --------------------------------------------------------------------------- vs torch.nn


def _torch_mlp(torch, sizes: list[int]):  # noqa: ANN001, ANN202
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(a, b, dtype=torch.float64))
    return torch.nn.Sequential(*layers)


def test_state_dict_moves_to_torch_and_back() -> None:
    torch = pytest.importorskip("torch")
    sizes = [6, 5, 4, 3]
    ag.manual_seed(0)
    ours = nn.MLP(sizes)
    theirs = _torch_mlp(torch, sizes)
    # same keys and shapes
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    # ours -> torch, unchanged (as NumPy-backed tensors)
    theirs.load_state_dict(
        {k: torch.from_numpy(v.data.copy()) for k, v in ours.state_dict().items()}
    )
    x = np.random.default_rng(0).standard_normal((8, 6))
    np.testing.assert_allclose(
        theirs(torch.from_numpy(x)).detach().numpy(), ours(x).data, rtol=1e-12, atol=1e-15
    )
    # torch -> ours: a torch state dict loads directly
    torch.manual_seed(0)
    fresh = _torch_mlp(torch, sizes)
    ours.load_state_dict(fresh.state_dict())
    np.testing.assert_allclose(
        ours(x).data, fresh(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-15
    )


def test_repr_and_gradients_match_torch() -> None:
    torch = pytest.importorskip("torch")
    ours = nn.MLP([4, 3, 2])
    theirs = _torch_mlp(torch, [4, 3, 2])
    assert repr(ours).replace("MLP(", "Sequential(", 1) == repr(theirs)
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 4))
    t = rng.integers(0, 2, 6)
    F.cross_entropy(ours(x), t).backward()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(t)).backward()
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.data, grads[name].grad.numpy(), rtol=1e-10, atol=1e-15)


def test_linear_init_distribution_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.Linear(300, 200, dtype=torch.float64)
    ag.manual_seed(0)
    ours = nn.Linear(300, 200)
    tw, tb = theirs.weight.detach().numpy(), theirs.bias.detach().numpy()
    # same support and the same (uniform) spread
    assert np.abs(ours.weight.data).max() <= np.abs(tw).max() * 1.001 + 1e-12
    assert abs(np.abs(tw).max() - np.abs(ours.weight.data).max()) < 1e-3
    assert abs(ours.weight.data.std() / tw.std() - 1) < 0.02
    assert abs(np.abs(ours.bias.data).max() - np.abs(tb).max()) < 5e-3


# ------------------------------------------------------------------- mutation-audit additions


def test_parameter_shared_between_layers_is_listed_once() -> None:
    # Tied weights (one Parameter in two layers): parameters() lists it once, as torch does,
    # so an optimizer does not update it twice; the state dict keeps both keys.
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.bias"]
    assert len(list(model.parameters())) == 3
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_zero_grad_in_place_keeps_the_parameter_dtype() -> None:
    m = nn.Linear(2, 3, dtype=np.float32)
    m(ag.ones((1, 2), dtype=np.float32)).sum().backward()
    held = [p.grad for p in m.parameters()]
    m.zero_grad(set_to_none=False)
    for p, g in zip(m.parameters(), held):
        assert p.grad.dtype == np.float32
        np.testing.assert_array_equal(p.grad.data, np.zeros(p.shape))
        # In place, as torch and Optimizer.zero_grad: a held reference sees the zeros.
        assert p.grad is g


def test_to_dtype_converts_existing_gradients() -> None:
    # torch's Module.to(dtype) converts .grad together with the parameter.
    m = nn.Linear(3, 2)
    m(ag.ones((1, 3))).sum().backward()
    m.to(np.float32)
    assert m.weight.grad.dtype == np.float32 and m.bias.grad.dtype == np.float32


def test_load_state_dict_copies_in_place_so_aliases_see_the_new_values() -> None:
    # As torch's param.copy_(): earlier state_dict() tensors share the parameters' memory and
    # see the loaded values.
    m = nn.Linear(2, 2)
    before = m.state_dict()
    new_w = np.arange(4.0).reshape(2, 2)
    m.load_state_dict({"weight": new_w, "bias": np.zeros(2)})
    np.testing.assert_array_equal(before["weight"].data, new_w)
    np.testing.assert_array_equal(before["bias"].data, np.zeros(2))


def test_slice_of_named_sequential_keeps_the_names() -> None:
    s = nn.Sequential(OrderedDict(a=nn.Linear(2, 3), act=nn.ReLU(), out=nn.Linear(3, 1)))
    assert list(s[1:].state_dict()) == ["out.weight", "out.bias"]
    assert list(s[:1].state_dict()) == ["a.weight", "a.bias"]


def test_linear_with_zero_or_one_input_feature() -> None:
    # torch allows in_features=0 (the output is the bias, which starts at 0: bound 0), and
    # with in_features=1 both bounds are 1/sqrt(1) = 1.
    ag.manual_seed(0)
    empty = nn.Linear(0, 3)
    assert empty.weight.shape == (3, 0)
    np.testing.assert_array_equal(empty(ag.zeros((2, 0))).data, np.zeros((2, 3)))
    one = nn.Linear(1, 2000)
    for p in (one.weight, one.bias):
        assert np.abs(p.data).max() <= 1.0
        assert np.abs(p.data).max() > 0.99
        assert abs(p.data.std() - 1 / math.sqrt(3)) < 0.03


def test_calculate_gain_table() -> None:
    # torch.nn.init.calculate_gain's values
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5.0 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2.0))
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2.0 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2.0 / 1.04))


def test_kaiming_fan_out_and_xavier_normal_scales() -> None:
    ag.manual_seed(0)
    w = nn.Parameter(np.empty((10, 4000)))  # fan_in 4000, fan_out 10
    init.kaiming_uniform_(w, mode="fan_out", nonlinearity="relu")
    bound = math.sqrt(2.0) * math.sqrt(3.0 / 10)
    assert bound * 0.99 < np.abs(w.data).max() <= bound
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.data.std() / (math.sqrt(2.0) / math.sqrt(10)) - 1) < 0.03
    w2 = nn.Parameter(np.empty((200, 300)))
    init.xavier_normal_(w2, gain=2.0)
    assert abs(w2.data.std() / (2.0 * math.sqrt(2.0 / 500)) - 1) < 0.03


def test_uniform_with_equal_bounds_is_a_constant() -> None:
    # torch's uniform_ requires from <= to, so a == b is allowed and fills with that value.
    w = nn.Parameter(np.empty((2, 3)))
    init.uniform_(w, 0.5, 0.5)
    np.testing.assert_array_equal(w.data, np.full((2, 3), 0.5))


def test_softmax_and_log_softmax_default_to_the_last_axis() -> None:
    x = ag.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_allclose(F.softmax(x).data.sum(axis=-1), np.ones(2), rtol=1e-15)
    np.testing.assert_allclose(F.softmax(x).data, F.softmax(x, axis=-1).data, rtol=0)
    np.testing.assert_allclose(F.log_softmax(x).data, F.log_softmax(x, axis=1).data, rtol=0)
