"""Known values from the seed lessons (../shared/seeds): the power rule, the gradient of the
bowl x² + y², the chain rule on a squared error, and one step of gradient descent — each with
both engines, `Value` and `Tensor`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini import Value

# ------------------------------------------------------------------ the power rule


@pytest.mark.parametrize(("x", "slope"), [(3.0, 6.0), (4.0, 8.0)])
def test_slope_of_x_squared_from_the_lesson(x, slope):
    # "for x=3, derivative is 2*3=6 ... At x=4, derivative is 2*4=8"
    v = Value(x)
    (v**2).backward()
    assert v.grad == slope
    t = ag.tensor(x, requires_grad=True)
    (t**2).backward()
    assert t.grad.item() == slope


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, -1, -2, 0.5, 1.5, 3.5])
@given(x=st.floats(0.25, 4.0))
def test_power_rule_both_engines(n, x):
    # d/dx xⁿ = n·xⁿ⁻¹
    expected = n * x ** (n - 1)
    v = Value(x)
    (v**n).backward()
    assert v.grad == pytest.approx(expected, rel=1e-13)
    t = ag.tensor(x, requires_grad=True)
    (t**n).backward()
    assert t.grad.item() == pytest.approx(expected, rel=1e-13)


def test_power_rule_on_a_vector():
    xs = np.array([-2.0, -0.5, 0.5, 1.0, 3.0])
    for n in (2, 3, 4):
        t = ag.tensor(xs, requires_grad=True)
        (t**n).sum().backward()
        np.testing.assert_allclose(t.grad.data, n * xs ** (n - 1), rtol=1e-15)


# ------------------------------------------------------------------ the gradient of the bowl


@pytest.mark.parametrize(
    ("point", "gradient"), [((3.0, 1.0), [6.0, 2.0]), ((-2.0, -2.0), [-4.0, -4.0])]
)
def test_gradient_of_bowl_with_value(point, gradient):
    x, y = Value(point[0]), Value(point[1])
    f = x**2 + y**2
    f.backward()
    assert [x.grad, y.grad] == gradient


@pytest.mark.parametrize(
    ("point", "gradient"), [((3.0, 1.0), [6.0, 2.0]), ((-2.0, -2.0), [-4.0, -4.0])]
)
def test_gradient_of_bowl_with_tensor(point, gradient):
    # As two scalars and as one vector p = (x, y): f = sum(p²).
    x = ag.tensor(point[0], requires_grad=True)
    y = ag.tensor(point[1], requires_grad=True)
    (x**2 + y**2).backward()
    assert [x.grad.item(), y.grad.item()] == gradient
    p = ag.tensor(point, requires_grad=True)
    (p**2).sum().backward()
    assert p.grad.data.tolist() == gradient
    assert p.grad.shape == (2,)


def test_gradient_points_away_from_the_minimum():
    # The lesson: at (3, 1) and (-2, -2) the gradient points away from (0, 0), uphill.
    for point in ([3.0, 1.0], [-2.0, -2.0]):
        p = ag.tensor(point, requires_grad=True)
        (p * p).sum().backward()
        assert float(np.dot(p.grad.data, point)) > 0


# ------------------------------------------------------------------ the chain rule


@given(
    w=st.floats(-5, 5, allow_nan=False),
    x=st.floats(-5, 5, allow_nan=False),
    y=st.floats(-5, 5, allow_nan=False),
)
def test_chain_rule_on_squared_error(w, x, y):
    # loss = error², error = w·x − y: d(loss)/dw = d(loss)/d(error) · d(error)/dw = 2·error·x
    expected = 2 * (w * x - y) * x
    wv = Value(w)
    ((wv * x - y) ** 2).backward()
    assert wv.grad == pytest.approx(expected, rel=1e-12, abs=1e-12)
    wt = ag.tensor(w, requires_grad=True)
    ((wt * x - y) ** 2).backward()
    assert wt.grad.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_chain_rule_on_squared_error_known_value():
    # w = 2, x = 3, y = 4: error = 2, d(loss)/dw = 2·2·3 = 12, d(loss)/dx = 2·2·2 = 8
    w, x = Value(2.0), Value(3.0)
    ((w * x - 4.0) ** 2).backward()
    assert (w.grad, x.grad) == (12.0, 8.0)
    wt, xt = ag.tensor(2.0, requires_grad=True), ag.tensor(3.0, requires_grad=True)
    ((wt * xt - 4.0) ** 2).backward()
    assert (wt.grad.item(), xt.grad.item()) == (12.0, 8.0)


def test_mean_squared_error_over_samples():
    # loss = (1/n) Σ (w·xᵢ − yᵢ)²: d/dw = (2/n) Σ (w·xᵢ − yᵢ)·xᵢ
    xs = np.array([1.0, 2.0, 3.0, -1.0])
    ys = np.array([2.0, 3.5, 7.0, -1.5])
    w = ag.tensor(1.5, requires_grad=True)
    ((w * xs - ys) ** 2).mean().backward()
    expected = 2 / len(xs) * np.sum((1.5 * xs - ys) * xs)
    assert w.grad.item() == pytest.approx(expected, rel=1e-14)


# ------------------------------------------------------------------ gradient descent


@pytest.mark.parametrize("start", [(3.0, 1.0), (-2.0, -2.0), (0.5, -4.0)])
def test_gradient_descent_step_lowers_the_bowl(start):
    lr = 0.1
    p = ag.tensor(start, requires_grad=True)
    f = (p**2).sum()
    f.backward()
    g = p.grad.data.copy()
    with ag.no_grad():
        p -= lr * p.grad
    step = p.data - np.array(start)
    np.testing.assert_allclose(step, -lr * g)  # moved against the gradient
    assert np.dot(step, g) < 0
    assert (p**2).sum().item() < f.item()  # and went downhill
    assert (p**2).sum().item() == pytest.approx(0.64 * f.item())  # (1 - 2·lr)² · f


def test_gradient_descent_with_value_converges():
    x, y = Value(3.0), Value(1.0)
    values = []
    for _ in range(50):
        x.grad = y.grad = 0.0
        f = x**2 + y**2
        f.backward()
        values.append(f.data)
        x, y = Value(x.data - 0.1 * x.grad), Value(y.data - 0.1 * y.grad)
    assert all(b < a for a, b in zip(values, values[1:]))
    assert values[-1] < 1e-8
