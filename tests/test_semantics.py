"""Backward semantics of API.md §2: every rule here has a test that fails if the rule breaks."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import engine


def leaf(values, dtype=None):
    return ag.tensor(values, requires_grad=True, dtype=dtype)


# ------------------------------------------------------------------ accumulation & graph reuse


def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])


def test_node_used_twice_gets_both_contributions():
    x = leaf(3.0)
    y = x * 2
    (y * y + y).backward()  # d/dx (4x² + 2x) = 8x + 2
    assert x.grad.item() == 26.0


def test_second_backward_without_retain_graph_is_an_error():
    x = leaf([1.0, 2.0])
    out = (x.exp() * 2).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="second time"):
        out.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    out = (x * x).sum()
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])


def test_an_intermediate_saved_by_the_forward_reaches_the_rule_unless_backward_is_recorded():
    # `saving`: exp(x) computed once in the forward of f(x) = sum(exp(x)), handed to the rule
    # as `ans`; a recorded backward gets None and recomputes it with differentiable ops.
    from autograd_mini.ops import exp, primitive

    seen = []

    def rule(g, e, x):  # noqa: ANN001, ANN202
        seen.append(None if e is None else e.copy())
        return g * (exp(x) if e is None else e)

    def saving(x):  # noqa: ANN001, ANN202
        e = np.exp(x)
        return e.sum(), e

    op = primitive("sum_exp", lambda x: np.exp(x).sum(), rule, saving=saving)
    x0 = np.array([0.0, 1.0, -2.0])
    assert op(x0) == np.exp(x0).sum()  # on raw arrays: the output alone
    x = leaf(x0)
    out = op(x)
    out.backward(retain_graph=True)
    out.backward()  # the kept intermediate was not changed by the first pass
    np.testing.assert_array_equal(x.grad.data, 2 * np.exp(x0))
    assert len(seen) == 2 and all(np.array_equal(e, np.exp(x0)) for e in seen)
    x.grad = None
    op(x).backward(create_graph=True)
    assert seen[-1] is None
    g = x.grad
    x.grad = None
    g.sum().backward()  # d²/dx² sum(exp(x)) = exp(x)
    np.testing.assert_allclose(x.grad.data, np.exp(x0), rtol=1e-15)
    with ag.no_grad():
        assert op(x).grad_fn is None


def test_saved_arrays_are_freed_after_backward():
    x = leaf(np.ones(4))
    h = x * 2
    out = (h * h).sum()
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is not None  # the graph still needs h
    out.backward()
    gc.collect()
    assert ref() is None  # freed by backward although `out` is alive


def test_weakref_to_intermediate_dies_after_output_is_deleted():
    x = leaf(np.arange(3.0))
    h = x.tanh()
    out = h.sum()
    ref = weakref.ref(h)
    del h
    out.backward(retain_graph=True)
    del out
    assert ref() is None  # no reference cycles: freed without the cyclic collector


@pytest.mark.parametrize(
    "step",
    [lambda y, z: y.sin(), lambda y, z: y + z, lambda y, z: y * 0.5],
    ids=["unary", "two tensors", "tensor and number"],
)
def test_a_recorded_op_leaves_two_objects_for_the_cyclic_collector(step):
    # The output Tensor and its Node, nothing more: each object the collector tracks is
    # walked again at every collection while the graph lives (W7's chain spent half its
    # time there when a node also kept tuples of its inputs, edges and versions).
    x, z = leaf(np.ones(3)), leaf(np.ones(3))
    y = x * 1
    gc.disable()
    try:
        before = gc.get_count()[0]
        for _ in range(100):
            y = step(y, z)
        made = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert made == 200


@pytest.mark.parametrize("arity", [1, 2, 3])
def test_a_node_shows_its_inputs_edges_and_versions_for_any_number_of_inputs(arity):
    x, z = leaf(np.ones(3)), leaf(np.full(3, 2.0))
    h = x * 1  # a non-leaf input: its edge is its Node
    c = np.array([True, False, True])
    out, inputs, edges, versions = {
        1: (h.sin(), (h,), (h._node,), (0,)),
        2: (h * 3.0, (h, 3.0), (h._node, None), (engine.UNCHECKED, None)),
        3: (ag.where(c, h, z), (c, h, z), (None, h._node, z), (None,) + (engine.UNCHECKED,) * 2),
    }[arity]
    node = out._node

    def same(got, want):  # Tensors and Nodes by identity; a constant array by value
        return len(got) == len(want) and all(
            g is w or (type(w) is not ag.Tensor and np.array_equal(g, w))
            for g, w in zip(got, want, strict=True)
        )

    assert same(node.inputs, inputs)
    assert same(node.edges, edges)
    assert node.versions == versions
    out.sum().backward()
    assert node.inputs is None and node.datas is None  # freed by the backward...
    assert same(node.edges, edges)  # ...which leaves the graph's structure (viz draws it)
    with pytest.raises(RuntimeError, match="second time"):
        out.sum().backward()


def test_backward_non_scalar_needs_gradient():
    x = leaf([1.0, 2.0])
    y = x * 3
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        y.backward()
    with pytest.raises(RuntimeError):  # PyTorch users catch RuntimeError; both work
        y.backward()


@pytest.mark.parametrize("make", [lambda a: a, lambda a: ag.tensor(a), lambda a: list(a)])
def test_backward_with_gradient_tensor_array_or_list(make):
    x = leaf([1.0, 2.0])
    y = x * 3
    y.backward(make(np.array([1.0, 10.0])))
    np.testing.assert_array_equal(x.grad.data, [3.0, 30.0])


def test_backward_with_wrongly_shaped_gradient():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 3).backward(np.ones(3))


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ag.tensor([1.0]).sum().backward()


def test_backward_on_a_leaf_seeds_one():
    x = leaf(2.0)
    x.backward()
    assert x.grad.item() == 1.0


def test_leaf_gradients_do_not_alias():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.data, y.grad.data)
    (x + y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
    np.testing.assert_array_equal(y.grad.data, [2.0, 2.0])


def test_user_seed_gradient_is_not_aliased_or_mutated():
    x = leaf([1.0, 2.0])
    g = np.array([1.0, 1.0])
    (x + 0).backward(g)
    (x + 0).backward(g)
    np.testing.assert_array_equal(g, [1.0, 1.0])
    assert not np.shares_memory(x.grad.data, g)


def test_inputs_are_not_mutated_by_backward():
    a = np.array([[1.0, -2.0], [3.0, 0.5]])
    x = ag.tensor(a, requires_grad=True)
    (x @ x.T).relu().sum().backward()
    np.testing.assert_array_equal(x.data, a)


def test_long_chain_has_no_recursion_limit():
    x = leaf(0.5)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_constant_inputs_get_no_gradient_and_are_not_touched():
    x = leaf(np.ones((2, 2)))
    c = ag.tensor(np.full((2, 2), 3.0))
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad.data, np.full((2, 2), 3.0))


def test_non_leaf_has_no_grad_unless_retained():
    x = leaf([1.0, 2.0])
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_array_equal(k.grad.data, h.data)


# ------------------------------------------------------------------ create_graph


def test_create_graph_gives_second_derivatives():
    x = leaf(2.0)
    y = x**3
    y.backward(create_graph=True)
    g = x.grad
    assert g.item() == 12.0 and g.requires_grad
    x.grad = None
    g.backward()
    assert x.grad.item() == 12.0  # d²/dx² x³ = 6x


def test_create_graph_mixed_partials():
    x, y = leaf(1.5), leaf(-0.5)
    f = (x * y).sin()
    (gx, gy) = engine.backward([f], [np.ones(())], True, True, inputs=[x, y])
    (gxy,) = engine.backward([gx], [np.ones(())], True, False, inputs=[y])
    # d²/dxdy sin(xy) = cos(xy) - xy sin(xy)
    xy = 1.5 * -0.5
    np.testing.assert_allclose(gxy, np.cos(xy) - xy * np.sin(xy), rtol=1e-14)


# ------------------------------------------------------------------ grad mode


def test_no_grad_context_and_decorator():
    x = leaf([1.0])
    with ag.no_grad():
        assert not (x * 2).requires_grad
        with ag.enable_grad():
            assert (x * 2).requires_grad
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()

    @ag.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert ag.is_grad_enabled()


def test_set_grad_enabled():
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = []
    with ag.no_grad():
        t = threading.Thread(target=lambda: seen.append(ag.is_grad_enabled()))
        t.start()
        t.join()
        assert not ag.is_grad_enabled()
    assert seen == [True]


# ------------------------------------------------------------------ in-place and versions


def test_in_place_on_leaf_requiring_grad_is_an_error():
    x = leaf([1.0, 2.0])
    for op in (lambda: x.__iadd__(1), lambda: x.__setitem__(0, 5.0), x.zero_, lambda: x.fill_(1)):
        with pytest.raises(RuntimeError, match="leaf"):
            op()
    with ag.no_grad():
        x -= 0.5
        x[1] = 7.0
    np.testing.assert_array_equal(x.data, [0.5, 7.0])


def test_in_place_change_of_an_input_no_needed_rule_reads_is_fine():
    # As PyTorch, which checks only what an op saved: d(2y)/dy does not read y, d(y/2)/dy
    # neither, and y @ c needs only c for y's gradient.
    x = leaf(np.arange(4.0))
    c = ag.tensor(np.ones((4, 2)))
    y = x * 1.0
    z = y * 2.0 + y / 2.0 + (y @ c).sum() + ag.where(y.detach() > 1, y, 0.0)
    y += 1.0
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [10.5, 10.5, 11.5, 11.5])  # 2 + ½ + 4·2 + mask
    w = leaf([1.0, 2.0, 3.0, 4.0])
    y = x * 1.0
    z = y * w  # w's gradient reads y: changing y must still raise
    y += 1.0
    with pytest.raises(RuntimeError, match="input 0 of 'mul'"):
        z.sum().backward()


def test_in_place_change_of_saved_tensor_is_detected():
    w = leaf([1.0, 2.0])
    x = ag.tensor([3.0, 4.0])
    y = (w * x).sum()
    x += 1  # mul saved x for dy/dw
    with pytest.raises(RuntimeError, match="modified by an in-place operation.*mul"):
        y.backward()


def test_accumulating_into_a_grad_that_an_op_saved_is_detected():
    # A second backward adds into x.grad in place; an op that saved x.grad must see the change.
    x = leaf([1.0, 2.0])
    (x * 2).sum().backward()
    w = leaf([3.0, 4.0])
    z = (w * x.grad).sum()  # mul saved x.grad (= [2, 2]) for dz/dw
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])
    with pytest.raises(RuntimeError, match="modified by an in-place operation.*input 1 of 'mul'"):
        z.backward()


def test_in_place_change_of_saved_output_is_detected():
    x = leaf([0.1, 0.2])
    y = x.exp()
    z = y.sum()
    with ag.no_grad():
        y.data  # noqa: B018 - plain access does not bump
        y += 1  # exp saved its output
    with pytest.raises(RuntimeError, match="exp"):
        z.backward()


def test_a_version_counter_made_late_still_sees_changes_made_after_an_op_read_the_tensor():
    # An op's output gets its version counter only when something needs one (a view, an
    # in-place change, an op that saves it), so a long graph holds one object fewer per op.
    # An op that read it before that recorded version 0, which a later change still breaks.
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    t = x * 2
    assert t._vcell is ag.engine._UNWRITTEN  # nothing has needed it yet
    z = (t * w).sum()  # d/dw reads t at version 0
    with ag.no_grad():
        t += 1
    assert t._version[0] == 1
    with pytest.raises(RuntimeError, match="input 0 of 'mul'.*at version 1; expected version 0"):
        z.backward()
    # A view made first shares the counter it creates: a write through it is seen as well.
    t = x * 2
    z = (t * w).sum()
    v = t[:1]
    assert v._version is t._version
    with ag.no_grad():
        v += 1
    with pytest.raises(RuntimeError, match="input 0 of 'mul'"):
        z.backward()
    np.testing.assert_array_equal(t.data, [3.0, 4.0])


def test_in_place_change_through_a_view_is_detected():
    w = leaf([1.0, 2.0, 3.0])
    x = ag.tensor([1.0, 1.0, 1.0])
    y = (w * x).sum()
    v = x[1:]
    v *= 5  # changes x's memory: views share the version counter
    assert x.data[1] == 5.0
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_recorded_in_place_ops_give_correct_gradients():
    x = leaf([1.0, 2.0])
    y = x * 2
    y += x  # y = 3x
    y *= x  # y = 3x²
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [6.0, 12.0])


def test_recorded_setitem():
    x = leaf([1.0, 2.0, 3.0])
    w = leaf(10.0)
    y = x * 1
    y[1] = w * 2
    (y * ag.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(y.data, [1.0, 20.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 3.0])
    assert w.grad.item() == 4.0


def test_in_place_errors_name_op_shapes_and_dtypes():
    a = ag.zeros(2, 3)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        a += np.ones((4, 3))
    i = ag.tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        i += 0.5


# ------------------------------------------------------------------ anomaly


def test_anomaly_in_forward_names_the_op():
    x = leaf([1.0, -1.0])
    with np.errstate(invalid="ignore"), ag.detect_anomaly():
        with pytest.raises(RuntimeError, match="'log'"):
            x.log()
    assert not ag.is_anomaly_enabled()


def test_anomaly_in_backward_names_the_op():
    x = leaf([0.0, 1.0])
    with np.errstate(divide="ignore"), ag.detect_anomaly():
        y = x.sqrt().sum()  # forward is finite
        with pytest.raises(RuntimeError, match="'sqrt'"):
            y.backward()  # d sqrt/dx at 0 is inf


def test_without_anomaly_mode_inf_passes_silently():
    x = leaf([0.0])
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad.data).all()


# ------------------------------------------------------------------ dtypes


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_requires_grad_on_integer_or_bool_is_an_error(dtype):
    with pytest.raises(TypeError, match="floating"):
        ag.tensor(np.zeros(2, dtype=dtype), requires_grad=True)
    with pytest.raises(TypeError):
        ag.tensor(np.zeros(2, dtype=dtype)).requires_grad_()


def test_float32_stays_float32_end_to_end():
    x = leaf(np.array([[0.5, -1.0]], dtype=np.float32))
    w = leaf(np.ones((2, 3), dtype=np.float32))
    y = ((x @ w).tanh() * 2.5 + 1.0).sigmoid().mean()
    assert y.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_mixed_dtype_gradient_has_input_dtype():
    x = leaf(np.array([1.0, 2.0], dtype=np.float32))
    y = x * np.array([1.0, 2.0])  # float64 operand promotes the output
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32


ZERO_DIM_PROMOTION = [  # (tensor with dims, 0-d tensor, result, result when both are alike)
    ("float32", "float64", "float32", "float64"),  # same kind: the tensor with dims wins
    ("float16", "float32", "float16", "float32"),
    ("int32", "int64", "int32", "int64"),
    ("int8", "int64", "int8", "int64"),
    ("uint8", "int64", "uint8", "int64"),
    ("float32", "int64", "float32", "float32"),  # a lower kind does not widen either
    ("int32", "float64", "float64", "float64"),  # a higher kind: the 0-d tensor's dtype
    ("int32", "float32", "float32", "float32"),
    ("bool", "int64", "int64", "int64"),
]  # (PyTorch's dtypes in every column)


@pytest.mark.parametrize(("dims", "zero_dim", "result", "alike"), ZERO_DIM_PROMOTION)
def test_a_zero_dim_tensor_promotes_as_in_pytorch(dims, zero_dim, result, alike):
    x = ag.tensor(np.array([1, 2, 3]).astype(dims))
    z = ag.tensor(np.array(2).astype(zero_dim))
    for f in (lambda a, b: a + b, lambda a, b: a * b, ag.maximum, ag.minimum):
        assert f(x, z).dtype == result and f(z, x).dtype == result
    if dims != "bool":  # (where with a bool condition, any number of operands)
        cond = np.array([True, False, True])
        assert ag.where(cond, x, z).dtype == result and ag.where(cond, z, x).dtype == result
    assert (ag.tensor(np.array(1).astype(dims)) * z).dtype == alike  # both 0-d
    assert (x * z.reshape(1)).dtype == alike  # both with dimensions


def test_a_float64_zero_dim_tensor_keeps_a_float32_product_and_gets_a_float64_gradient():
    x = leaf(np.array([1.0, 2.0], np.float32))
    s = leaf(2.0)
    y = x * s / s**2
    assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == np.float32 and s.grad.dtype == np.float64
    np.testing.assert_allclose(s.grad.item(), -3.0 / 4.0)
    np.testing.assert_array_equal(x.grad.data, [0.5, 0.5])


def test_pow_of_a_float32_base_to_a_float64_exponent_has_float64_gradients():
    # The output is float64, so d/dy xʸ = xʸ·ln x is too: ln x in float32 would lose half
    # the digits (about 3e-8 relative).
    x = ag.tensor(np.float32(1.7))
    xb, ys = float(np.float32(1.7)), np.array([0.3, 2.0])
    f = lambda y: (x**y).sum()  # noqa: E731
    np.testing.assert_allclose(ag.grad(f)(ys).data, xb**ys * np.log(xb), rtol=1e-15)
    second = ag.grad(lambda y: ag.grad(f)(y).sum())(ys)  # the rule, recorded, in float64 too
    np.testing.assert_allclose(second.data, xb**ys * np.log(xb) ** 2, rtol=1e-14)


def test_python_floats_use_default_dtype():
    assert ag.tensor([1.0]).dtype == np.float64
    assert ag.tensor([1]).dtype == np.int64
    ag.set_default_dtype("float32")
    try:
        assert ag.tensor([1.0]).dtype == np.float32
        assert ag.zeros(2).dtype == np.float32
        assert ag.tensor(np.zeros(1)).dtype == np.float64  # arrays keep their dtype
    finally:
        ag.set_default_dtype(np.float64)


FLOAT_FUNCTIONS = {
    "exp": ag.exp, "log": ag.log, "sqrt": ag.sqrt, "sin": ag.sin, "cos": ag.cos,
    "tanh": ag.tanh, "sigmoid": ag.sigmoid, "logsumexp": lambda t: ag.logsumexp(t, axis=0),
    "softmax": ag.nn.functional.softmax, "log_softmax": ag.nn.functional.log_softmax,
}  # fmt: skip


@pytest.mark.parametrize("default", [np.float64, np.float32])
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int64])
def test_float_functions_of_ints_and_bools_use_the_default_dtype(dtype, default):
    # As PyTorch. NumPy would pick the smallest float that holds the ints: float16 for int8,
    # where exp(12) overflows to inf.
    values = np.array([12, 3, 1], dtype=dtype)
    ag.set_default_dtype(default)
    try:
        for name, f in FLOAT_FUNCTIONS.items():
            for arg in (ag.tensor(values), values):
                out = f(arg)
                assert out.dtype == default, name
                want = f(ag.tensor(values.astype(np.float64))).data.astype(default)
                np.testing.assert_allclose(out.data, want, rtol=1e-6, atol=1e-6, err_msg=name)
    finally:
        ag.set_default_dtype(np.float64)
    assert np.isfinite(ag.tensor(np.array([12], np.int8)).exp().item())


# ------------------------------------------------------------------ subgradient table


def _grad_of(fn, values):
    x = leaf(values)
    fn(x).sum().backward()
    return x.grad.data


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_clip_pass_the_gradient_bit_for_bit_where_the_input_is_inside(dtype):
    # Their rules multiply by the mask as floats (faster than by bools): nan, ±inf and -0.0
    # in the upstream gradient must come out exactly as g * mask gives them.
    x = np.array([-1.0, 0.0, 2.0, 3.0, -4.0, 0.5, 0.25], dtype)
    g = np.array([np.nan, np.inf, -0.0, -np.inf, 7.0, np.nan, -3.0], dtype)
    for fn, keep in [
        (lambda t: t.relu(), x > 0),
        (lambda t: t.clip(-2.0, 1.0), (x > -2.0) & (x < 1.0)),
        (lambda t: t.clip(None, 1.0), x < 1.0),
    ]:
        t = leaf(x)
        with np.errstate(invalid="ignore"):  # inf · 0 is nan, and meant to be
            fn(t).backward(g)
            expected = g * keep
        assert t.grad.dtype == dtype
        np.testing.assert_array_equal(t.grad.data, expected)  # nan where nan
        np.testing.assert_array_equal(np.signbit(t.grad.data), np.signbit(expected))
    # A batch of cotangents (jacobian's batched backward) and a recorded backward (hessian)
    # take the general path: the same values.
    xs = np.array([-1.0, 2.0, 0.0, 3.0])
    np.testing.assert_array_equal(ag.jacobian(lambda t: t.relu() * 2.0)(xs), np.diag([0, 2, 0, 2]))
    np.testing.assert_array_equal(
        ag.hessian(lambda t: (t.relu() ** 2).sum())(xs), np.diag([0, 2, 0, 2])
    )


def test_subgradient_table():
    """The README's table of subgradient conventions, row by row."""
    np.testing.assert_array_equal(_grad_of(lambda x: x.relu(), [0.0, 1.0, -1.0]), [0, 1, 0])
    np.testing.assert_array_equal(_grad_of(lambda x: x.abs(), [0.0, 2.0, -2.0]), [0, 1, -1])
    np.testing.assert_array_equal(
        _grad_of(lambda x: x.clip(-1.0, 1.0), [-1.0, 1.0, 0.0, 2.0]), [0, 0, 1, 0]
    )
    lo, hi = leaf(-1.0), leaf(1.0)  # tensor bounds take the gradient x does not at a tie
    ag.tensor([-1.0, 1.0, 0.0, 2.0, -3.0]).clip(lo, hi).sum().backward()
    assert (lo.grad.item(), hi.grad.item()) == (2.0, 2.0)
    # Bounds that meet or cross: np.clip is min(max(x, lo), hi), so the output is hi everywhere
    # and hi takes every gradient; lo takes none, even where x <= lo.
    for lo_value in (1.0, 2.0):
        lo, hi = leaf([lo_value] * 4), leaf([1.0] * 4)
        ag.tensor([-1.0, 0.5, 1.0, 2.0]).clip(lo, hi).sum().backward()
        np.testing.assert_array_equal(lo.grad.data, [0.0] * 4)
        np.testing.assert_array_equal(hi.grad.data, [1.0] * 4)
    np.testing.assert_array_equal(_grad_of(lambda x: x.max(), [3.0, 1.0, 3.0]), [0.5, 0, 0.5])
    np.testing.assert_array_equal(_grad_of(lambda x: x.min(), [1.0, 1.0, 1.0]), [1 / 3] * 3)
    np.testing.assert_array_equal(
        _grad_of(lambda x: ag.maximum(x, ag.tensor([1.0, 0.0])), [1.0, 2.0]), [0.5, 1.0]
    )
    np.testing.assert_array_equal(
        _grad_of(lambda x: ag.minimum(x, ag.tensor([1.0, 0.0])), [1.0, 2.0]), [0.5, 0.0]
    )
    np.testing.assert_array_equal(_grad_of(lambda x: x**0, [0.0, 2.0]), [0.0, 0.0])
    y = leaf([1.0, 2.0])
    (ag.tensor([0.0, 2.0]) ** y).sum().backward()
    np.testing.assert_allclose(y.grad.data, [0.0, 4.0 * np.log(2.0)])
    neg = leaf([-1.0])
    with np.errstate(divide="ignore"):
        (ag.tensor([0.0]) ** neg).sum().backward()
    np.testing.assert_array_equal(neg.grad.data, [-np.inf])
    np.testing.assert_array_equal(_grad_of(lambda x: x.std(), [2.0, 2.0]), [0.0, 0.0])


