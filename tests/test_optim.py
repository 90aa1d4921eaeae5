"""Tests for ``autograd_mini.optim``: update rules, options, param groups and state dicts.

The optimizers are checked on the quadratic f(x) = 0.5 x^T A x, whose gradient A x is fed in as
``p.grad``, against (a) steps worked out by hand and (b) straightforward re-implementations of
the algorithms as PyTorch documents them. Tests at the end compare with PyTorch itself and are
skipped when torch is not installed.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from autograd_mini.optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from autograd_mini.tensor import Tensor

A = np.array([[3.0, 0.5, 0.0], [0.5, 2.0, -0.3], [0.0, -0.3, 1.0]])  # symmetric positive definite
X0 = np.array([1.0, -2.0, 0.5])
STEPS = 25
TOL = {"rtol": 1e-12, "atol": 1e-14}


def quad_grad(x: np.ndarray) -> np.ndarray:
    """Gradient of f(x) = 0.5 x^T A x."""
    return A @ x


def param(values: Any, dtype: Any = np.float64) -> Tensor:
    """A leaf tensor that requires grad."""
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


def set_grad(p: Tensor, g: np.ndarray) -> None:
    """Feed a gradient as ``p.grad`` in ``p``'s dtype (as backward would)."""
    p.grad = Tensor(np.asarray(g, dtype=p.data.dtype))


def run_quadratic(
    opt_cls: type[Optimizer], steps: int = STEPS, dtype: Any = np.float64, **kw: Any
) -> np.ndarray:
    """Minimise the quadratic for ``steps`` steps and return the final parameters."""
    p = param(X0, dtype)
    opt = opt_cls([p], **kw)
    for _ in range(steps):
        set_grad(p, quad_grad(p.data.astype(np.float64)))
        opt.step()
    return p.data


# --------------------------------------------------------------------------- references
# Written from the pseudocode in PyTorch's documentation, in plain NumPy, deliberately without
# sharing code with the implementation.


