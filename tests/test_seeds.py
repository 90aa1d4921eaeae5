"""Known values from the seed lessons (../shared/seeds): the gradient as a vector of slopes,
the power rule, the gradient of the bowl x² + y², the chain rule on a squared error, and one
step of gradient descent — each with both engines, `Value` and `Tensor`."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini import Value

# ------------------------------------------------- the gradient as a vector of slopes

# Seed 000: a loss whose slopes are 2, 5, 3 for the biases b1..b3 of a layer and, for its
# 3 x 2 weight matrix, 2, 5, 3 down the first column and 6, 4, 2 down the second. The lesson
# divides a 0.01 nudge's effect by 0.001; the slope is the rise over the nudge that made it.
SEED_BIAS_SLOPES = [2.0, 5.0, 3.0]
SEED_WEIGHT_SLOPES = [[2.0, 6.0], [5.0, 4.0], [3.0, 2.0]]


def _seed_loss(w, b):
    return (w * ag.tensor(SEED_WEIGHT_SLOPES)).sum() + (b * ag.tensor(SEED_BIAS_SLOPES)).sum()


def test_gradient_is_the_vector_of_slopes_from_the_lesson():
    w = ag.tensor([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], requires_grad=True)
    b = ag.tensor([0.01, 0.02, 0.03], requires_grad=True)
    _seed_loss(w, b).backward()
    np.testing.assert_array_equal(b.grad.data, SEED_BIAS_SLOPES)  # "[2, 5, 3]"
    np.testing.assert_array_equal(w.grad.data[:, 0], [2.0, 5.0, 3.0])  # first column
    np.testing.assert_array_equal(w.grad.data[:, 1], [6.0, 4.0, 2.0])  # second column
    # Each slope is the loss's rise over the nudge that caused it: +0.01 on b1 raises the
    # loss by 0.02 (not 0.002), and 0.02 / 0.01 = 2.
    for h in (0.01, 0.001):
        for i, slope in enumerate(SEED_BIAS_SLOPES):
            nudged = b.data.copy()
            nudged[i] += h
            rise = _seed_loss(w, ag.tensor(nudged)).item() - _seed_loss(w, b).item()
            assert rise / h == pytest.approx(slope, rel=1e-9)
    # With Value, one scalar per parameter: the same slopes.
    ws = [[Value(v) for v in row] for row in w.data.tolist()]
    bs = [Value(v) for v in b.data.tolist()]
    loss = sum(c * v for cs, vs in zip(SEED_WEIGHT_SLOPES, ws) for c, v in zip(cs, vs))
    loss = loss + sum(c * v for c, v in zip(SEED_BIAS_SLOPES, bs))
    loss.backward()
    assert [v.grad for v in bs] == SEED_BIAS_SLOPES
    assert [[v.grad for v in row] for row in ws] == SEED_WEIGHT_SLOPES


def test_jacobian_is_the_matrix_of_gradients_not_a_determinant():
    # Seed 000's "2 6 5 4 3 2": the gradients of several outputs, stacked, form the Jacobian
    # matrix. For y = A @ x its Jacobian is A itself; its determinant is a single number.
    a = np.array(SEED_WEIGHT_SLOPES).T  # 2 x 3: outputs y1, y2 with gradients [2,5,3], [6,4,2]
    jac = ag.jacobian(lambda x: ag.tensor(a) @ x)(np.array([0.1, 0.2, 0.3]))
    np.testing.assert_array_equal(jac, [[2.0, 5.0, 3.0], [6.0, 4.0, 2.0]])


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