def test_clip_with_tensor_bounds_gives_them_their_gradients():
    # As torch.clamp(x, min=Tensor, max=Tensor): elementwise, broadcast bounds; where
    # lo > hi the output is hi. Away from ties the values are PyTorch's.
    lo, hi = leaf([0.0, 1.0, 3.0]), leaf([1.0, 2.0, 2.0])
    x = leaf([[0.5, 0.5, 0.5], [5.0, 5.0, 5.0]])
    y = x.clip(lo, hi)
    np.testing.assert_array_equal(y.data, [[0.5, 1.0, 2.0], [1.0, 2.0, 2.0]])
    (y * ag.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(lo.grad.data, [0.0, 2.0, 0.0])
    np.testing.assert_array_equal(hi.grad.data, [1.0, 2.0, 6.0])
    np.testing.assert_array_equal(x.grad.data, [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    b = leaf(0.5)  # a 0-d bound, here only a lower one, of another dtype: x keeps float32
    x32 = ag.tensor(np.array([0.0, 1.0], np.float32))
    z = ag.clamp(x32, b)
    assert z.dtype == np.float32
    z.sum().backward()
    assert b.grad.item() == 1.0
    with pytest.raises(ValueError, match="clip"):
        ag.ones(3).clip(ag.zeros(2))


def test_clip_with_tied_bounds_sends_each_gradient_to_hi_alone():
    # lo == hi: the output is that bound everywhere, min(max(x, lo), hi) takes it from hi, so
    # hi gets every element's gradient and lo and x none; lo.grad + hi.grad is then the
    # derivative along the tie, d/dt Σ w·clip(x, t, t) = Σ w. (torch.clamp gives x the
    # gradient where x == lo == hi and nobody that of x < lo == hi, 5 here, not 6.)
    lo, hi = leaf([1.0, 1.0, 1.0]), leaf([1.0, 1.0, 1.0])
    x = leaf([0.5, 1.0, 2.0])
    y = x.clip(lo, hi)
    np.testing.assert_array_equal(y.data, [1.0, 1.0, 1.0])
    (y * ag.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(hi.grad.data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(lo.grad.data, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])


# ------------------------------------------------------------------ user Functions


class Cube(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x, "note")
        return x**3

    @staticmethod
    def backward(ctx, g):
        x, note = ctx.saved_tensors
        assert note == "note"
        return g * 3 * x**2


def test_function_behaves_like_a_builtin_op():
    x = leaf([1.0, 2.0])
    y = Cube.apply(x)
    assert y.grad_fn.name == "Cube"
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [6.0, 24.0])
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_function_checks_its_gradient_count_shape_and_dtype():
    def doubling(name, backward):
        # x * 2 with the given (wrong) backward, as a user Function named `name`
        return type(name, (ag.Function,), {
            "forward": staticmethod(lambda ctx, x: x * 2),
            "backward": staticmethod(lambda ctx, g: backward(g)),
        })  # fmt: skip

    x = leaf([1.0, 2.0])
    cases = [
        (doubling("TwoGrads", lambda g: (g, g)), "TwoGrads.*2 gradients"),
        (doubling("WrongShape", lambda g: np.ones(5)), r"WrongShape.*\(5,\).*\(2,\)"),
        # a cast to float64 would drop the imaginary part silently
        (doubling("ComplexGrad", lambda g: g * (2 + 1j)), "ComplexGrad.*complex128.*float64"),
    ]
    for fn, message in cases:
        with pytest.raises(RuntimeError, match=message):
            fn.apply(x).sum().backward()
    # Extra gradients that are all None are dropped, as PyTorch drops them.
    doubling("TrailingNone", lambda g: (g * 2, None, None)).apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
    with pytest.raises(RuntimeError, match="ExtraGrad.*3 gradients"):
        doubling("ExtraGrad", lambda g: (g * 2, None, g)).apply(x).sum().backward()


def test_function_input_version_check_and_anomaly():
    class Bad(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x.copy()

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    x = leaf([1.0])
    c = ag.tensor([2.0])
    y = Cube.apply(x * c)
    with pytest.raises(RuntimeError, match="in-place"):
        c += 1
        y.sum().backward()
    with ag.detect_anomaly(), pytest.raises(RuntimeError, match="Bad"):
        Bad.apply(leaf([1.0])).sum().backward()


def test_function_without_grad_inputs_records_nothing():
    y = Cube.apply(ag.tensor([2.0]))
    assert not y.requires_grad and y.is_leaf
    np.testing.assert_array_equal(y.data, [8.0])


def test_function_gradient_for_some_inputs_only():
    class MulConst(ag.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(k)
            return x * k

        @staticmethod
        def backward(ctx, g):
            (k,) = ctx.saved_tensors
            return g * k, None

    x = leaf([1.0, 2.0])
    MulConst.apply(x, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])


# ------------------------------------------------------------------ errors name op and shapes


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: ag.tensor(np.array(["a", "b"])), TypeError, "tensor: .*dtype <U1"),
        (lambda: ag.tensor([1.0, 2.0], dtype=object), TypeError, "tensor: .*dtype object"),
        (lambda: ag.zeros(2, dtype=str), TypeError, "zeros: a tensor holds numbers"),
        (lambda: ag.full((2,), None), TypeError, "full: a tensor holds numbers"),
        (lambda: ag.zeros(-1, 2), ValueError, r"zeros: negative dimension in shape \(-1, 2\)"),
        (lambda: ag.randn(2, -1), ValueError, r"randn: negative dimension in shape \(2, -1\)"),
        (lambda: ag.ones(2.0), TypeError, "ones: shape entries must be integers, got 2.0"),
        (lambda: ag.eye(2.5), TypeError, "eye: expected an integer, got 2.5"),
        (lambda: ag.eye(-1), ValueError, "eye: expected a non-negative integer, got -1"),
        (lambda: ag.linspace(0, 1, 2.5), TypeError, "linspace: expected an integer"),
        (lambda: ag.zeros(2, dtype="foo"), TypeError, "zeros: data type 'foo' not understood"),
        (lambda: ag.ones(4).reshape(2.0, 2), TypeError, "reshape: shape entries must be"),
        (lambda: ag.ones(3).var(ddof="a"), TypeError, "var: ddof must be a number"),
    ],
)
def test_bad_creation_and_shape_arguments_name_the_function(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize(
    ("cond", "dtype"),
    [
        (None, "object"),
        ("abc", "<U3"),
        ([[0.5, 0, 0.2], [0, 0, 0]], "float64"),
        ([1, 0, 1], "int64"),
    ],
)
def test_where_wants_a_bool_condition(cond, dtype):
    # As PyTorch: a float, int or None condition is a mistake NumPy would read as truthiness.
    x = leaf(np.arange(6.0).reshape(2, 3))
    with pytest.raises(TypeError, match=f"where: condition must be a bool tensor.*{dtype}"):
        ag.where(cond, x, 0.0)
    ag.where([True, False, True], x, 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[1, 0, 1], [1, 0, 1]])


@pytest.mark.parametrize(
    ("gradient", "message"),
    [
        (np.ones((2, 3)) * 1j, "gradient of dtype complex128 for an output of dtype float64"),
        (np.full((2, 3), None), "gradient of dtype object"),
        (np.full((2, 3), "a"), "gradient of dtype <U1"),
        ("a", "gradient must be a Tensor, ndarray or number, got str"),
    ],
)
def test_backward_gradient_of_a_wrong_type_is_a_type_error(gradient, message):
    # A complex gradient used to lose its imaginary part and None become NaN, silently.
    x = leaf(np.ones((2, 3)))
    with pytest.raises(TypeError, match=f"backward: {message}"):
        (x * 2).backward(gradient)
    assert x.grad is None


def test_op_errors_name_op_shapes_and_dtypes():
    a, b = ag.ones(2, 3), ag.ones(4, 5)
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 5\)"):
        a @ b
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(4, 5\)"):
        a + b
    with pytest.raises(ValueError, match="reshape"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match="max"):
        ag.zeros(0).max()
    with pytest.raises(IndexError, match="getitem"):
        a[5]
    with pytest.raises(ValueError, match="axis 2"):
        a.sum(axis=2)
    with pytest.raises(ValueError, match="stack"):
        ag.stack([ag.ones(2), ag.ones(3)])