def ref_sgd(
    steps: int,
    lr: float,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> np.ndarray:
    """SGD as documented by torch.optim.SGD."""
    x = X0.copy()
    b = None
    for _ in range(steps):
        g = -quad_grad(x) if maximize else quad_grad(x)
        if weight_decay:
            g = g + weight_decay * x
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        x = x - lr * g
    return x


def ref_adam(
    steps: int,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled: bool = False,
) -> np.ndarray:
    """Adam (decoupled=False) and AdamW (decoupled=True) as documented by torch.optim."""
    b1, b2 = betas
    x = X0.copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    vmax = np.zeros_like(x)
    for t in range(1, steps + 1):
        g = -quad_grad(x) if maximize else quad_grad(x)
        if weight_decay and decoupled:
            x = x - lr * weight_decay * x
        elif weight_decay:
            g = g + weight_decay * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2**t)
        else:
            v_hat = v / (1 - b2**t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
    return x


def ref_rmsprop(
    steps: int,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> np.ndarray:
    """RMSprop as documented by torch.optim.RMSprop (maximize negates the gradient)."""
    x = X0.copy()
    v = np.zeros_like(x)
    g_ave = np.zeros_like(x)
    b = np.zeros_like(x)
    for _ in range(steps):
        g = -quad_grad(x) if maximize else quad_grad(x)
        if weight_decay:
            g = g + weight_decay * x
        v = alpha * v + (1 - alpha) * g**2
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v_tilde - g_ave**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            x = x - lr * b
        else:
            x = x - lr * g / (np.sqrt(v_tilde) + eps)
    return x


def ref_adagrad(
    steps: int,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
) -> np.ndarray:
    """Adagrad as documented by torch.optim.Adagrad (maximize negates the gradient)."""
    x = X0.copy()
    s = np.full_like(x, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = -quad_grad(x) if maximize else quad_grad(x)
        clr = lr / (1 + (t - 1) * lr_decay)
        if weight_decay:
            g = g + weight_decay * x
        s = s + g**2
        x = x - clr * g / (np.sqrt(s) + eps)
    return x


# --------------------------------------------------------------------------- by hand


def test_sgd_plain_by_hand() -> None:
    # f = 1.5 x^2, x0 = 2: g = 6, x1 = 2 - 0.1 * 6 = 1.4; g = 4.2, x2 = 1.4 - 0.42 = 0.98
    p = param([2.0])
    opt = SGD([p], lr=0.1)
    for expected in (1.4, 0.98):
        set_grad(p, 3.0 * p.data)
        opt.step()
        np.testing.assert_allclose(p.data, [expected], **TOL)


def test_sgd_momentum_by_hand() -> None:
    # b1 = g0 = 6 (no dampening on the first step), x1 = 1.4; g1 = 4.2, b2 = 0.9*6 + 4.2 = 9.6
    p = param([2.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    for expected in (1.4, 0.44):
        set_grad(p, 3.0 * p.data)
        opt.step()
        np.testing.assert_allclose(p.data, [expected], **TOL)


def test_sgd_dampening_by_hand() -> None:
    # dampening only applies from the second step: b2 = 0.9*6 + (1-0.5)*4.2 = 7.5
    p = param([2.0])
    opt = SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    for expected in (1.4, 0.65):
        set_grad(p, 3.0 * p.data)
        opt.step()
        np.testing.assert_allclose(p.data, [expected], **TOL)


def test_sgd_nesterov_by_hand() -> None:
    # step 1: b = 6, g = 6 + 0.9*6 = 11.4, x1 = 0.86
    # step 2: g = 2.58, b = 5.4 + 2.58 = 7.98, g = 2.58 + 0.9*7.98 = 9.762, x2 = -0.1162
    p = param([2.0])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for expected in (0.86, -0.1162):
        set_grad(p, 3.0 * p.data)
        opt.step()
        np.testing.assert_allclose(p.data, [expected], **TOL)


def test_sgd_weight_decay_and_maximize_by_hand() -> None:
    # maximize negates the gradient before weight decay is added: g = -6 + 0.5*2 = -5
    p = param([2.0])
    opt = SGD([p], lr=0.1, weight_decay=0.5, maximize=True)
    set_grad(p, 3.0 * p.data)
    opt.step()
    np.testing.assert_allclose(p.data, [2.5], **TOL)


def test_adam_first_step_by_hand() -> None:
    # After bias correction m_hat = g and v_hat = g^2, so the first step is lr * g / (|g| + eps).
    g = quad_grad(X0)
    for amsgrad in (False, True):
        p = param(X0)
        opt = Adam([p], lr=0.1, amsgrad=amsgrad)
        set_grad(p, g)
        opt.step()
        np.testing.assert_allclose(p.data, X0 - 0.1 * g / (np.abs(g) + 1e-8), **TOL)


def test_adamw_first_step_by_hand() -> None:
    # Decoupled decay shrinks the parameter first: x0 (1 - lr*wd), then the Adam step.
    g = quad_grad(X0)
    p = param(X0)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    set_grad(p, g)
    opt.step()
    np.testing.assert_allclose(p.data, X0 * (1 - 0.05) - 0.1 * g / (np.abs(g) + 1e-8), **TOL)


def test_rmsprop_first_step_by_hand() -> None:
    # v = (1 - alpha) g^2, so x1 = x0 - lr g / (sqrt(1 - alpha) |g| + eps)
    g = quad_grad(X0)
    p = param(X0)
    opt = RMSprop([p], lr=0.01, alpha=0.9)
    set_grad(p, g)
    opt.step()
    np.testing.assert_allclose(p.data, X0 - 0.01 * g / (np.sqrt(0.1) * np.abs(g) + 1e-8), **TOL)


def test_rmsprop_centered_first_step_by_hand() -> None:
    # centered: v - g_ave^2 = 0.1 g^2 - 0.01 g^2 = 0.09 g^2, so the divisor is 0.3 |g| + eps
    g = quad_grad(X0)
    p = param(X0)
    opt = RMSprop([p], lr=0.01, alpha=0.9, centered=True)
    set_grad(p, g)
    opt.step()
    np.testing.assert_allclose(p.data, X0 - 0.01 * g / (0.3 * np.abs(g) + 1e-8), **TOL)


def test_adagrad_first_steps_by_hand() -> None:
    # f = 1.5 x^2, x0 = 2, lr = 1, accumulator 0: x1 = 2 - 6/6 = 1 (up to eps);
    # with lr_decay 1 the second step uses lr / 2: g = 3, sum = 45, x2 = 1 - 0.5 * 3 / sqrt(45)
    p = param([2.0])
    opt = Adagrad([p], lr=1.0, lr_decay=1.0, eps=0.0)
    set_grad(p, 3.0 * p.data)
    opt.step()
    np.testing.assert_allclose(p.data, [1.0], **TOL)
    set_grad(p, 3.0 * p.data)
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 1.5 / np.sqrt(45.0)], **TOL)


def test_adagrad_initial_accumulator_by_hand() -> None:
    p = param([2.0])
    opt = Adagrad([p], lr=0.5, initial_accumulator_value=10.0, eps=0.0)
    set_grad(p, 3.0 * p.data)
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 - 0.5 * 6.0 / np.sqrt(46.0)], **TOL)


# --------------------------------------------------------------------------- many steps

SGD_OPTIONS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.3},
    {"lr": 0.05, "momentum": 0.8, "nesterov": True},
    {"lr": 0.1, "weight_decay": 0.2},
    {"lr": 0.02, "maximize": True},
    {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.1, "maximize": True},
    {"lr": 0.05, "momentum": 0.7, "dampening": 0.2, "weight_decay": 0.1},
]


@pytest.mark.parametrize("kw", SGD_OPTIONS)
def test_sgd_matches_reference(kw: dict[str, Any]) -> None:
    np.testing.assert_allclose(run_quadratic(SGD, **kw), ref_sgd(STEPS, **kw), **TOL)


ADAM_OPTIONS = [
    {},
    {"lr": 0.05},
    {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6},
    {"lr": 0.05, "weight_decay": 0.1},
    {"lr": 0.05, "amsgrad": True},
    {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1, "maximize": True},
    {"lr": 0.05, "maximize": True},
]


