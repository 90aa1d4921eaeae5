"""Function transforms (API.md §3) against closed forms and finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import expressions

import autograd_mini as ag
from autograd_mini.gradcheck import CATALOGUE, numerical_grad, numerical_jacobian, sample_inputs
from autograd_mini.transforms import batched_vjp, grad, hessian, jacobian, jvp, value_and_grad, vjp

RNG = np.random.default_rng(1234)


def softmax(x):
    return (x - x.logsumexp(axis=-1, keepdims=True)).exp()


# ------------------------------------------------------------------ grad and higher orders


def test_grad_of_sin_is_cos_and_grad_of_grad_is_minus_sin():
    for x in (-2.0, 0.3, 1.7):
        assert grad(ag.sin)(x) == pytest.approx(np.cos(x), abs=1e-15)
        assert grad(grad(ag.sin))(x) == pytest.approx(-np.sin(x), abs=1e-15)
        assert grad(grad(grad(ag.sin)))(x) == pytest.approx(-np.cos(x), abs=1e-15)


def test_grad_of_grad_with_tensor_input_is_a_tensor():
    x = ag.tensor(0.7)
    g2 = grad(grad(lambda t: t.sin()))(x)
    assert isinstance(g2, ag.Tensor)
    assert g2.item() == pytest.approx(-np.sin(0.7), abs=1e-15)


def test_grad_of_grad_on_arrays_elementwise():
    x = np.array([0.1, -1.2, 2.5])
    # d/dx_i of sum(x³) is 3x², and the gradient of sum(3x²) is 6x.
    g = grad(lambda t: (t**3).sum())
    np.testing.assert_allclose(g(x), 3 * x**2, rtol=1e-14)
    np.testing.assert_allclose(grad(lambda t: g(t).sum())(x), 6 * x, rtol=1e-14)


def test_numpy_in_numpy_out_and_dtype_kept():
    x32 = np.array([1.0, 2.0], dtype=np.float32)
    g = grad(lambda t: (t * t).sum())(x32)
    assert type(g) is np.ndarray and g.dtype == np.float32
    np.testing.assert_array_equal(g, [2.0, 4.0])
    gf = grad(lambda t: t * t)(3.0)
    assert type(gf) is float and gf == 6.0
    g64 = grad(lambda t: t * t)(np.float64(3.0))
    assert isinstance(g64, np.float64) and g64 == 6.0
    g0 = grad(lambda t: t * t)(np.array(3.0))
    assert type(g0) is np.ndarray and g0.shape == () and g0 == 6.0


def test_tensor_in_tensor_out_differentiable():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g = grad(lambda t: (t**3).sum())(x)
    assert isinstance(g, ag.Tensor) and g.requires_grad
    np.testing.assert_allclose(g.data, 3 * x.data**2)
    assert x.grad is None  # transforms never accumulate into .grad
    g.sum().backward()
    np.testing.assert_allclose(x.grad.data, 6 * x.data)


def test_gradient_penalty_flows_into_closed_over_parameters():
    W = ag.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    x = ag.tensor(RNG.standard_normal(4))  # does not require grad

    def penalty(Wd):
        gx = grad(lambda t: (Wd @ t).tanh().sum())(x)
        return (gx * gx).sum()

    p = penalty(W)
    p.backward()
    expected = numerical_grad(lambda Wd: penalty(ag.tensor(Wd)), W.data)
    np.testing.assert_allclose(W.grad.data, expected, rtol=1e-6, atol=1e-9)


def test_grad_works_under_no_grad_and_returns_plain_tensors():
    x = ag.tensor([1.0, 2.0])
    with ag.no_grad():
        g = grad(lambda t: (t * t).sum())(x)
    assert isinstance(g, ag.Tensor) and not g.requires_grad
    np.testing.assert_array_equal(g.data, [2.0, 4.0])


def test_argnums_int_tuple_and_negative():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])

    def f(a, b):
        return (a * a * b).sum()

    np.testing.assert_allclose(grad(f)(x, y), 2 * x * y)
    np.testing.assert_allclose(grad(f, argnums=-1)(x, y), x * x)
    ga, gb = grad(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(ga, 2 * x * y)
    np.testing.assert_allclose(gb, x * x)
    gb2, ga2 = grad(f, argnums=(1, 0))(x, y)
    np.testing.assert_allclose(ga2, ga)
    np.testing.assert_allclose(gb2, gb)


def test_same_tensor_at_two_positions_gets_partial_derivatives():
    t = ag.tensor([2.0, 3.0], requires_grad=True)
    ga, gb = grad(lambda a, b: (a * b * b).sum(), argnums=(0, 1))(t, t)
    np.testing.assert_allclose(ga.data, t.data**2)
    np.testing.assert_allclose(gb.data, 2 * t.data**2)


def test_an_argument_is_not_confused_with_other_uses_of_the_same_tensor():
    # torch.func / JAX: a closure over x, or an outer transform's x, is a constant for the
    # inner transform; only the argument itself is varied.
    assert grad(lambda x: grad(lambda y: x * y)(x))(3.0) == 1.0
    # The inner f returns the outer variable itself (no op recorded): still d w / d w = 1.
    assert grad(lambda w: value_and_grad(lambda x: w)(2.0)[0])(3.0) == 1.0
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(grad(lambda a: (a * x).sum())(x).data, [1.0, 2.0])
    np.testing.assert_array_equal(jacobian(lambda a: a * x)(x).data, np.diag([1.0, 2.0]))
    np.testing.assert_array_equal(hessian(lambda a: (a * a * x).sum())(x).data, np.diag([2, 4]))
    y = x * 3  # a non-leaf argument
    g = grad(lambda a: (a * y).sum())(y)
    np.testing.assert_array_equal(g.data, [3.0, 6.0])
    g.sum().backward()  # still connected to the caller's graph: d(sum y)/dx = 3
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


def test_numpy_mode_transform_inside_a_differentiated_function_stays_differentiable():
    # The inner grad gets NumPy arguments but closes over the outer variable w: its result
    # depends on w and must not be cut off into a constant (that gave a silent 0).
    xs = np.array([1.0, 2.0])

    def outer(w):
        g = grad(lambda x: (w * x**2).sum())(xs)  # 2·w·x
        return (g**2).sum()  # 4·Σ w²x²

    w0 = np.array([0.5, 1.5])
    gw = grad(outer)(w0)
    assert type(gw) is np.ndarray  # NumPy in, NumPy out at the top
    np.testing.assert_allclose(gw, 8 * w0 * xs**2)
    inner_j = jacobian(lambda w: grad(lambda x: (w * x**2).sum())(xs))(w0)
    np.testing.assert_allclose(inner_j, np.diag(2 * xs))
    # A parameter of the user's own (not an enclosing transform's variable) does not switch
    # the mode: NumPy in, NumPy out, as API.md has it (saliency maps of a trained model).
    m = ag.nn.Linear(2, 1)
    g = grad(lambda x: m(x).sum())(np.ones((3, 2)))
    assert type(g) is np.ndarray
    np.testing.assert_allclose(g, np.broadcast_to(m.weight.data, (3, 2)))
    assert m.weight.grad is None


def test_value_and_grad():
    x = np.array([0.5, -1.0, 2.0])
    v, g = value_and_grad(lambda t: (t.exp() * t).sum())(x)
    assert v == pytest.approx(np.sum(np.exp(x) * x), rel=1e-15)
    np.testing.assert_allclose(g, np.exp(x) * (1 + x), rtol=1e-14)
    vt, gt = value_and_grad(lambda t: (t.exp() * t).sum())(ag.tensor(x))
    assert isinstance(vt, ag.Tensor) and isinstance(gt, ag.Tensor)
    assert vt.item() == pytest.approx(v)


def test_grad_of_a_function_not_depending_on_its_input_is_zero():
    np.testing.assert_array_equal(grad(lambda t: ag.tensor(2.0))(np.ones(3)), np.zeros(3))


@pytest.mark.parametrize("shape", [(3,), (2, 2), (1, 2)])
def test_grad_of_non_scalar_output_is_an_error_naming_the_shape(shape):
    with pytest.raises(ValueError, match=r"single element.*" + re_shape(shape)):
        grad(lambda t: t * 2)(np.ones(shape))


def re_shape(shape):
    return str(shape).replace("(", r"\(").replace(")", r"\)")


def test_single_element_non_scalar_output_is_accepted():
    assert grad(lambda t: (t * 2).reshape(1, 1))(1.5) == 2.0


def test_bad_arguments_are_clear_errors():
    with pytest.raises(TypeError, match="dtype int64"):
        grad(lambda t: t.sum())(np.arange(3))
    with pytest.raises(ValueError, match="argnums 2 is out of range"):
        grad(lambda a, b: a, argnums=2)(1.0, 2.0)
    with pytest.raises(ValueError, match="repeats"):
        grad(lambda a, b: a, argnums=(0, 0))(1.0, 2.0)
    with pytest.raises(TypeError, match="argnums"):
        grad(lambda a: a, argnums=1.5)(1.0)
    with pytest.raises(TypeError, match="must return one Tensor"):
        grad(lambda a: [a])(1.0)
    with pytest.raises(TypeError, match="floating point outputs"):
        grad(lambda a: a > 0)(1.0)


def test_an_output_that_left_the_graph_is_warned_about_at_the_users_call():
    # f is called with Tensors; a float or array result has left the graph (or is a
    # constant): its zero gradient comes with a warning pointing at the caller's line.
    x = ag.tensor(np.ones(3))
    with pytest.warns(UserWarning, match="grad: f returned float, not a Tensor") as rec:
        g = grad(lambda t: float(t.sum().item()))(x)
    assert rec[0].filename == __file__
    np.testing.assert_array_equal(g.data, np.zeros(3))
    with pytest.warns(UserWarning, match="jacobian: f returned ndarray"):
        ag.jacobian(lambda t: t.data * 2)(np.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Tensor result, even a constant one, is quiet
        assert grad(lambda t: ag.tensor(3.0))(1.0) == 0.0


# ------------------------------------------------------------------ jacobian and hessian


def test_jacobian_of_softmax_is_diag_minus_outer():
    x = RNG.standard_normal(5)
    s = softmax(ag.tensor(x)).data
    J = jacobian(softmax)(x)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), atol=1e-15)
    Jt = jacobian(softmax)(ag.tensor(x))
    assert isinstance(Jt, ag.Tensor)
    np.testing.assert_allclose(Jt.data, J, atol=1e-15)


def test_jacobian_shape_is_out_shape_plus_arg_shape():
    x = RNG.standard_normal((2, 3))
    w = RNG.standard_normal((3, 4))
    Jx, Jw = jacobian(lambda a, b: (a @ b).tanh(), argnums=(0, 1))(x, w)
    assert Jx.shape == (2, 4, 2, 3) and Jw.shape == (2, 4, 3, 4)
    nx, nw = numerical_jacobian(lambda a, b: (a @ b).tanh(), x, w)
    np.testing.assert_allclose(Jx, nx, atol=1e-9)
    np.testing.assert_allclose(Jw, nw, atol=1e-9)


def test_hessian_of_quadratic_form_is_symmetric_part():
    A = RNG.standard_normal((4, 4))
    x = RNG.standard_normal(4)

    def f(t):
        return 0.5 * (t @ (A @ t))

    np.testing.assert_allclose(hessian(f)(x), (A + A.T) / 2, atol=1e-14)
    Ht = hessian(f)(ag.tensor(x))
    assert isinstance(Ht, ag.Tensor) and Ht.shape == (4, 4)
    np.testing.assert_allclose(Ht.data, (A + A.T) / 2, atol=1e-14)


def test_hessian_of_sum_tanh_matches_closed_form_in_100_dims():
    W = RNG.standard_normal((100, 100)) / 10
    x = RNG.standard_normal(100)
    H = hessian(lambda t: (W @ t).tanh().sum())(x)
    th = np.tanh(W @ x)
    expected = W.T @ np.diag(-2 * th * (1 - th**2)) @ W
    assert H.shape == (100, 100)
    np.testing.assert_allclose(H, expected, atol=1e-13)


def test_hessian_with_two_argnums_is_nested_blocks():
    x, y = RNG.standard_normal(2), RNG.standard_normal(3)

    def f(a, b):
        return (a.sin().sum() * b**2).sum()

    H = hessian(f, argnums=(0, 1))(x, y)
    assert H[0][0].shape == (2, 2) and H[0][1].shape == (2, 3)
    assert H[1][0].shape == (3, 2) and H[1][1].shape == (3, 3)
    s = np.sin(x).sum()
    np.testing.assert_allclose(H[0][0], np.diag(-np.sin(x)) * np.sum(y**2), atol=1e-14)
    np.testing.assert_allclose(H[0][1], 2 * np.outer(np.cos(x), y), atol=1e-14)
    np.testing.assert_allclose(H[1][0], H[0][1].T, atol=1e-14)
    np.testing.assert_allclose(H[1][1], 2 * s * np.eye(3), atol=1e-14)


def test_jacobian_of_grad_is_the_hessian():
    x = RNG.standard_normal(3)

    def f(t):
        return (t.exp() * t.sin()).sum()

    np.testing.assert_allclose(jacobian(grad(f))(x), hessian(f)(x), atol=1e-13)


def test_transforms_of_float32_inputs_give_float32():
    x = np.array([0.5, 1.0], dtype=np.float32)
    assert jacobian(lambda t: t.exp())(x).dtype == np.float32
    assert hessian(lambda t: t.exp().sum())(x).dtype == np.float32


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
def test_batched_jacobian_equals_row_by_row_backward(case):
    """The batched vjp rules give exactly what the engine's backward gives, op by op."""
    xs = sample_inputs(case, np.random.default_rng(7))
    nums = tuple(range(len(xs)))
    batched = jacobian(case.fn, argnums=nums)(*xs)  # NumPy mode: batched rules
    rows = jacobian(case.fn, argnums=nums)(*(ag.tensor(x) for x in xs))  # engine, per row
    for b, r in zip(batched, rows):
        np.testing.assert_allclose(b, r.data, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize(
    "shape, index",
    [
        ((2, 1, 2), ((0, 1), slice(None), (1, 0))),
        ((2, 3, 4), ((0, 1), slice(None), (1, 2))),
        ((2, 3, 4), (1, slice(None), (3, 0))),
        ((2, 3, 4), (0, slice(None), True)),
    ],
    ids=["a[(0,1),:,(1,0)]", "a[(0,1),:,(1,2)]", "a[1,:,(3,0)]", "a[0,:,True]"],
)
def test_jacobian_and_hessian_through_tuple_indices_split_by_a_slice(shape, index):
    # NumPy reads a tuple (or a bool) inside an index as an index array: split by a slice,
    # such indices put their axes first, where the batched rules' batch axis would be.
    x = RNG.standard_normal(shape)
    n = np.empty(shape)[index].size
    M = RNG.standard_normal((n, n))  # mixes the outputs: a transposed batch axis shows

    def f(a):
        return a[index].sin().reshape(n) @ M

    J = jacobian(f)(x)
    np.testing.assert_allclose(J, jacobian(f)(ag.tensor(x)).data, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(J, numerical_jacobian(f, x), atol=1e-8)

    mask = np.zeros(shape)
    np.add.at(mask, index, 1.0)
    H = hessian(lambda a: (a[index] ** 3).sum())(x)
    np.testing.assert_allclose(H, np.diag((6 * x * mask).ravel()).reshape(shape + shape))


@settings(max_examples=40, deadline=None)
@given(expressions(max_depth=3))
def test_batched_hessian_equals_row_by_row_on_random_expressions(expr):
    def f(*xs):
        out = expr.fn(*xs)
        return (out * out).sum()

    nums = tuple(range(len(expr.inputs)))
    batched = hessian(f, argnums=nums)(*expr.inputs)
    rows = hessian(f, argnums=nums)(*expr.tensors(requires_grad=False))
    for bi, ri in zip(batched, rows):
        for b, r in zip(bi, ri):
            np.testing.assert_allclose(b, r.data, rtol=1e-9, atol=1e-10)


def test_batched_vjp_rows_are_individual_vjps():
    x = ag.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    out = (x.exp()[[0, 2, 2]] * x.sum(axis=0)).max(axis=1)
    cots = RNG.standard_normal((5,) + out.shape)
    (res,) = batched_vjp([out], [cots], [x])
    for b in range(5):
        (g,) = ag.engine.backward([out], [cots[b]], retain_graph=True, inputs=[x])
        np.testing.assert_allclose(res[b], g, rtol=1e-14)


class Cube(ag.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a**3

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * 3 * a**2


class CubeInNumpy(Cube):
    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g.data * 3 * a**2  # plain NumPy: right, but not differentiable


def test_jacobian_through_a_user_function_falls_back_per_row():
    x = RNG.standard_normal(4)
    J = jacobian(lambda t: Cube.apply(t.sin()))(x)
    np.testing.assert_allclose(J, np.diag(3 * np.sin(x) ** 2 * np.cos(x)), atol=1e-14)


def test_a_user_backward_in_numpy_gives_jvp_and_refuses_second_derivatives():
    x = np.array([1.0, -2.0, 0.5])
    t = np.array([1.0, 0.5, -2.0])
    _, jt = jvp(CubeInNumpy.apply, (x,), (t,))  # was silently 0
    np.testing.assert_allclose(jt, 3 * x**2 * t)
    _, jt = jvp(CubeInNumpy.apply, (ag.tensor(x),), (ag.tensor(t),))
    np.testing.assert_allclose(jt.data, 3 * x**2 * t)
    np.testing.assert_allclose(
        grad(lambda a: CubeInNumpy.apply(a).sum())(ag.tensor(x)).data, 3 * x**2
    )
    with pytest.raises(RuntimeError, match="CubeInNumpy.backward"):  # was a silent zero Hessian
        hessian(lambda a: CubeInNumpy.apply(a).sum())(x)
    a = ag.tensor(x, requires_grad=True)
    CubeInNumpy.apply(a).sum().backward(create_graph=True)
    g = a.grad  # right, but it cannot be differentiated again
    np.testing.assert_allclose(g.data, 3 * x**2)
    with pytest.raises(RuntimeError, match="Tensor operations"):
        g.sum().backward()


# ------------------------------------------------------------------ vjp and jvp


def test_vjp_matches_cotangent_times_jacobian_and_can_be_called_twice():
    x, y = RNG.standard_normal((2, 3)), RNG.standard_normal(3)

    def f(a, b):
        return (a * b).tanh()

    out, vjp_fn = vjp(f, x, y)
    np.testing.assert_allclose(out, np.tanh(x * y))
    Jx, Jy = jacobian(f, argnums=(0, 1))(x, y)
    for _ in range(2):
        ct = RNG.standard_normal((2, 3))
        gx, gy = vjp_fn(ct)
        np.testing.assert_allclose(gx, np.tensordot(ct, Jx, axes=2), atol=1e-14)
        np.testing.assert_allclose(gy, np.tensordot(ct, Jy, axes=2), atol=1e-14)
    with pytest.raises(ValueError, match=r"shape \(3,\).*\(2, 3\)"):
        vjp_fn(np.ones(3))


def test_vjp_with_tensors_is_differentiable_in_the_cotangent():
    x = ag.tensor([0.3, -0.4], requires_grad=True)
    out, vjp_fn = vjp(lambda t: t.sin(), x)
    ct = ag.tensor([1.0, 2.0], requires_grad=True)
    (g,) = vjp_fn(ct)
    g.sum().backward()
    np.testing.assert_allclose(ct.grad.data, np.cos(x.data), rtol=1e-15)
    np.testing.assert_allclose(x.grad.data, -np.sin(x.data) * ct.data, rtol=1e-15)


def _fd_directional(f, xs, ts, eps=1e-6):
    plus = f(*[x + eps * t for x, t in zip(xs, ts)])
    minus = f(*[x - eps * t for x, t in zip(xs, ts)])
    return (plus - minus) / (2 * eps)


@settings(max_examples=40, deadline=None)
@given(expressions(max_depth=3), st.integers(0, 2**32 - 1))
def test_jvp_matches_finite_differences_on_random_expressions(expr, seed):
    rng = np.random.default_rng(seed)
    tangents = tuple(rng.standard_normal(x.shape) for x in expr.inputs)
    out, tout = jvp(expr.fn, expr.inputs, tangents)

    def f_np(*xs):
        return expr.fn(*(ag.tensor(x) for x in xs)).data

    np.testing.assert_allclose(out, f_np(*expr.inputs), rtol=1e-12)
    expected = _fd_directional(f_np, expr.inputs, tangents)
    np.testing.assert_allclose(tout, expected, rtol=1e-5, atol=1e-6)


def test_jvp_through_a_0d_input_gathered_twice():
    # Found by the random-expression test: the second (plain) backward of the double-vjp
    # adds 0-d NumPy scalars together.
    def f(x):
        a = x.reshape(-1)[[0, 0, 0, 0]]
        b = x.reshape(-1)[[0, 0, 0, 0]]
        return (a @ b) * 0.18

    out, t = jvp(f, (np.array(0.3),), (np.array(1.0),))
    assert out == pytest.approx(0.18 * 4 * 0.09)
    assert t == pytest.approx(0.18 * 8 * 0.3)


def test_jvp_in_tensor_mode_adds_the_gradients_of_a_root_reached_twice():
    # add passes its cotangent to both inputs unchanged, so the double-vjp's second backward
    # is given the same tensor twice as a root: its two tangents must add up, not overwrite.
    a, b = ag.tensor(0.3), ag.tensor(0.4)
    out, t = jvp(lambda a, b: (a + b).sin(), (a, b), (ag.tensor(1.0), ag.tensor(1.0)))
    assert out.item() == pytest.approx(np.sin(0.7), rel=1e-15)
    assert t.item() == pytest.approx(2 * np.cos(0.7), rel=1e-15)
    out, t = jvp(lambda a, b: (a + b).sin(), (a, b), (ag.tensor(1.0), ag.tensor(-3.0)))
    assert t.item() == pytest.approx(-2 * np.cos(0.7), rel=1e-15)


def test_jvp_equals_jacobian_times_tangent_and_is_linear():
    x = RNG.standard_normal(4)
    W = RNG.standard_normal((3, 4))

    def f(t):
        return (W @ t).tanh() * t[:3]

    J = jacobian(f)(x)
    t1, t2 = RNG.standard_normal(4), RNG.standard_normal(4)
    _, j1 = jvp(f, (x,), (t1,))
    _, j2 = jvp(f, (x,), (t2,))
    _, j12 = jvp(f, (x,), (2 * t1 - t2,))
    np.testing.assert_allclose(j1, J @ t1, atol=1e-14)
    np.testing.assert_allclose(j12, 2 * j1 - j2, atol=1e-13)


def test_jvp_of_scalar_function_and_tensor_mode():
    out, t = jvp(ag.sin, (0.5,), (2.0,))
    assert out == pytest.approx(np.sin(0.5)) and t == pytest.approx(2 * np.cos(0.5))
    x = ag.tensor([0.5, 1.0], requires_grad=True)
    out, tout = jvp(lambda a: a.exp(), (x,), (ag.tensor([1.0, 0.0]),))
    assert isinstance(tout, ag.Tensor)
    np.testing.assert_allclose(tout.data, [np.exp(0.5), 0.0])
    tout.sum().backward()  # d/dx of exp(x)·t
    np.testing.assert_allclose(x.grad.data, [np.exp(0.5), 0.0])


def test_jvp_argument_errors():
    with pytest.raises(TypeError, match="tuples"):
        jvp(ag.sin, 0.5, 1.0)
    with pytest.raises(ValueError, match="1 primals but 2 tangents"):
        jvp(ag.sin, (0.5,), (1.0, 2.0))
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\)"):
        jvp(ag.sin, (np.ones(3),), (np.ones(2),))


def test_jvp_rejects_a_bad_tangent_before_calling_f():
    calls = []

    def f(x):
        calls.append(x)
        return x.sin()

    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\)"):
        jvp(f, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match="tangent 0 has dtype complex128"):
        jvp(f, (ag.tensor([1.0]),), (ag.tensor(np.array([1j])),))
    assert calls == []


def test_jvp_of_constant_function_is_zero():
    out, t = jvp(lambda a: ag.tensor([1.0, 2.0]), (np.ones(3),), (np.ones(3),))
    np.testing.assert_array_equal(t, [0.0, 0.0])


def test_public_names_are_exported():
    import importlib

    # By name: the package's attribute `gradcheck` is the function, not the module.
    gc_mod = importlib.import_module("autograd_mini.gradcheck")
    tr_mod = importlib.import_module("autograd_mini.transforms")

    for name in ("grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian"):
        assert getattr(ag, name) is getattr(tr_mod, name)
    for name in ("numerical_grad", "numerical_jacobian", "gradcheck", "gradgradcheck"):
        assert getattr(ag, name) is getattr(gc_mod, name)
    assert ag.GradcheckError is gc_mod.GradcheckError


# ------------------------------------------------------------------ found by mutation testing


def test_argnums_naming_one_argument_twice_via_a_negative_index_is_refused():
    def f(x, y):
        return x * y

    with pytest.raises(ValueError, match="repeats an argument"):
        grad(f, argnums=(1, -1))(2.0, 3.0)
    assert grad(f, argnums=-1)(2.0, 3.0) == 2.0


def test_jacobian_and_hessian_split_into_many_batches_are_exact(monkeypatch):
    # With a tiny batch cap every row of the identity goes through in its own batch.
    import autograd_mini.transforms as tr_mod

    monkeypatch.setattr(tr_mod, "_BATCH_ELEMENTS", 4)
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    x = np.array([0.5, -1.0, 2.0, 0.0, 3.0])
    np.testing.assert_array_equal(jacobian(lambda t: t * w)(x), np.diag(w))
    np.testing.assert_array_equal(hessian(lambda t: (t**2 * w).sum())(x), np.diag(2 * w))


def test_jvp_through_a_user_function_sums_over_all_primals():
    x, y = np.array([1.0, -2.0]), np.array([3.0, 0.5])
    tx, ty = np.array([1.0, 2.0]), np.array([-1.0, 4.0])
    _, jt = jvp(lambda a, b: Cube.apply(a) * b, (x, y), (tx, ty))
    np.testing.assert_allclose(jt, 3 * x**2 * tx * y + x**3 * ty)  # [7, -32]


def test_cotangent_of_another_dtype_gives_gradients_of_the_primals_dtype():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    _, vjp_fn = vjp(lambda t: t * 2, x)
    (g,) = vjp_fn(np.ones(3))  # float64 cotangent
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, [2.0, 2.0, 2.0])


def test_jacobian_of_an_empty_output_keeps_the_input_dtype():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    J = jacobian(lambda t: t[:0])(x)
    assert J.shape == (0, 3) and J.dtype == np.float32


def test_grad_of_an_empty_output_is_a_clear_error():
    with pytest.raises(ValueError, match="single element"):
        grad(lambda t: t[:0])(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="single element"):
        value_and_grad(lambda t: t[:0])(np.array([1.0, 2.0]))


def test_value_and_grad_value_is_a_numpy_scalar_for_a_0d_output():
    v, g = value_and_grad(lambda t: (t**2).sum())(np.array([1.0, 2.0]))
    assert type(v) is np.float64 and v == 5.0
    np.testing.assert_array_equal(g, [2.0, 4.0])


def test_batched_vjp_adds_the_cotangents_of_a_root_given_twice():
    x = ag.tensor(np.array([1.0, 2.0]), requires_grad=True)
    out = x * 3
    c1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    c2 = np.array([[2.0, 0.0], [1.0, 1.0]])
    (res,) = batched_vjp([out, out], [c1, c2], [x])
    np.testing.assert_array_equal(res, 3 * (c1 + c2))