def test_comparisons_are_bool_and_have_no_gradient():
    x = leaf([1.0, 2.0, 3.0])
    for r in (x < 2, x <= 2, x > 2, x >= 2, x == 2, x != 2):
        assert r.dtype == np.bool_ and not r.requires_grad
    np.testing.assert_array_equal((x > 1.5).data, [False, True, True])
    assert x.argmax().item() == 2 and not x.argmax().requires_grad


def test_dim_and_keepdim_aliases():
    x = ag.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.sum(dim=1).data, [3.0, 12.0])
    assert x.mean(dim=0, keepdim=True).shape == (1, 3)
    assert x.max(axis=-1, keepdims=True).shape == (2, 1)
    np.testing.assert_allclose(x.var(dim=1, ddof=1).data, [1.0, 1.0])


# ------------------------------------------------------------------ creation


def test_creation_functions():
    assert ag.zeros(2, 3).shape == (2, 3) and ag.zeros((2, 3)).shape == (2, 3)
    assert ag.ones(2, dtype="float32").dtype == np.float32
    assert ag.full((2,), 7).dtype == np.int64 and ag.full((2,), 7.0).dtype == np.float64
    assert ag.empty(3).shape == (3,)
    assert ag.zeros_like(ag.ones(2, dtype=np.float32)).dtype == np.float32
    np.testing.assert_array_equal(ag.ones_like(np.zeros(3)).data, [1.0, 1.0, 1.0])
    assert ag.arange(5).dtype == np.int64 and ag.arange(0.0, 1.0, 0.25).shape == (4,)
    np.testing.assert_allclose(ag.linspace(0, 1, 5).data, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(ag.eye(2).data, np.eye(2))
    ag.manual_seed(0)
    a = ag.randn(3, 2)
    ag.manual_seed(0)
    b = ag.randn(3, 2)
    np.testing.assert_array_equal(a.data, b.data)
    assert ((ag.rand(100).data >= 0) & (ag.rand(100).data < 1)).all()
    assert ag.rand(2, dtype=np.float32).dtype == np.float32


def test_tensor_copies_and_attributes():
    a = np.array([[1.0, 2.0]])
    t = ag.tensor(a)
    a[0, 0] = 9
    assert t.data[0, 0] == 1.0
    assert (t.shape, t.ndim, t.size, t.dtype) == ((1, 2), 2, 2, np.float64)
    assert t.T.shape == (2, 1) and t.is_leaf and t.item is not None
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.data, x.data)
    with pytest.raises(ValueError, match="one element"):
        ag.ones(2).item()