@pytest.mark.parametrize("kw", ADAM_OPTIONS)
def test_adam_matches_reference(kw: dict[str, Any]) -> None:
    np.testing.assert_allclose(run_quadratic(Adam, **kw), ref_adam(STEPS, **kw), **TOL)


@pytest.mark.parametrize("kw", ADAM_OPTIONS)
def test_adamw_matches_reference(kw: dict[str, Any]) -> None:
    kw = {"weight_decay": 1e-2, **kw}  # AdamW's default decay
    got = run_quadratic(AdamW, **kw)
    np.testing.assert_allclose(got, ref_adam(STEPS, decoupled=True, **kw), **TOL)


def test_amsgrad_changes_the_result() -> None:
    # The test above is only meaningful if the running max differs from v at some step.
    assert not np.allclose(
        run_quadratic(Adam, lr=0.05, amsgrad=True), run_quadratic(Adam, lr=0.05), rtol=1e-6
    )


RMSPROP_OPTIONS = [
    {},
    {"lr": 0.01, "alpha": 0.9},
    {"lr": 0.01, "momentum": 0.9},
    {"lr": 0.01, "centered": True},
    {"lr": 0.01, "centered": True, "momentum": 0.5},
    {"lr": 0.01, "weight_decay": 0.1, "eps": 1e-4},
    {"lr": 0.01, "maximize": True, "momentum": 0.3, "centered": True, "weight_decay": 0.1},
]


@pytest.mark.parametrize("kw", RMSPROP_OPTIONS)
def test_rmsprop_matches_reference(kw: dict[str, Any]) -> None:
    np.testing.assert_allclose(run_quadratic(RMSprop, **kw), ref_rmsprop(STEPS, **kw), **TOL)


ADAGRAD_OPTIONS = [
    {},
    {"lr": 0.5},
    {"lr": 0.5, "lr_decay": 0.1},
    {"lr": 0.5, "weight_decay": 0.2},
    {"lr": 0.5, "initial_accumulator_value": 1.0},
    {"lr": 0.5, "eps": 1e-3},
    {"lr": 0.5, "maximize": True},
    {
        "lr": 0.5,
        "lr_decay": 0.05,
        "weight_decay": 0.1,
        "initial_accumulator_value": 0.5,
        "maximize": True,
    },
]


@pytest.mark.parametrize("kw", ADAGRAD_OPTIONS)
def test_adagrad_matches_reference(kw: dict[str, Any]) -> None:
    np.testing.assert_allclose(run_quadratic(Adagrad, **kw), ref_adagrad(STEPS, **kw), **TOL)


@pytest.mark.parametrize(
    ("opt_cls", "kw"),
    [
        (SGD, {"lr": 0.1, "momentum": 0.9}),
        (Adam, {"lr": 0.1}),
        (AdamW, {"lr": 0.1}),
        (RMSprop, {"lr": 0.01}),
        (Adagrad, {"lr": 0.5}),
    ],
)
def test_optimizers_converge(opt_cls: type[Optimizer], kw: dict[str, Any]) -> None:
    x = run_quadratic(opt_cls, steps=400, **kw)
    assert 0.5 * x @ A @ x < 1e-3 * (0.5 * X0 @ A @ X0)


# --------------------------------------------------------------------------- dtype, in place

