"""`ag.Value`, the scalar engine: micrograd's examples, each op's derivative, and agreement
with the Tensor engine on random expressions."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import autograd_mini as ag
from autograd_mini import Value

# ------------------------------------------------------------------ micrograd's own examples


def _micrograd_readme() -> tuple[Value, Value, Value]:
    # Verbatim from micrograd's README (and test_engine.py::test_more_ops), import aside.
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    return a, b, g


def test_micrograd_readme_example():
    a, b, g = _micrograd_readme()
    assert f"{g.data:.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


def test_micrograd_more_ops_exact_values():
    # Exact rationals, by forward-mode differentiation in fractions: g = 2421/98,
    # dg/da = 47620/343, dg/db = 221433/343 (the values PyTorch gives in micrograd's test).
    a, b, g = _micrograd_readme()
    g.backward()
    assert g.data == pytest.approx(2421 / 98, rel=1e-14)
    assert a.grad == pytest.approx(47620 / 343, rel=1e-14)
    assert b.grad == pytest.approx(221433 / 343, rel=1e-14)


def test_micrograd_sanity_check():
    # micrograd test_engine.py::test_sanity_check. By hand: z = 3x + 2 = -10, q = z·x = 40
    # (relu(z) = 0), h = z² = 100, y = h + q + q·x = -20; dy/dx = 6z + (z + 3x)(1 + x) + q = 46.
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.data == -20.0
    assert x.grad == 46.0


@pytest.mark.parametrize("data", ["a", None, [1.0, 2.0], np.ones(2), 1j, ag.tensor(1.0)])
def test_value_data_must_be_a_real_number(data):
    # Checked where the Value is made: "ab" * 2 or [1, 2] * 2 would otherwise flow on.
    with pytest.raises(TypeError, match="Value: data must be a real number"):
        Value(data)


def test_value_data_is_stored_as_a_float():
    cases = [(3, 3.0), (True, 1.0), (np.float32(1.5), 1.5), (np.int64(7), 7.0), (Value(2.5), 2.5)]
    for data, expected in cases:
        v = Value(data)
        assert type(v.data) is float and v.data == expected


def test_attributes_start_at_zero_grad():
    v = Value(1.5)
    assert v.data == 1.5
    assert v.grad == 0.0


# ------------------------------------------------------------------ each op vs finite differences


def _central(f: Callable[[float], float], x: float, eps: float = 1e-6) -> float:
    return (f(x + eps) - f(x - eps)) / (2 * eps)


def _check_unary(f: Callable[[Value], Value], x: float) -> None:
    v = Value(x)
    out = f(v)
    out.backward()
    num = _central(lambda t: f(Value(t)).data, x)
    assert v.grad == pytest.approx(num, rel=1e-6, abs=1e-7)


_floats = st.floats(-3.0, 3.0, allow_nan=False)
_pos = st.floats(0.1, 3.0)
_away0 = _floats.filter(lambda v: abs(v) > 1e-2)
_exponents = st.floats(-3.0, 3.0)

UNARY: dict[str, tuple[Callable[[Value], Value], st.SearchStrategy]] = {
    "neg": (lambda v: -v, _floats),
    "relu": (lambda v: v.relu(), _away0),
    "tanh": (lambda v: v.tanh(), _floats),
    "exp": (lambda v: v.exp(), _floats),
    "log": (lambda v: v.log(), _pos),
    "sigmoid": (lambda v: v.sigmoid(), st.floats(-10.0, 10.0)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_value_unary_op_matches_finite_differences(name, data):
    f, xs = UNARY[name]
    _check_unary(f, data.draw(xs, label="x"))


BINARY = {
    "+": (operator.add, _floats, _floats),
    "-": (operator.sub, _floats, _floats),
    "*": (operator.mul, _floats, _floats),
    "/": (operator.truediv, _floats, _away0),
    "**": (operator.pow, _pos, _exponents),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_value_binary_op_matches_finite_differences(name, data):
    op, xs, ys = BINARY[name]
    x, y = data.draw(xs, label="x"), data.draw(ys, label="y")
    # Value (op) Value: both partial derivatives.
    a, b = Value(x), Value(y)
    out = op(a, b)
    out.backward()
    assert out.data == pytest.approx(op(x, y), rel=1e-15)
    assert a.grad == pytest.approx(_central(lambda t: op(t, y), x), rel=1e-6, abs=1e-7)
    assert b.grad == pytest.approx(_central(lambda t: op(x, t), y), rel=1e-6, abs=1e-7)
    # A Python number on either side.
    _check_unary(lambda v: op(v, y), x)
    _check_unary(lambda v: op(x, v), y)


@pytest.mark.parametrize("n", [0, 1, 2, 3, -1, -2, 0.5, 2.5])
@given(x=_pos)
def test_value_power_rule(n, x):
    v = Value(x)
    (v**n).backward()
    assert v.grad == pytest.approx(n * x ** (n - 1) if n != 0 else 0.0, rel=1e-13)


def test_value_exponent_needs_positive_base():
    with pytest.raises(ValueError, match="positive"):
        Value(-2.0) ** Value(0.5)


_NUMPY_SCALARS = [np.float16(0.1), np.float32(0.1), np.float64(0.1), np.int64(3), np.bool_(True)]


@pytest.mark.parametrize("name", sorted(BINARY))
def test_numpy_scalar_operands_give_python_floats(name):
    # A NumPy scalar is converted to a Python float where it enters an op, as Value(c) is:
    # kept, its dtype flowed into .data, the local derivatives and .grad, and float16 or
    # float32 arithmetic rounded everything computed from it.
    op = BINARY[name][0]
    for c in _NUMPY_SCALARS:
        for a, b, ref_a, ref_b in ((None, c, None, float(c)), (c, None, float(c), None)):
            x, ref = Value(3.0), Value(3.0)
            y = op(x if a is None else a, x if b is None else b) + 1e-4
            want = op(ref if ref_a is None else ref_a, ref if ref_b is None else ref_b) + 1e-4
            y.backward()
            want.backward()
            assert type(y.data) is float and type(x.grad) is float, (type(c), a is None)
            assert y.data == want.data and x.grad == ref.grad  # the float64 values, exactly
    # A complex one is refused on either side, as 1j is (and as Value(1j) is).
    for c in (np.complex128(1j), np.complex64(1 + 1j)):
        with pytest.raises(TypeError, match="unsupported operand"):
            op(Value(2.0), c)
        with pytest.raises(TypeError, match="unsupported operand"):
            op(c, Value(2.0))
    # The report's cases: float16 arithmetic turned 3.0001 into 3.0.
    x = Value(3.0)
    y = x * np.float16(1.0) + 1e-4
    y.backward()
    assert y.data == 3.0001 and type(y.data) is float and type(x.grad) is float
    assert (Value(1.0) * np.float32(0.1) + 1e-9).data == float(np.float32(0.1)) + 1e-9


# ------------------------------------------------------------------ backward semantics


def test_gradients_accumulate_across_backward_calls():
    a, b = Value(3.0), Value(-2.0)
    out = a * b + a.exp()
    out.backward()
    first = (a.grad, b.grad)
    assert first == (-2.0 + math.exp(3.0), 3.0)
    out.backward()
    assert (a.grad, b.grad) == (2 * first[0], 2 * first[1])  # exactly doubled


def test_node_used_twice_gets_both_contributions():
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0
    b = Value(3.0)
    (b + b).backward()
    assert b.grad == 2.0
    c = Value(2.0)
    h = c * 3.0
    (h * h + h).backward()  # 9c² + 3c: d/dc = 18c + 3
    assert c.grad == 39.0


def test_backward_from_another_root_reaches_nodes_an_earlier_pass_met():
    a, b = Value(2.0), Value(5.0)
    h = a * b
    out = h + a
    out.backward()
    assert (a.grad, b.grad) == (6.0, 2.0)
    h.backward()  # h, a and b were all met by the first pass
    assert (a.grad, b.grad, h.grad) == (11.0, 4.0, 2.0)


def test_a_backward_that_fails_midway_leaves_nothing_behind():
    # The pass marks the nodes it meets; one that stops early must unmark them all, or the
    # next pass would skip them and leave their gradients silently short.
    a, b = Value(2.0), Value(5.0)
    h = a * b
    out = h * h + a
    b.grad = None  # b runs before a (it is newer): the pass stops with a still marked
    with pytest.raises(TypeError):
        out.backward()
    for v in (a, b, h, out):
        v.grad = 0.0
    out.backward()  # (ab)² + a: d/da = 2hb + 1, d/db = 2ha, with h = ab
    assert (a.grad, b.grad, h.grad, out.grad) == (101.0, 40.0, 20.0, 1.0)


def test_shares_are_summed_newest_consumer_first():
    # Float addition is not associative: the order of the three shares reaching x shows.
    # The Tensor engine sums them newest consumer first, and so must the scalar engine.
    x = Value(1.0)
    u1, u2, u3 = x * 1e16, x * 1.0, x * 1.0
    (u3 + (u1 + u2)).backward()
    assert x.grad == (1.0 + 1.0) + 1e16 != (1.0 + 1e16) + 1.0
    t = ag.tensor(1.0, requires_grad=True)
    v1, v2, v3 = t * 1e16, t * 1.0, t * 1.0
    (v3 + (v1 + v2)).backward()
    assert t.grad.item() == x.grad


def test_long_chain_backward_is_iterative():
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert x.grad == pytest.approx(1.00001**100_000, rel=1e-9)
    assert y.data == pytest.approx(1.00001**100_000, rel=1e-9)


def test_long_chain_of_nodes_used_twice():
    x = Value(3.0)
    y = x
    for _ in range(50_000):
        y = (y + y) * 0.5  # every node reached along two paths; dy/dx stays 1
    y.backward()
    assert x.grad == 1.0


# ------------------------------------------------------------------ the two engines agree

# A random program in SSA form: each step applies an op to earlier results (so results are
# reused and gradients accumulate) and is kept only when it is valid on the current values.
ARITH = ("+", "-", "*", "/", "neg")
ALL = (*ARITH, "**", "relu", "tanh", "exp", "log", "sigmoid")


def _valid(op: str, a: float, b: float | None, b_is_node: bool) -> bool:
    if op == "/":
        return abs(b) > 1e-3
    if op == "log":
        return a > 1e-3
    if op == "**":
        if abs(a) > 100:  # keep clear of float overflow (Python's ** raises OverflowError)
            return False
        if isinstance(b, int) and not b_is_node:  # integer power: any nonzero base
            return abs(a) > 1e-3
        return a > 1e-3 and abs(b) <= 3
    if op == "exp":
        return a < 10
    return True


def _apply(op: str, a, b=None):  # noqa: ANN001, ANN202
    if op in ("+", "-", "*", "/", "**"):
        return {"+": operator.add, "-": operator.sub, "*": operator.mul,
                "/": operator.truediv, "**": operator.pow}[op](a, b)  # fmt: skip
    if op == "neg":
        return -a
    return getattr(a, op)()


@st.composite
def programs(draw: st.DrawFn, ops: tuple[str, ...]) -> tuple[list[float], list[tuple]]:
    """Leaf values and steps (op, lhs, rhs), each operand ("v", index) or ("c", number)."""
    n_leaves = draw(st.integers(1, 4), label="n_leaves")
    leaves = [draw(st.floats(-3, 3, allow_nan=False), label="leaf") for _ in range(n_leaves)]
    values = list(leaves)
    steps: list[tuple] = []
    number = st.one_of(st.floats(-3, 3, allow_nan=False), st.integers(-3, 3))
    for _ in range(draw(st.integers(1, 12), label="n_steps")):
        op = draw(st.sampled_from(ops))
        lhs = ("v", draw(st.integers(0, len(values) - 1)))
        rhs = None
        if op in ("+", "-", "*", "/", "**"):
            rhs = draw(st.one_of(st.integers(0, len(values) - 1).map(lambda i: ("v", i)),
                                 number.map(lambda c: ("c", c))))  # fmt: skip
            if rhs[0] == "v" and draw(st.booleans()):  # a number on the left
                lhs, rhs = ("c", draw(number)), lhs
        a = values[lhs[1]] if lhs[0] == "v" else lhs[1]
        b = None if rhs is None else values[rhs[1]] if rhs[0] == "v" else rhs[1]
        if not _valid(op, a, b, rhs is not None and rhs[0] == "v"):
            continue
        v = _apply(
            op,
            Value(a) if lhs[0] == "v" else a,
            None if rhs is None else Value(b) if rhs[0] == "v" else b,
        )
        if not math.isfinite(v.data) or abs(v.data) > 1e6:
            continue
        values.append(v.data)
        steps.append((op, lhs, rhs))
    assume(steps)
    return leaves, steps


def _run(leaves: list[float], steps: list[tuple], make: Callable) -> tuple[list, object]:
    xs = [make(v) for v in leaves]
    nodes = list(xs)
    for op, lhs, rhs in steps:
        a = nodes[lhs[1]] if lhs[0] == "v" else lhs[1]
        b = None if rhs is None else nodes[rhs[1]] if rhs[0] == "v" else rhs[1]
        nodes.append(_apply(op, a, b))
    return xs, nodes[-1]


def _both(leaves, steps):  # noqa: ANN001, ANN202
    vs, vout = _run(leaves, steps, Value)
    ts, tout = _run(leaves, steps, lambda v: ag.tensor(v, requires_grad=True))
    assert tout.shape == () and tout.dtype == np.float64
    vout.backward()
    tout.backward()
    vgrads = [v.grad for v in vs]
    tgrads = [t.grad.item() if t.grad is not None else 0.0 for t in ts]
    assume(all(math.isfinite(g) for g in vgrads))
    return (vout.data, vgrads), (tout.item(), tgrads)


@given(programs(ARITH))
def test_engines_agree_exactly_on_arithmetic(program):
    (vval, vgrads), (tval, tgrads) = _both(*program)
    assert vval == tval  # the same float operations, in the same order
    if any(step[0] == "/" for step in program[1]):
        # The scalar engine multiplies by the local derivative 1/y where the Tensor rule
        # divides by y: the two can differ in the last bit, so division is compared closely.
        assert tgrads == pytest.approx(vgrads, rel=1e-12, abs=1e-12)
    else:
        assert vgrads == tgrads


@given(programs(ALL))
def test_engines_agree_on_all_ops(program):
    # math.exp/log/tanh and NumPy's differ in the last bit for some inputs on this machine
    # (e.g. math.exp(2.817966735740423) != np.exp of it), so 1e-12 relative, not equality.
    (vval, vgrads), (tval, tgrads) = _both(*program)
    assert tval == pytest.approx(vval, rel=1e-12, abs=1e-300)
    assert tgrads == pytest.approx(vgrads, rel=1e-12, abs=1e-12)


def test_power_overflow_gives_inf_like_exp():
    assert (Value(1e200) ** 2).data == math.inf
    assert (Value(-1e200) ** 3).data == -math.inf
    assert (2.0 ** Value(5000.0)).data == math.inf
    assert Value(1000.0).exp().data == math.inf


def test_power_at_zero_and_of_negative_base_follow_float64_arithmetic():
    # Python raises ZeroDivisionError for 0.0 ** -0.5 and gives a complex number for
    # (-8) ** (1/3); a Value follows NumPy and torch: inf and nan.
    x = Value(0.0)
    y = x**0.5  # sqrt at 0: value 0, derivative inf (torch too)
    y.backward()
    assert y.data == 0.0 and x.grad == math.inf
    assert (Value(0.0) ** -1).data == math.inf
    assert (Value(-0.0) ** -1).data == -math.inf
    z = Value(-8.0) ** (1 / 3)
    assert isinstance(z.data, float) and math.isnan(z.data)


@pytest.mark.parametrize(
    ("x", "y", "out", "dx", "dy"),
    [
        (1.0, 0.0, math.inf, math.inf, -math.inf),
        (-1.0, 0.0, -math.inf, math.inf, math.inf),
        (0.0, 0.0, math.nan, math.inf, math.nan),
        (1.0, 1e-200, 1e200, 1e200, -math.inf),  # y * y underflows to 0 in d/dy
    ],
)
def test_division_by_zero_follows_float64_arithmetic_as_power_does(x, y, out, dx, dy):
    # torch's values; Python (and micrograd) would raise ZeroDivisionError instead.
    a, b = Value(x), Value(y)
    z = a / b
    z.backward()
    for got, want in ((z.data, out), (a.grad, dx), (b.grad, dy)):
        assert got == want or (math.isnan(got) and math.isnan(want))
    assert (Value(x) / y).data == z.data or math.isnan(out)
    w = Value(y)
    r = 2.0 / w
    r.backward()
    assert r.data == (math.inf if y == 0 else 2e200) and w.grad == -math.inf


# ------------------------------------------------------------------ found by mutation testing


def test_relu_derivative_at_zero_is_zero():
    # relu'(0) = 0, as in PyTorch (and as the Tensor engine has it).
    x = Value(0.0)
    y = x.relu()
    y.backward()
    assert y.data == 0.0 and x.grad == 0.0


def test_log_and_rpow_of_zero_are_clear_errors():
    with pytest.raises(ValueError, match="logarithm needs a positive number, got 0.0"):
        Value(0.0).log()
    with pytest.raises(ValueError, match="base 0.0 must be positive"):
        0.0 ** Value(2.0)


def test_a_value_with_more_than_two_inputs_is_refused():
    a, b, c = Value(1.0), Value(2.0), Value(3.0)
    with pytest.raises(ValueError, match="at most two inputs, got 3"):
        Value(6.0, (a, b, c), "+")


def test_relu_passes_nan_through_and_division_gradients_survive_extreme_divisors():
    # As torch: relu(nan) is nan (with local derivative 1), not a silent 0.
    v = Value(math.nan)
    r = v.relu()
    r.backward()
    assert math.isnan(r.data) and v.grad == 1.0
    # d/dy (x/y) = -(x/y)/y: -x/(y·y) underflowed or overflowed in y·y.
    x, y = Value(1e-160), Value(1e-160)
    (x / y).backward()
    assert y.grad == -1e160 and x.grad == 1e160
    big, small = Value(1e200), Value(1e160)
    (big / small).backward()
    assert small.grad == -(1e40 / 1e160)
    z = Value(1e-170)
    (z / z).backward()
    assert z.grad == 0.0
    w = Value(1e200)
    (1e-200 / w).backward()  # a number over a Value: the same rule
    assert w.grad == -((1e-200 / 1e200) / 1e200)


def test_a_value_exponent_of_zero_gives_the_base_a_zero_gradient():
    # y·x^(y-1) at y = 0 is 0·inf for a subnormal base: 0, as torch has it.
    b, e = Value(5e-324), Value(0.0)
    (b**e).backward()
    assert b.grad == 0.0 and e.grad == math.log(5e-324)