def test_gradient_for_a_non_leaf_input_stops_there():
    x = leaf([1.0, 2.0])
    h = x.exp()
    (gh,) = engine.backward([(h * h).sum()], [np.ones(())], inputs=[h])
    np.testing.assert_allclose(gh, 2 * np.exp([1.0, 2.0]))
    assert x.grad is None
    # The history below h was not run, so it was not freed: h can still be differentiated.
    h.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp([1.0, 2.0]))


def test_mixed_second_derivative_of_pow_at_zero_exponent():
    x, y = leaf(2.0), leaf(0.0)
    (x**y).backward(create_graph=True)
    gx = x.grad
    assert gx.item() == 0.0  # y·x^(y-1) at y = 0
    x.grad = y.grad = None
    gx.backward()
    assert y.grad.item() == 0.5  # d/dy (y·x^(y-1)) = x^(y-1) + y·x^(y-1)·ln x = 1/x at y = 0


# ------------------------------------------------------------------ review fixes


def test_create_graph_gives_each_leaf_its_own_grad():
    # add sends one gradient tensor to both inputs: their .grad must not be one object.
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward(create_graph=True)
    assert a.grad is not b.grad
    (a * 1).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [2.0, 2.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0])


def test_writing_a_value_that_requires_grad_through_a_view_records_it_in_the_base():
    # As PyTorch rebases the base's history: out[0][1] = v works like out[0, 1] = v.
    w = leaf([2.0, 3.0])
    out = ag.zeros(2, 2)
    out[0][1] = w[0] * 5  # out[0] is a view: the write lands in out, recorded
    assert out.requires_grad
    (out * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [10.0, 0.0])  # PyTorch's values
    w.grad = None
    buf = ag.zeros(4)
    v = buf[0:2]
    v += w
    np.testing.assert_array_equal(buf.data, [2.0, 3.0, 0.0, 0.0])
    assert v.requires_grad and buf.requires_grad
    (buf * ag.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0])
    w.grad = None
    grid = ag.zeros(2, 2)
    grid.T[1] = w  # a transposed view: the base's column 1
    np.testing.assert_array_equal(grid.data, [[0.0, 2.0], [0.0, 3.0]])
    (grid * ag.tensor([[1.0, 2.0], [3.0, 4.0]])).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0])
    u = ag.zeros(2, 2)
    u[0][1] = 7.0  # views of plain data stay writable
    assert u.data[0, 1] == 7.0
    e = ag.zeros(3, 1).expand((3, 2))  # a broadcast view has no memory of its own to write
    with pytest.raises(ValueError, match="read-only"):
        e[0] = w
    with pytest.raises(RuntimeError, match=r"a view \(shape \(2,\)\) of a leaf tensor that"):
        w.T[0] = 5.0  # (w is a leaf that requires grad, as in PyTorch's error)