ALL_FULL_OPTIONS = [
    (SGD, {"lr": 0.05}),  # plain SGD has a path of its own
    (SGD, {"lr": 0.05, "maximize": True}),
    (SGD, {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    (SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.1, "maximize": True}),
    (Adam, {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    (AdamW, {"lr": 0.05, "amsgrad": True, "maximize": True}),
    (RMSprop, {"lr": 0.01, "momentum": 0.5, "centered": True, "weight_decay": 0.1}),
    (Adagrad, {"lr": 0.5, "lr_decay": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.1}),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(ALL_FULL_OPTIONS)]


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_plain_sgd_step_is_exactly_p_minus_lr_g(maximize: bool, dtype) -> None:  # noqa: ANN001
    # Bit for bit what torch.optim.SGD computes, p - lr·g (p + lr·g to maximize), for
    # each of several parameters; one without a gradient is left alone.
    rng = np.random.default_rng(3)
    ps = [param(rng.standard_normal(shape), dtype) for shape in [(3, 4), (4,), ()]]
    grads = [rng.standard_normal(p.shape).astype(dtype) for p in ps[:2]]
    for p, g in zip(ps, grads):
        set_grad(p, g)
    before = [p.data.copy() for p in ps]
    SGD(ps, lr=0.1, maximize=maximize).step()
    for p, b, g in zip(ps, before, grads):
        np.testing.assert_array_equal(p.data, b + 0.1 * g if maximize else b - 0.1 * g)
        assert p.data.dtype == dtype
    np.testing.assert_array_equal(ps[2].data, before[2])


@pytest.mark.parametrize(("opt_cls", "kw"), ALL_FULL_OPTIONS, ids=IDS)
def test_float32_stays_float32(opt_cls: type[Optimizer], kw: dict[str, Any]) -> None:
    p = param(X0, np.float32)
    opt = opt_cls([p], **kw)
    for _ in range(10):
        set_grad(p, quad_grad(p.data.astype(np.float64)))
        opt.step()
        assert p.data.dtype == np.float32
    for value in opt.state[p].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32
    # and the float32 run follows the float64 one to float32 precision
    expected = run_quadratic(opt_cls, steps=10, **kw)
    np.testing.assert_allclose(p.data, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("opt_cls", "kw"), ALL_FULL_OPTIONS, ids=IDS)
def test_update_is_in_place_and_bumps_version(opt_cls: type[Optimizer], kw: dict[str, Any]) -> None:
    p = param(X0)
    array = p.data
    grad = quad_grad(X0)
    set_grad(p, grad)
    grad_before = p.grad.data.copy()
    version = p._version[0]
    opt = opt_cls([p], **kw)
    opt.step()
    assert p.data is array  # same buffer: views and references see the update
    assert p._version[0] > version  # backward can detect the in-place change
    np.testing.assert_array_equal(p.grad.data, grad_before)  # the gradient is not touched


@pytest.mark.parametrize(("opt_cls", "kw"), ALL_FULL_OPTIONS, ids=IDS)
def test_step_records_no_graph(opt_cls: type[Optimizer], kw: dict[str, Any]) -> None:
    p = param(X0)
    set_grad(p, quad_grad(X0))
    opt_cls([p], **kw).step()
    assert p.is_leaf and p.requires_grad


@pytest.mark.parametrize(("opt_cls", "kw"), ALL_FULL_OPTIONS, ids=IDS)
def test_params_without_grad_are_skipped(opt_cls: type[Optimizer], kw: dict[str, Any]) -> None:
    p, q = param(X0), param([1.0, 2.0])
    opt = opt_cls([p, q], **kw)
    for _ in range(3):
        set_grad(p, quad_grad(p.data))
        opt.step()
    np.testing.assert_array_equal(q.data, [1.0, 2.0])
    if opt_cls is Adagrad:  # torch's Adagrad creates all state up front
        assert opt.state[q]["step"] == 0
    else:
        assert q not in opt.state


def test_closure_is_called_and_its_loss_returned() -> None:
    p = param(X0)
    opt = SGD([p], lr=0.1)

    def closure() -> float:
        set_grad(p, quad_grad(p.data))
        return float(0.5 * p.data @ A @ p.data)

    loss = opt.step(closure)
    assert loss == pytest.approx(0.5 * X0 @ A @ X0)
    np.testing.assert_allclose(p.data, X0 - 0.1 * quad_grad(X0), **TOL)


def test_closure_records_a_graph_even_under_no_grad() -> None:
    from autograd_mini.engine import no_grad

    p = param(X0)
    a = Tensor(A)
    opt = SGD([p], lr=0.1)

    def closure() -> Tensor:
        opt.zero_grad()
        loss = 0.5 * (p * (a @ p)).sum()
        loss.backward()
        return loss

    with no_grad():
        loss = opt.step(closure)
    assert float(loss.data) == pytest.approx(0.5 * X0 @ A @ X0)
    np.testing.assert_allclose(p.data, X0 - 0.1 * quad_grad(X0), **TOL)


def test_numpy_hyperparameters_and_float64_grads_keep_float32() -> None:
    # np.float64 scalars would promote float32 arithmetic; the update must stay float32.
    p = param(X0, np.float32)
    opt = Adam([p], lr=np.float64(0.1), betas=(np.float64(0.9), 0.999), eps=np.float64(1e-8))
    with pytest.raises(TypeError, match="grad: assigned grad has dtype float64.*float32"):
        p.grad = Tensor(quad_grad(X0))  # as in PyTorch, .grad must match the dtype...
    p.grad = Tensor(np.zeros(3, np.float32))
    p.grad.data = quad_grad(X0)  # ... but its array can still be swapped for a float64 one
    opt.step()
    assert p.data.dtype == np.float32 and opt.state[p]["exp_avg"].dtype == np.float32
    expected = param(X0, np.float32)
    opt2 = Adam([expected], lr=0.1)
    set_grad(expected, quad_grad(X0))
    opt2.step()
    np.testing.assert_array_equal(p.data, expected.data)


def test_zero_parameter_and_matrix_parameters() -> None:
    # 0-d and 2-d parameters go through the same elementwise rules.
    s, m = param(1.5), param(np.arange(6.0).reshape(2, 3))
    opt = Adam([s, m], lr=0.1)
    set_grad(s, 2.0)
    set_grad(m, np.ones((2, 3)))
    opt.step()
    np.testing.assert_allclose(s.data, 1.5 - 0.1 * 2.0 / (2.0 + 1e-8), **TOL)
    np.testing.assert_allclose(m.data, np.arange(6.0).reshape(2, 3) - 0.1 / (1 + 1e-8), **TOL)
    assert s.data.shape == () and opt.state[s]["exp_avg"].shape == ()


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda p: SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
        (lambda p: SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
        (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum"),
        (
            lambda p: SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
            "Nesterov momentum requires a momentum and zero dampening",
        ),
        (lambda p: Adam(p, lr=-1e-3), "Invalid learning rate: -0.001"),
        (lambda p: Adam(p, eps=-1.0), "Invalid epsilon value: -1.0"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda p: Adam(p, betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
        (lambda p: Adam(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (lambda p: AdamW(p, betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
        (lambda p: RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
        (lambda p: RMSprop(p, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: RMSprop(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (lambda p: Adagrad(p, lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
        (
            lambda p: Adagrad(p, initial_accumulator_value=-1.0),
            "Invalid initial_accumulator_value value: -1.0",
        ),
        (lambda p: Adagrad(p, eps=-1.0), "Invalid epsilon value: -1.0"),
    ],
)
def test_invalid_hyperparameters(factory: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        factory([param(X0)])


def test_defaults_are_torchs() -> None:
    p = param(X0)
    assert SGD([p]).defaults == {
        "lr": 1e-3,
        "momentum": 0,
        "dampening": 0,
        "weight_decay": 0,
        "nesterov": False,
        "maximize": False,
    }
    adam = Adam([p]).defaults
    assert (adam["lr"], adam["betas"], adam["eps"], adam["weight_decay"], adam["amsgrad"]) == (
        1e-3,
        (0.9, 0.999),
        1e-8,
        0,
        False,
    )
    assert AdamW([p]).defaults["weight_decay"] == 1e-2
    assert AdamW([p]).defaults["decoupled_weight_decay"] is True
    rms = RMSprop([p]).defaults
    assert (rms["lr"], rms["alpha"], rms["eps"], rms["momentum"], rms["centered"]) == (
        1e-2,
        0.99,
        1e-8,
        0,
        False,
    )
    ada = Adagrad([p]).defaults
    assert (ada["lr"], ada["lr_decay"], ada["initial_accumulator_value"], ada["eps"]) == (
        1e-2,
        0,
        0,
        1e-10,
    )


def test_bad_params_arguments() -> None:
    p = param(X0)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        SGD([{"params": {p}}], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="param_group must be a dict"):
        SGD([p], lr=0.1).add_param_group([p])  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SGD([p, p], lr=0.1)
    assert any("duplicate parameters" in str(w.message) for w in caught)


def test_non_leaf_is_rejected() -> None:
    x = param(X0)
    y = x * 2.0
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        SGD([y], lr=0.1)


# --------------------------------------------------------------------------- groups, zero_grad


def test_param_groups_with_their_own_options() -> None:
    p, q = param(X0), param(X0)
    opt = SGD([{"params": [p]}, {"params": q, "lr": 0.01, "momentum": 0.5}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[1]["momentum"] == 0.5
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is q
    for t in (p, q):
        set_grad(t, quad_grad(X0))
    opt.step()
    np.testing.assert_allclose(p.data, X0 - 0.1 * quad_grad(X0), **TOL)
    np.testing.assert_allclose(q.data, X0 - 0.01 * quad_grad(X0), **TOL)


def test_add_param_group_and_changing_lr() -> None:
    p, q = param(X0), param([1.0])
    opt = Adam([p], lr=0.1)
    opt.add_param_group({"params": [q], "lr": 0.5})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)  # defaults filled in
    opt.param_groups[0]["lr"] = 0.2  # setting lr by hand takes effect at the next step
    set_grad(p, quad_grad(X0))
    set_grad(q, [3.0])
    opt.step()
    np.testing.assert_allclose(p.data, X0 - 0.2 * np.sign(quad_grad(X0)), rtol=1e-7)
    np.testing.assert_allclose(q.data, [0.5], rtol=1e-7)


def test_named_parameters_are_accepted() -> None:
    p, q = param(X0), param([1.0])
    opt = SGD([("w", p), ("b", q)], lr=0.1)
    assert opt.param_groups[0]["params"][0] is p
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    with pytest.raises(ValueError, match="with/without names"):
        SGD([("w", p), q], lr=0.1)


def test_zero_grad_set_to_none_and_in_place() -> None:
    p, q = param(X0), param([1.0])
    opt = SGD([p, q], lr=0.1)
    set_grad(p, quad_grad(X0))
    opt.zero_grad()  # PyTorch 2 default: set_to_none=True
    assert p.grad is None and q.grad is None
    set_grad(p, quad_grad(X0))
    grad_array = p.grad.data
    opt.zero_grad(set_to_none=False)
    assert p.grad.data is grad_array  # zeroed in place
    np.testing.assert_array_equal(p.grad.data, np.zeros(3))
    assert q.grad is None
    opt.step()  # a zero gradient still counts as a step (unlike None)
    np.testing.assert_array_equal(p.data, X0)


def test_repr_lists_groups() -> None:
    text = repr(Adam([param(X0)], lr=0.5))
    assert text.startswith("Adam (") and "Parameter Group 0" in text and "lr: 0.5" in text


# --------------------------------------------------------------------------- state dicts


def make_params() -> list[Tensor]:
    """Three parameters of different shapes."""
    return [param(X0), param(np.linspace(-1.0, 1.0, 6).reshape(2, 3)), param(0.7)]


def feed(params: list[Tensor], t: int) -> None:
    """Deterministic gradients: the quadratic's plus a step-dependent wobble."""
    set_grad(params[0], quad_grad(params[0].data) + 0.1 * np.sin(t))
    set_grad(params[1], 2.0 * params[1].data + 0.05 * np.cos(t + np.arange(6).reshape(2, 3)))
    if t % 3:  # sometimes no gradient: those steps skip the parameter
        set_grad(params[2], 4.0 * params[2].data)
    else:
        params[2].grad = None


def build(opt_cls: type[Optimizer], params: list[Tensor], kw: dict[str, Any]) -> Optimizer:
    """Two param groups, the second with a different lr."""
    return opt_cls([{"params": params[:2]}, {"params": params[2:], "lr": kw["lr"] / 2}], **kw)


@pytest.mark.parametrize(("opt_cls", "kw"), ALL_FULL_OPTIONS, ids=IDS)
@pytest.mark.parametrize("k", [1, 4])
def test_resume_from_state_dict_is_bit_identical(
    opt_cls: type[Optimizer], kw: dict[str, Any], k: int
) -> None:
    total = 12
    ref = make_params()
    opt = build(opt_cls, ref, kw)
    for t in range(total):
        feed(ref, t)
        opt.step()

    run = make_params()
    opt = build(opt_cls, run, kw)
    for t in range(k):
        feed(run, t)
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    saved_params = [p.data.copy() for p in run]

    fresh = [Tensor(a.copy(), requires_grad=True) for a in saved_params]
    opt2 = build(opt_cls, fresh, kw)
    opt2.load_state_dict(saved)
    for t in range(k, total):
        feed(fresh, t)
        opt2.step()
    for a, b in zip(ref, fresh, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize(("opt_cls", "kw"), ALL_FULL_OPTIONS, ids=IDS)
def test_state_dict_is_a_snapshot(opt_cls: type[Optimizer], kw: dict[str, Any]) -> None:
    params = make_params()
    opt = build(opt_cls, params, kw)
    for t in range(3):
        feed(params, t)
        opt.step()
    sd = opt.state_dict()
    frozen = copy.deepcopy(sd)
    for t in range(3, 6):
        feed(params, t)
        opt.step()
    assert_state_dicts_equal(sd, frozen)
    # and loading does not alias the given dict either
    opt.load_state_dict(sd)
    feed(params, 7)
    opt.step()
    assert_state_dicts_equal(sd, frozen)


def assert_state_dicts_equal(a: Any, b: Any) -> None:
    """Exact, recursive equality of nested dicts/lists/arrays."""
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_state_dicts_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_state_dicts_equal(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_state_dict_layout_is_torchs() -> None:
    params = make_params()
    opt = build(Adam, params, {"lr": 0.1, "amsgrad": True})
    feed(params, 1)
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert sorted(sd["state"]) == [0, 1, 2]
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][0]["step"] == 1.0
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.05
    # only NumPy arrays and plain Python values: storable without pickle
    for entry in sd["state"].values():
        for value in entry.values():
            assert isinstance(value, (np.ndarray, float))


def test_state_dict_json_keys_and_dtype_cast() -> None:
    # String keys (a JSON round trip) are accepted; float state follows the parameter's dtype.
    p = param(X0)
    opt = Adam([p], lr=0.1)
    set_grad(p, quad_grad(X0))
    opt.step()
    sd = opt.state_dict()
    sd["state"] = {str(k): v for k, v in sd["state"].items()}
    sd["param_groups"][0]["betas"] = list(sd["param_groups"][0]["betas"])
    q = param(X0, np.float32)
    opt2 = Adam([q], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.state[q]["exp_avg"].dtype == np.float32
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt2.param_groups[0]["params"][0] is q


def test_load_state_dict_errors() -> None:
    p, q = param(X0), param([1.0])
    sd = SGD([p, q], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        SGD([{"params": [p]}, {"params": [q]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        SGD([p], lr=0.1).load_state_dict(sd)
    opt = SGD([p], lr=0.1, momentum=0.9)
    set_grad(p, quad_grad(X0))
    opt.step()
    with pytest.raises(ValueError, match="shape"):
        SGD([param(np.zeros(4))], lr=0.1).load_state_dict(opt.state_dict())


def test_load_state_dict_restores_hyperparameters() -> None:
    p = param(X0)
    opt = RMSprop([p], lr=0.5, momentum=0.3)
    sd = opt.state_dict()
    opt2 = RMSprop([param(X0)], lr=0.01)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.5 and opt2.param_groups[0]["momentum"] == 0.3


def test_adamw_keeps_decoupled_decay_on_load() -> None:
    sd = Adam([param(X0)]).state_dict()
    opt = AdamW([param(X0)])
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True


def test_state_dict_survives_save_and_load(tmp_path: Any) -> None:
    serialization = pytest.importorskip("autograd_mini.serialization")
    params = make_params()
    opt = build(AdamW, params, {"lr": 0.1, "amsgrad": True})
    for t in range(3):
        feed(params, t)
        opt.step()
    path = tmp_path / "opt.npz"
    serialization.save(opt.state_dict(), path)
    loaded = serialization.load(path)
    assert_state_dicts_equal(loaded, opt.state_dict())

    fresh = [Tensor(p.data.copy(), requires_grad=True) for p in params]
    opt2 = build(AdamW, fresh, {"lr": 0.1, "amsgrad": True})
    opt2.load_state_dict(loaded)
    for t in range(3, 8):
        feed(params, t)
        opt.step()
        feed(fresh, t)
        opt2.step()
    for a, b in zip(params, fresh, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_optimizer_deepcopy_keeps_state_with_copied_params() -> None:
    p = param(X0)
    opt = SGD([p], lr=0.1, momentum=0.9)
    set_grad(p, quad_grad(X0))
    opt.step()
    clone = copy.deepcopy(opt)
    cp = clone.param_groups[0]["params"][0]
    assert cp is not p
    np.testing.assert_array_equal(clone.state[cp]["momentum_buffer"], quad_grad(X0))


# --------------------------------------------------------------------------- against PyTorch

TORCH_CASES = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.2, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01}),
    (
        "Adam",
        {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True},
    ),
    ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.001, "alpha": 0.9, "eps": 1e-6}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("RMSprop", {"lr": 0.001, "centered": True}),
    ("RMSprop", {"lr": 0.001, "momentum": 0.5, "maximize": True}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1}),
    ("Adagrad", {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6, "maximize": True}),
]
# torch-only implementation switches that have no counterpart here
TORCH_ONLY_GROUP_KEYS = {"foreach", "differentiable", "fused", "capturable"}


def _torch_grads(rng: np.random.Generator, xs: list[np.ndarray], sign: float) -> list[np.ndarray]:
    """Gradients of sign * (quadratic) plus noise, computed once and fed to both sides."""
    grads = [
        sign * (quad_grad(xs[0]) + 0.1 * rng.standard_normal(3)),
        sign * (2.0 * xs[1] + 0.1 * rng.standard_normal((2, 4))),
        sign * (4.0 * xs[2] + 0.1 * rng.standard_normal(())),
    ]
    return [np.array(g, dtype=np.float64) for g in grads]  # 0-d results are NumPy scalars


@pytest.mark.parametrize(("name", "kw"), TORCH_CASES)
def test_matches_torch_after_100_steps(name: str, kw: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    import autograd_mini.optim as ours

    rng = np.random.default_rng(0)
    init = [X0.copy(), rng.standard_normal((2, 4)), np.array(0.8)]
    mine = [Tensor(a.copy(), requires_grad=True) for a in init]
    theirs = [torch.tensor(a.copy(), dtype=torch.float64, requires_grad=True) for a in init]
    groups_mine = [{"params": mine[:2]}, {"params": mine[2:], "lr": 0.003}]
    groups_theirs = [{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.003}]
    opt_mine = getattr(ours, name)(groups_mine, **kw)
    opt_theirs = getattr(torch.optim, name)(groups_theirs, **kw)
    sign = -1.0 if kw.get("maximize") else 1.0  # keep maximisation bounded

    for t in range(100):
        grads = _torch_grads(rng, [p.data for p in mine], sign)
        for i, (p, tp, g) in enumerate(zip(mine, theirs, grads, strict=True)):
            if i == 2 and t % 7 == 3:  # some steps without a gradient
                p.grad, tp.grad = None, None
                continue
            p.grad = Tensor(g.copy())
            tp.grad = torch.from_numpy(g.copy())
        opt_mine.step()
        opt_theirs.step()

    for p, tp in zip(mine, theirs, strict=True):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)

    # Same state dict layout and contents.
    sd, tsd = opt_mine.state_dict(), opt_theirs.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for idx, entry in sd["state"].items():
        tentry = tsd["state"][idx]
        assert set(entry) == set(tentry)
        for key, value in entry.items():
            np.testing.assert_allclose(value, np.asarray(tentry[key]), rtol=1e-10, atol=1e-12)
    for g, tg in zip(sd["param_groups"], tsd["param_groups"], strict=True):
        assert set(g) == set(tg) - TORCH_ONLY_GROUP_KEYS
        for key in g:
            assert g[key] == tg[key], key


def test_zero_grad_and_skip_semantics_match_torch() -> None:
    torch = pytest.importorskip("torch")
    p = Tensor(X0.copy(), requires_grad=True)
    tp = torch.tensor(X0.copy(), requires_grad=True)
    opt, topt = Adam([p], lr=0.1), torch.optim.Adam([tp], lr=0.1)
    for zero in (True, False):
        p.grad, tp.grad = Tensor(quad_grad(X0)), torch.from_numpy(quad_grad(X0))
        opt.zero_grad(set_to_none=zero)
        topt.zero_grad(set_to_none=zero)
        assert (p.grad is None) == (tp.grad is None)
        opt.step()
        topt.step()
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)
        assert (len(opt.state[p]) == 0) == (len(topt.state[tp]) == 0)


# ------------------------------------------------------------------- mutation-audit additions
# Each test below pins behaviour that a mutation of the implementation changed unnoticed.


@pytest.mark.parametrize(
    ("opt_cls", "kw"),
    [
        (SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
        (Adam, {"lr": 0.1, "amsgrad": True}),
        (RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.5}),
        (Adagrad, {"lr": 0.1}),
    ],
)
def test_float64_grad_array_updates_like_its_float32_cast(
    opt_cls: type[Optimizer], kw: dict[str, Any]
) -> None:
    # The update runs in the parameter's dtype: a float64 array swapped into a float32 .grad
    # gives bit for bit the steps that the gradient rounded to float32 gives.
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal(50).astype(np.float32)
    a, b = param(x0, np.float32), param(x0, np.float32)
    opt_a, opt_b = opt_cls([a], **kw), opt_cls([b], **kw)
    for _ in range(5):
        g = rng.standard_normal(50)
        a.grad = Tensor(np.zeros(50, np.float32))
        a.grad.data = g
        set_grad(b, g.astype(np.float32))
        opt_a.step()
        opt_b.step()
    assert a.data.dtype == np.float32
    np.testing.assert_array_equal(a.data, b.data)


def test_zero_grad_in_place_detaches_a_grad_that_has_a_graph() -> None:
    # torch's zero_grad(set_to_none=False) does grad.detach_(): a create_graph gradient that
    # is zeroed must not keep its graph (nor require grad).
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x * x).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    SGD([x], lr=0.1).zero_grad(set_to_none=False)
    assert not x.grad.requires_grad
    np.testing.assert_array_equal(x.grad.data, np.zeros(2))


def test_zero_grad_in_place_zeroes_a_read_only_grad() -> None:
    p = param([1.0, 2.0, 3.0])
    p.grad = Tensor(np.broadcast_to(np.array(3.0), (3,)))  # a read-only broadcast view
    assert not p.grad.data.flags.writeable
    SGD([p], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad.data, np.zeros(3))
    assert p.grad.data.shape == (3,)


def test_state_dict_param_groups_are_copies() -> None:
    p = param(X0)
    opt = SGD([("w", p)], lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["param_names"].append("intruder")
    assert opt.param_groups[0]["param_names"] == ["w"]


def test_load_state_dict_fills_options_missing_from_the_saved_groups() -> None:
    # An older or hand-made state dict without an option gets the optimizer's default for it.
    p = param(X0)
    opt = Adam([p], lr=0.1)
    sd = opt.state_dict()
    del sd["param_groups"][0]["maximize"]
    del sd["param_groups"][0]["amsgrad"]
    opt2 = Adam([p], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["maximize"] is False
    assert opt2.param_groups[0]["amsgrad"] is False
    set_grad(p, quad_grad(X0))
    opt2.step()  # does not fail on the missing keys
    np.testing.assert_allclose(p.data, X0 - 0.1 * np.sign(quad_grad(X0)), rtol=1e-7)


def test_load_state_dict_keeps_param_names_when_the_saved_groups_have_none() -> None:
    # As torch: loading an unnamed state dict into a named optimizer keeps the names.
    p = param(X0)
    sd = SGD([param(X0)], lr=0.5).state_dict()
    opt = SGD([("weight", p)], lr=0.1)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["param_names"] == ["weight"]
    assert opt.param_groups[0]["lr"] == 0.5
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight"]


def test_load_state_dict_step_from_an_array_is_a_float_and_not_shared() -> None:
    # A checkpoint read back from .npz holds "step" as a 0-d array: loading takes its value
    # (a float), so later steps neither change the caller's dict nor count wrongly.
    p = param(X0)
    opt = Adam([p], lr=0.1)
    set_grad(p, quad_grad(X0))
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["step"] = np.array(1.0)
    opt2 = Adam([p], lr=0.1)
    opt2.load_state_dict(sd)
    assert isinstance(opt2.state[p]["step"], float)
    opt2.step()
    assert opt2.state[p]["step"] == 2.0
    assert float(sd["state"][0]["step"]) == 1.0


@pytest.mark.parametrize(
    ("opt_cls", "kw", "option", "buffer"),
    [
        (Adam, {"lr": 0.1}, "amsgrad", "max_exp_avg_sq"),
        (RMSprop, {"lr": 0.01}, "centered", "grad_avg"),
        (RMSprop, {"lr": 0.01}, "momentum", "momentum_buffer"),
    ],
)
def test_option_switched_on_after_a_step_starts_its_buffer_at_zero(
    opt_cls: type[Optimizer], kw: dict[str, Any], option: str, buffer: str
) -> None:
    # torch raises KeyError here; this library starts the new buffer from zeros.
    p = param(X0)
    opt = opt_cls([p], **kw)
    g1, g2 = quad_grad(X0), quad_grad(X0 + 0.3)
    set_grad(p, g1)
    opt.step()
    x1 = p.data.copy()
    opt.param_groups[0][option] = 0.9 if option == "momentum" else True
    set_grad(p, g2)
    opt.step()
    assert buffer in opt.state[p]
    lr = kw["lr"]
    if opt_cls is Adam:
        b1, b2 = 0.9, 0.999
        m = (1 - b1) * (b1 * g1 + g2)
        v = (1 - b2) * (b2 * g1**2 + g2**2)  # the running max from zero is v itself
        expected = x1 - lr / (1 - b1**2) * m / (np.sqrt(v) / np.sqrt(1 - b2**2) + 1e-8)
    else:
        alpha = 0.99
        v = (1 - alpha) * (alpha * g1**2 + g2**2)
        if option == "centered":
            v = v - ((1 - alpha) * g2) ** 2  # grad_avg from zero: (1 - alpha) * g2
        # momentum from a zero buffer: the buffer is just this step's g / avg
        expected = x1 - lr * g2 / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