def test_assigned_value_with_extra_leading_ones_gets_its_gradient():
    x = leaf(np.ones((2, 3)))
    y = x * 1
    v = leaf(np.full((1, 3), 2.0))
    y[0] = v  # NumPy broadcasts the leading 1 away
    (y * y).sum().backward()
    np.testing.assert_array_equal(v.grad.data, [[4.0, 4.0, 4.0]])
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])


def test_assigning_a_grad_value_into_an_int_tensor_does_not_make_it_require_grad():
    a = ag.tensor([1, 2])
    a[0] = leaf(1.5)
    assert not a.requires_grad and a.grad is None
    np.testing.assert_array_equal(a.data, [1, 2])
    a += 1  # still an ordinary int tensor
    np.testing.assert_array_equal(a.data, [2, 3])


def test_grad_mode_decorators_work_without_parentheses():
    @ag.no_grad
    def off(x):
        return x * 2, ag.is_grad_enabled()

    @ag.enable_grad
    def on(x):
        return x * 2

    y, enabled = off(leaf(1.0))
    assert not enabled and not y.requires_grad and off.__name__ == "off"
    with ag.no_grad():
        assert on(leaf(1.0)).requires_grad


def test_function_output_saved_then_changed_in_place_is_detected():
    class Exp(ag.Function):
        @staticmethod
        def forward(ctx, x):
            y = np.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    x = leaf([0.0, 1.0])
    o = Exp.apply(x)
    o += 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        o.sum().backward()


def test_function_returning_its_input_does_not_share_memory_with_it():
    class Ident(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = leaf([0.5, 1.0])
    a = x * 1
    b = a.sin()
    c = Ident.apply(a)
    c += 10  # must not change a, which sin's backward reads
    np.testing.assert_array_equal(a.data, [0.5, 1.0])
    (b.sum() + c.sum()).backward()
    np.testing.assert_allclose(x.grad.data, np.cos([0.5, 1.0]) + 1, rtol=1e-15)


def test_second_derivative_through_a_function_is_an_error_not_a_wrong_number():
    class Sq(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**2

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g  # g is in the graph, x is a plain array

    f = lambda t: (Sq.apply(t) * t).sum()  # noqa: E731  (t³: f''(3) = 18, not 12)
    with pytest.raises(RuntimeError, match="Sq.backward"):
        ag.grad(ag.grad(f))(ag.tensor(3.0))
    np.testing.assert_allclose(ag.grad(f)(ag.tensor(3.0)).data, 27.0)  # first order is right


def test_in_place_change_of_an_input_whose_value_no_rule_reads_is_allowed():
    # As PyTorch, which checks only what an op saved: add's, sum's and reshape's gradients do
    # not depend on their inputs' values, mul's does.
    w = leaf([1.0, 2.0])
    c = ag.tensor([3.0, 4.0])
    z = (w + c).sum() + (w - c).reshape(2, 1).sum()
    c += 1
    z.backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0])
    x = leaf([1.0, 2.0])
    y = x * 1
    y += y  # the add reads neither of its operands
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])
    x = leaf([1.0, 2.0])
    c = ag.tensor([3.0, 4.0])
    z = (x * c).sum()
    c += 1
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


def test_assigning_grad_is_checked_where_it_happens():
    # As PyTorch checks it: a wrong .grad would otherwise surface later, far away (an
    # ndarray .grad used to crash SGD.step with an AttributeError about a memoryview).
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match="grad: assigned grad must be a Tensor or None, got nd"):
        x.grad = np.ones(2)
    with pytest.raises(ValueError, match=r"grad: assigned grad has shape \(3,\).*\(2,\)"):
        x.grad = ag.ones(3)
    with pytest.raises(TypeError, match="grad: assigned grad has dtype float32.*float64"):
        x.grad = ag.ones(2, dtype="float32")
    with pytest.raises(ValueError, match="its own gradient"):
        x.grad = x
    assert x.grad is None  # nothing was stored by the failed assignments
    x.grad = ag.tensor([0.5, 0.5])
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.5, 2.5])  # backward adds to it
    x.grad = None
    assert x.grad is None


def test_bitwise_operators_are_bitwise_on_integers_and_logical_on_bools():
    # As PyTorch: & | ^ ~ on int64 are bitwise (they were logical: ~[1, 2, 3] gave all False).
    i = ag.tensor([1, 2, 3])
    assert (~i).tolist() == [-2, -3, -4] and (~i).dtype == np.int64
    assert (i & 1).tolist() == [1, 0, 1] and (i | 4).tolist() == [5, 6, 7]
    assert (i ^ 1).tolist() == [0, 3, 2] and (6 & i).tolist() == [0, 2, 2]
    b = ag.tensor([True, False])
    assert (~b).tolist() == [False, True] and (b & ag.tensor([True, True])).tolist() == [
        True,
        False,
    ]
    assert (b | False).tolist() == [True, False] and (b ^ True).tolist() == [False, True]
    with pytest.raises(TypeError, match="bitwise_not"):
        ~ag.tensor([0.0, 2.0])


def test_integer_sums_are_int64():
    # NumPy sums uint8 to uint64, where `s - 10` wraps around to 18446744073709551612.
    s = ag.tensor(np.array([1, 2, 3], np.uint8)).sum()
    assert s.dtype == np.int64 and (s - 10).item() == -4 and (-s).item() == -6
    assert ag.tensor(np.array([[1, 2]], np.int8)).sum(axis=1).dtype == np.int64
    assert ag.tensor([True, True]).sum().item() == 2


def test_deepcopy_of_a_non_leaf_is_refused_and_of_a_leaf_is_independent():
    import copy

    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="deepcopy: only leaf tensors"):
        copy.deepcopy(x * 2)  # the copy would silently cut the path to x
    (x * 3).sum().backward()
    c = copy.deepcopy(x)
    assert c.requires_grad and c.is_leaf and c.data is not x.data
    np.testing.assert_array_equal(c.grad.data, [3.0, 3.0])
    c.data[0] = 9.0
    (c * 1).sum().backward()  # c is a leaf of its own, with its own version counter
    assert x.data[0] == 1.0 and x.grad.data.tolist() == [3.0, 3.0]
    p = ag.nn.Parameter(ag.ones(2))
    assert type(copy.deepcopy(p)) is ag.nn.Parameter


def test_tensor_protocol_index_format_contains():
    assert [10, 20, 30][ag.tensor([1])] == 20 and [10, 20, 30][ag.tensor(2)] == 30
    assert f"{ag.tensor(3.14159):.2f}" == "3.14" and f"{ag.tensor(7):>3}" == "  7"
    with pytest.raises(TypeError, match="only 0-d tensors format as numbers"):
        f"{ag.ones(2):.2f}"
    assert f"{ag.ones(2)}" == str(ag.ones(2))
    assert ag.tensor([1.0, 2.0]) in ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert 5 not in ag.tensor([1, 2]) and 2 in ag.tensor([1, 2])


def test_repr_names_a_dtype_that_is_not_the_default():
    ag.set_default_dtype("float32")
    try:
        assert repr(ag.tensor([1.0, 2.0])) == "tensor([1., 2.])"
        assert repr(ag.tensor(np.array([1.0, 2.0]))) == "tensor([1., 2.], dtype=float64)"
    finally:
        ag.set_default_dtype("float64")
    assert repr(ag.tensor([1.0, 2.0], dtype="float32")) == "tensor([1., 2.], dtype=float32)"


@pytest.mark.parametrize("name", ["sigmoid", "softmax", "log_softmax"])
def test_float16_functions_round_once(name):
    # Computed in float32 and rounded once, as PyTorch does: every float16 step used to round
    # again (5661 of 20001 sigmoid values differed from torch's, by up to 2.6e-3).
    f = {
        "sigmoid": lambda t: t.sigmoid(),
        "softmax": lambda t: ag.nn.functional.softmax(t, axis=-1),
        "log_softmax": lambda t: ag.nn.functional.log_softmax(t, axis=-1),
    }[name]
    x = np.linspace(-8, 8, 20000).astype(np.float16).reshape(-1, 8)
    got = f(ag.tensor(x)).data
    exact = f(ag.tensor(x.astype(np.float64))).data
    assert got.dtype == np.float16
    ulp = np.spacing(np.abs(exact).astype(np.float16)).astype(np.float64)
    assert np.max(np.abs(got.astype(np.float64) - exact) / ulp) <= 1.0


# Ops whose rules read only their output (as PyTorch saves it): an in-place change of the
# input before backward is harmless, one of the output is caught.
OUTPUT_READERS = {
    "exp": lambda t: t.exp(),
    "sqrt": lambda t: t.sqrt(),
    "tanh": lambda t: t.tanh(),
    "sigmoid": lambda t: t.sigmoid(),
    "relu": lambda t: t.relu(),
    "std": lambda t: t.std(axis=0),
    "softmax": lambda t: ag.nn.functional.softmax(t, axis=0),
    "log_softmax": lambda t: ag.nn.functional.log_softmax(t, axis=0),
}


@pytest.mark.parametrize("name", OUTPUT_READERS)
def test_ops_that_read_their_output_check_the_output_not_the_input(name):
    f = OUTPUT_READERS[name]
    weights = ag.tensor([1.0, -2.0, 3.0])
    x = leaf([0.5, 1.5, 2.0])
    f(x * 1).backward(ag.ones_like(f(x)) * weights if f(x).ndim else None)
    expected = x.grad.data.copy()
    x.grad = None
    y = x * 1
    z = f(y)
    y += 1  # z's rule does not read y
    z.backward(ag.ones_like(z) * weights if z.ndim else None)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-15)
    y = x * 1
    z = f(y)
    w = z * 1  # (z itself may not be written in place while the graph needs it...)
    z += 1  # ... which is the point: its rule reads it
    with pytest.raises(RuntimeError, match=f"output of '.*{name[:4]}"):
        w.sum().backward()


def test_a_function_checks_only_the_inputs_forward_saved():
    # As PyTorch: what forward did not save may change in place before backward.
    class Triple(ag.Function):
        @staticmethod
        def forward(ctx, w):
            return w * 3

        @staticmethod
        def backward(ctx, g):
            return g * 3

    class Square(ag.Function):
        @staticmethod
        def forward(ctx, w):
            ctx.save_for_backward(w[:])  # a view of the input counts as the input
            return w * w

        @staticmethod
        def backward(ctx, g):
            (w,) = ctx.saved_tensors
            return g * 2 * w

    w = leaf([1.0, 2.0])
    v = w * 1
    y = Triple.apply(v)
    v += 1
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [3.0, 3.0])
    v = w * 1
    y = Square.apply(v)
    v += 1
    with pytest.raises(RuntimeError, match="input 0 of 'Square'"):
        y.sum().backward()

    class Stashed(ag.Function):  # keeps its input on ctx, not through save_for_backward
        @staticmethod
        def forward(ctx, w):
            ctx.parts = [w, 2.0]
            return w * w

        @staticmethod
        def backward(ctx, g):
            return g * ctx.parts[1] * ctx.parts[0]

    v = w * 1
    y = Stashed.apply(v)
    v += 1  # PyTorch would not notice: the gradient would silently use the new values
    with pytest.raises(RuntimeError, match="input 0 of 'Stashed'"):
        y.sum().backward()


def test_list_operands_are_constants_read_as_tensor_reads_them():
    # A list (or tuple) on either side of an operator is the array ag.tensor makes of it,
    # taken when the op runs: changing the list afterwards changes nothing.
    x = leaf([1.0, 2.0])
    (x ** [2.0, 3.0]).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 12.0])
    x.grad = None
    (x @ [1.0, 2.0] + [3.0, 4.0] @ x).backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 6.0])
    x.grad = None
    k = [1.0, 2.0]
    y = (x * k).sum()
    k[0] = 100.0
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0])
    x.grad = None
    ag.where(x > 1, x, (5.0, 6.0)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"mul: .*inhomogeneous.*shape \(2,\) float64, list"):
        x * [[1.0], [2.0, 3.0]]
    with pytest.raises(TypeError, match="add: .*dtype <U1"):
        x + ["a", "b"]


VIEWS_OF_A_BASE = [  # (make a view of a 4-vector, how often each element appears in it)
    (lambda a: a.reshape((2, 2)), [1, 1, 1, 1]),
    (lambda a: a[1:3], [0, 1, 1, 0]),
    (lambda a: a.reshape((2, 2)).T, [1, 1, 1, 1]),
    (lambda a: a[:1].expand((3, 1)), [3, 0, 0, 0]),
]


@pytest.mark.parametrize(("make", "count"), VIEWS_OF_A_BASE)
def test_a_recorded_view_follows_a_recorded_write_into_its_base(make, count):
    # As PyTorch regenerates a view's grad_fn: b shows a's new values, so its history is
    # a's new history (before, a view kept its old history and backward raised).
    w = leaf([1.0, 2.0, 3.0, 4.0])
    a = w * 2
    b = make(a)
    a *= 3
    np.testing.assert_array_equal(b.data, make(ag.tensor(w.data * 6)).data)
    b.sum().backward()
    np.testing.assert_array_equal(w.grad.data, 6.0 * np.array(count))


@pytest.mark.parametrize(("make", "count"), VIEWS_OF_A_BASE)
def test_an_op_that_read_a_view_before_its_base_changed_still_raises(make, count):
    w = leaf([1.0, 2.0, 3.0, 4.0])
    a = w * 2
    b = make(a)
    c = b * b  # saved b's old values
    a *= 3
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        c.sum().backward()


def test_retain_grad_moves_to_the_history_a_write_gives():
    # As in PyTorch: a.grad is the gradient with respect to a's new values.
    w = leaf([1.0, 2.0, 3.0, 4.0])
    a = w * 2
    a.retain_grad()
    b = a[1:3]
    b.retain_grad()
    a *= 3
    (b * 5).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.0, 5.0, 5.0, 0.0])  # d/d(new a) only
    np.testing.assert_array_equal(b.grad.data, [5.0, 5.0])
    np.testing.assert_array_equal(w.grad.data, [0.0, 30.0, 30.0, 0.0])


def test_values_taken_through_a_view_before_a_write_keep_their_history():
    # y[1:] = y[:-1] * 2: the product was made from y's old values, through the old history.
    x = leaf([0.0, 1.0, 2.0, 3.0])
    y = x * 1.0
    y[1:] = y[:-1] * 2
    np.testing.assert_array_equal(y.data, [0.0, 0.0, 2.0, 4.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 2.0, 2.0, 0.0])  # PyTorch's values


def test_writing_into_a_view_of_an_anonymous_buffer_records_the_gradient():
    w = leaf([1.0, 2.0, 3.0])
    x = ag.zeros(6).reshape((2, 3))
    x[0] = w
    (x * x).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0, 6.0])
    w.grad = None
    acc = ag.zeros(2, 3)[0]
    acc += w
    (acc * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0, 2.0])
    w.grad = None
    z = ag.zeros(6)
    a, other = z[0:3], z[3:6]  # two views of one base: the write goes through the base
    del z
    a += w
    (a * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0, 2.0])
    assert other.data.sum() == 0.0 and other.requires_grad  # PyTorch: a view of the base
    buf = ag.zeros(6).reshape(2, 3)
    row0 = buf[0]  # a view of the view sees the write too: it gets the history as well
    buf[0] = w
    w.grad = None
    (row0 * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 2.0, 2.0])
    d = ag.zeros(6).reshape(2, 3)
    seen = d.detach()  # shares the memory and sees the values; never takes history
    d[0] = w
    np.testing.assert_array_equal(seen.data, [[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    assert d.requires_grad and not seen.requires_grad


def test_views_made_before_a_recorded_write_into_their_base_get_its_history():
    # PyTorch regenerates such a view's grad_fn; a view without history would silently
    # drop the written value's gradient while showing its values.
    w = leaf([1.0, 2.0, 3.0])
    x = ag.zeros(3, 3)
    t, row, col, flat = x.T, x[0], x[:, 1], x.reshape(9)
    t_row = t[1]  # a view of a view
    x[0] = w
    for v in (t, row, col, flat, t_row):
        assert v.requires_grad and v.grad_fn is not None
    c = np.arange(1.0, 10.0).reshape(3, 3)
    expected = {
        "t": (t, c, c[:, 0]),  # t[j, 0] = w[j]
        "row": (row, c[0], c[0]),
        "col": (col, c[0], [0.0, c[0, 0], 0.0]),  # col[0] = x[0, 1] = w[1]
        "flat": (flat, c.reshape(9), c[0]),
        "t_row": (t_row, c[0], [0.0, c[0, 0], 0.0]),  # t[1] = x[:, 1], again w[1] first
    }
    for name, (v, weights, want) in expected.items():
        w.grad = None
        (v * ag.tensor(weights)).sum().backward(retain_graph=True)
        np.testing.assert_array_equal(w.grad.data, want, err_msg=name)
    x[1] = w * 10  # a second write: the views follow again
    w.grad = None
    t.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(w.grad.data, [11.0, 11.0, 11.0])
    w.grad = None
    (row * 1).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [1.0, 1.0, 1.0])


def test_a_view_made_under_no_grad_cannot_silently_miss_a_recorded_write():
    w = leaf([1.0, 2.0])
    x = ag.zeros(2, 2)
    with ag.no_grad():
        v = x[0]
    made_under_no_grad = r"__setitem__: a view of this tensor \(shape \(2,\)\) was made under no_g"
    with pytest.raises(RuntimeError, match=made_under_no_grad):
        x[1] = w
    assert not x.requires_grad and x.data.sum() == 0.0  # refused before writing
    del v
    x[1] = w
    (x * 3).sum().backward()
    np.testing.assert_array_equal(w.grad.data, [3.0, 3.0])


def test_a_reshape_that_copied_is_not_given_the_history_of_a_later_write():
    w = leaf([1.0, 2.0])
    x = ag.zeros(2, 2)
    copied = x.T.reshape(4)  # not contiguous: NumPy copies, later writes do not reach it
    x[0] = w
    assert not copied.requires_grad
    np.testing.assert_array_equal(copied.data, [0.0, 0.0, 0.0, 0.0])


def test_the_view_registry_keeps_no_tensor_alive_and_forgets_the_dead():
    from autograd_mini.tensor import _VIEWS

    x = ag.zeros(4)
    v = x[1:]
    refs = [weakref.ref(x), weakref.ref(v)]
    del x, v
    gc.collect()
    assert all(r() is None for r in refs)
    before = len(_VIEWS)
    for _ in range(1000):
        y = ag.zeros(3)
        _ = y[0:2], y.T
    assert len(_VIEWS) <= max(before, 64) * 2 + 1
    base = ag.zeros(3)
    for _ in range(1000):
        base[0:2]  # a view made and dropped each time
    entries = _VIEWS[id(base)][1]
    assert len(entries) <= 1024 and sum(r() is not None for r, *_ in entries) == 0


def test_fill_and_zero_on_a_tensor_with_history_are_recorded():
    a = leaf([1.0, 2.0])
    y = a * 3
    y.fill_(5.0)  # the old values of y no longer matter: no gradient flows back through them
    (y + a).sum().backward()
    np.testing.assert_array_equal(y.data, [5.0, 5.0])
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])
    a.grad = None
    y = a * 3
    y.zero_()
    (y * y + a).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0])
    b = leaf(2.0)
    z = ag.zeros(3)
    z.fill_(b * 1)  # a 0-d value that requires grad: each element passes its gradient back
    (z * ag.tensor([1.0, 2.0, 4.0])).sum().backward()
    assert b.grad.item() == 7.0
    not_0d = r"fill_: the value must be a number or a 0-d tensor, got a tensor of shape \(2,\)"
    with pytest.raises(ValueError, match=not_0d):
        ag.zeros(3).fill_(ag.ones(2))


def test_grad_mode_decorator_on_a_generator_applies_each_time_it_resumes():
    x = leaf([1.0])
    seen = []

    @ag.no_grad
    def gen():
        for _ in range(2):
            seen.append(ag.is_grad_enabled())
            got = yield x * 2
            seen.append((got, ag.is_grad_enabled()))
        try:
            yield "waiting"
        except KeyError:
            seen.append(("thrown", ag.is_grad_enabled()))
            yield "caught"
        return "done"

    g = gen()
    assert not next(g).requires_grad
    assert ag.is_grad_enabled() and (x * 2).requires_grad  # the caller's mode between yields
    assert not g.send(5).requires_grad
    assert next(g) == "waiting"
    assert g.throw(KeyError("k")) == "caught"
    with pytest.raises(StopIteration) as stop:
        next(g)
    assert stop.value.value == "done"
    assert seen == [False, (5, False), False, (None, False), ("thrown", False)]
    assert ag.is_grad_enabled()

    @ag.enable_grad()
    def recording():
        yield x * 2

    with ag.no_grad():
        assert next(recording()).requires_grad
        assert not ag.is_grad_enabled()

    closed = []

    @ag.no_grad
    def cleanup():
        try:
            yield 1
        finally:
            closed.append(ag.is_grad_enabled())

    c = cleanup()
    next(c)
    c.close()
    assert closed == [False] and ag.is_grad_enabled()


def test_complex_values_cannot_carry_gradients_and_say_so():
    # No complex gradient convention is implemented (PyTorch conjugates); real arithmetic on
    # complex numbers would give silently wrong gradients, so recording one is an error.
    x = leaf([1.0, 2.0])
    with pytest.raises(TypeError, match=r"mul: .*complex.*shape \(2,\) float64"):
        x * 1j
    with pytest.raises(TypeError, match="astype: .*complex"):
        x.astype(np.complex64)
    with pytest.raises(TypeError, match="only real floating point.*complex128"):
        ag.tensor([1j], requires_grad=True)
    with pytest.raises(TypeError, match="floating point.*complex64"):
        ag.nn.Parameter(np.ones(2, np.complex64))

    class Rotate(ag.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1j

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(TypeError, match="Rotate: .*complex"):
        Rotate.apply(x)
    with ag.no_grad():
        assert (x * 1j).dtype == np.complex128
    np.testing.assert_array_equal((x.detach() * 1j).data, [1j, 2j])


# ------------------------------------------------------------------ found in review, 2026-12-02


def test_changing_a_view_made_under_no_grad_in_place_with_grad_enabled_is_an_error():
    # The view does not require grad, so the write would not be recorded, yet it changes a
    # tensor the graph holds: y[0] would be 0 while backward still takes it to be 3·x[0].
    x = leaf([1.0, 2.0])
    y = x * 3
    with ag.no_grad():
        v = y[0:1]
    made = r"view \(shape \(1,\)\) does not require grad, but the tensor it views \(shape \(2,\)\)"
    for change in (v.zero_, lambda: v.add_(1.0), lambda: v.__setitem__(0, 5.0)):
        with pytest.raises(RuntimeError, match=made):
            change()
    np.testing.assert_array_equal(y.data, [3.0, 6.0])  # refused before writing
    w = leaf([1.0, 2.0])
    with ag.no_grad():
        wv = w[0:1]
    with pytest.raises(RuntimeError, match=made):
        wv += 100.0
    np.testing.assert_array_equal(w.data, [1.0, 2.0])
    with ag.no_grad():  # under no_grad the write is the user's to make, as in PyTorch
        wv += 100.0
    np.testing.assert_array_equal(w.data, [101.0, 2.0])
    z = ag.zeros(2)  # a view of a tensor that needs no gradient is free to change
    with ag.no_grad():
        zv = z[0:1]
    zv += 1.0
    np.testing.assert_array_equal(z.data, [1.0, 0.0])
    z.requires_grad_()  # the view was made with grad on, before its base required grad
    with pytest.raises(RuntimeError, match=r"view \(shape \(1,\)\) does not require grad"):
        zv += 1.0


def test_a_list_operand_holding_a_tensor_that_requires_grad_is_an_error():
    # Read as a constant, the tensors in it would get no gradient, without a word.
    w = leaf(2.0)
    x = leaf([1.0, 1.0])
    holds = "a list or tuple operand holds a tensor that requires grad"
    with pytest.raises(TypeError, match="mul: " + holds):
        x * [w, w]
    with pytest.raises(TypeError, match="maximum: " + holds):
        ag.maximum([w, [w][0]], 1.0)
    with pytest.raises(TypeError, match=holds):
        ag.where(x > 0, ([w], [w]), 0.0)
    y = x * 1
    with pytest.raises(TypeError, match="__setitem__: " + holds):
        y[0:2] = [w, w * 3]
    with ag.no_grad():  # nothing is recorded, so nothing is lost
        np.testing.assert_array_equal((x * [w, w]).data, [2.0, 2.0])
    c = ag.tensor(2.0)
    (x * [c, c]).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_a_gradient_tensor_passed_with_create_graph_is_cast_to_the_output_dtype():
    x = ag.tensor([1.0, 2.0, 3.0], dtype=np.float32, requires_grad=True)
    y = x * 2
    y.retain_grad()
    g = ag.tensor([1.0, 1.0, 1.0], requires_grad=True)  # float64, with a history of its own
    y.backward(g, create_graph=True)
    assert y.grad.dtype == np.float32 and x.grad.dtype == np.float32
    x.grad.sum().backward()  # x.grad = 2g: the cast keeps g in the graph
    np.testing.assert_array_equal(g.grad.data, [2.0, 2.0, 2.0])
    assert g.grad.dtype == np.float64


def test_bad_data_and_gradients_are_named_errors_not_numpy_tracebacks():
    with pytest.raises(ValueError, match=r"tensor: cannot make a tensor from list data: .*inhomo"):
        ag.tensor([[1, 2], [3]])
    with pytest.raises(TypeError, match="tensor: cannot make a tensor from list data: .*foo"):
        ag.tensor([1, 2], dtype="foo")
    y = ag.ones(2, requires_grad=True) * 2
    with pytest.raises(ValueError, match="backward: gradient is not an array: .*inhomogeneous"):
        y.backward([[1], [1, 2]])
    with pytest.raises(RuntimeError, match="retain_grad: the tensor \\(shape \\(2,\\)\\) does not"):
        ag.tensor([1.0, 2.0]).retain_grad()

    class Wordy(ag.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return "x"

    with pytest.raises(RuntimeError, match="'Wordy' backward returned a str as the gradient for"):
        Wordy.apply(ag.ones(2, requires_grad=True)).sum().backward()


def test_integer_arange_takes_integer_bounds_and_step_first_as_torch():
    # torch.arange(0, 2.5, dtype=int64) is [0, 1]; NumPy's [0, 1, 2] counts in floats.
    np.testing.assert_array_equal(ag.arange(0, 2.5, dtype=np.int64).data, [0, 1])
    np.testing.assert_array_equal(ag.arange(0.5, 4.7, 1.5, dtype=np.int64).data, [0, 1, 2, 3])
    np.testing.assert_array_equal(ag.arange(0, 5, 1.5, dtype=np.int32).data, [0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="arange: step must be nonzero"):
        ag.arange(0, 5, 0.5, dtype=np.int64)
    np.testing.assert_array_equal(ag.arange(0, 2.5).data, [0.0, 1.0, 2.0])  # floats unchanged


def test_swapaxes_of_a_0d_tensor_is_the_tensor():
    x = leaf(3.0)
    for a, b in ((0, 0), (0, -1), (-1, 0)):
        y = x.swapaxes(a, b)
        assert y.shape == () and y.item() == 3.0
    (x.swapaxes(0, -1) * 2).backward()
    assert x.grad.item() == 2.0


def test_maximum_and_minimum_send_the_whole_gradient_to_both_sides_of_a_nan():
    # As torch: where either operand is NaN neither wins, and the NaN depends on both.
    a = leaf([np.nan, 1.0, 2.0, 3.0])
    b = leaf([1.0, np.nan, 2.0, 1.0])
    ag.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0, 0.5, 1.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0, 0.5, 0.0])
    a.grad = b.grad = None
    ag.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.0, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0, 0.5, 1.0])


def test_the_output_of_div_or_pow_may_change_in_place_as_no_rule_reads_it():
    # As PyTorch: `y = x / n; y += b` is an everyday pattern. The rules for the exponent and
    # the divisor recompute xʸ and x / y from the inputs, which are still checked.
    w = leaf([1.0, 2.0])
    y = (w * 1) ** 2
    y += 1
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [2.0, 4.0])
    w.grad = None
    y = w / 4
    y += 1
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [0.25, 0.25])
    x, p, d = leaf([1.0, 2.0]), leaf([2.0, 3.0]), leaf([2.0, 4.0])
    z = x**p
    z += 1
    q = x / d
    q *= 2
    (z + q).sum().backward()
    np.testing.assert_allclose(p.grad.data, [0.0, 8.0 * np.log(2.0)], rtol=1e-15)
    np.testing.assert_array_equal(d.grad.data, [-0.5, -0.25])  # -2x / d²
    np.testing.assert_array_equal(x.grad.data, [2.0 + 1.0, 12.0 + 0.5])  # p·x^(p-1) + 2/d
    e = d * 1
    q = x / e
    e += 1  # the divisor, which both rules read
    with pytest.raises(RuntimeError, match="input 1 of 'div'"):
        q.sum().backward()


def test_float16_variance_and_std_are_worked_in_float32_as_torch():
    # Squared deviations overflow float16 (65 504) where the variance, or its root, does not.
    b = np.tile(np.array([0.0, 20.0], np.float16), 500)
    x = leaf(b)
    v = x.std()
    assert v.dtype == np.float16 and v.item() == 10.0
    assert ag.tensor(b).var().item() == 100.0
    assert ag.tensor(np.array([0.0, 600.0], np.float16)).std().item() == 300.0
    v.backward()
    assert x.grad.dtype == np.float16
    np.testing.assert_allclose(x.grad.data[:2].astype(float), [-0.001, 0.001], rtol=1e-3)


def test_rand_and_randn_make_float16_samples():
    for make in (ag.rand, ag.randn):
        s = make(3, 2, dtype=np.float16)
        assert s.dtype == np.float16 and s.shape == (3, 2) and np.isfinite(s.data).all()
    u = ag.rand(1_000_000, dtype=np.float16).data  # float32 draws near 1 round up to 1.0
    assert 0.0 <= u.min() and u.max() < 1.0


def test_hessian_blocks_take_the_dtype_of_their_row_argument():
    # H[i][j] in args[i]'s dtype, as torch.func.hessian and jax.hessian give it.
    def f(a, b):
        return (a * b * a).sum()

    for a, b in ((np.ones(2, np.float32), np.ones(2)), (ag.ones(2, dtype=np.float32), ag.ones(2))):
        h = ag.hessian(f, argnums=(0, 1))(a, b)
        assert [[blk.dtype for blk in row] for row in h] == [[np.float32] * 2, [np.float64] * 2]
        h10 = h[1][0]
        np.testing.assert_array_equal(getattr(h10, "data", h10), 2 * np.eye(2))


class Hidden(ag.Function):
    """x² that keeps x under a private name: kept all the same."""

    @staticmethod
    def forward(ctx, a):
        ctx._x = a
        return a * a

    @staticmethod
    def backward(ctx, g):
        return g * (2 * ctx._x)


def test_second_derivatives_through_a_function_that_keeps_nothing_are_exact():
    # Its backward can depend on the inputs only through g, which the recorded backward
    # sees: as torch, hessian of (Scale(x))² is 8·I.
    from autograd_mini.function import OnceDifferentiableError

    class Scale(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(
        ag.hessian(lambda t: (Scale.apply(t) ** 2).sum())(x), 8 * np.eye(2)
    )

    class Square(ag.Function):  # keeps x: its backward's dependence on x is unknown
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * (2 * a)

    class Stashed(ag.Function):  # keeps a number made from x
        @staticmethod
        def forward(ctx, a):
            ctx.k = float(a.sum())
            return a * ctx.k

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k

    class Detached(ag.Function):  # leaves the graph: its dependence on g is unknown too
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g.data * 2

    for op in (Square, Stashed, Detached, Hidden):  # Hidden keeps x under a private name
        with pytest.raises(OnceDifferentiableError, match=f"{op.__name__}.backward computed"):
            ag.hessian(lambda t, op=op: (op.apply(t) ** 2).sum())(x)


def test_a_leaf_frozen_after_the_forward_gets_no_gradient():
    # As torch: requires_grad_(False) between forward and backward freezes the parameter.
    lin = ag.nn.Linear(2, 1)
    opt = ag.optim.SGD(lin.parameters(), lr=0.1)
    before = lin.weight.data.copy()
    out = lin(ag.tensor(np.ones((4, 2)))).sum()
    lin.weight.requires_grad_(False)
    out.backward()
    opt.step()
    assert lin.weight.grad is None
    np.testing.assert_array_equal(lin.weight.data, before)
    assert lin.bias.grad.item() == 4.0


def test_relu_passes_the_gradient_at_a_nan_input_as_torch():
    # relu(nan) is nan, and the gradient flows on there (torch's threshold_backward).
    x = leaf([np.nan, -1.0, 0.0, 2.0])
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 0.0, 1.0])
    x.grad = None
    ag.nn.functional.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 0.0, 0.0, 1.0])


def test_an_input_stashed_under_a_private_name_is_checked_for_in_place_changes():
    v = leaf([1.0, 2.0]) * 1
    y = Hidden.apply(v)
    v += 1  # the stashed array changes with it: the gradient would use the new values
    with pytest.raises(RuntimeError, match="input 0 of 'Hidden'"):
        y.sum().backward()
