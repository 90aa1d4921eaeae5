"""Gradient checking (API.md §4) and the `autograd-mini gradcheck` command."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from strategies import expressions

import autograd_mini as ag
from autograd_mini import engine, ops
from autograd_mini.gradcheck import (
    CATALOGUE,
    GradcheckError,
    OpCase,
    gradcheck,
    gradgradcheck,
    numerical_grad,
    numerical_jacobian,
    sample_inputs,
)
from autograd_mini.tensor import Op, apply

# The package exports the function `gradcheck`, which shadows the module's name there.
gc_module = importlib.import_module("autograd_mini.gradcheck")

RNG = np.random.default_rng(99)


def leaf(a):
    return ag.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


# ------------------------------------------------------------------ planted wrong derivatives


def scaled_square(factor):
    """A Function computing x² whose backward is `factor`·x·g (right when factor == 2)."""

    class Square(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * (factor * x)

    return Square


class OffByOnePercent(ag.Function):
    """x³ with a backward that is 1 % too large."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (1.01 * 3 * x**2)


class SignFlipInOneElement(ag.Function):
    """sin(x) with a backward whose element 2 has the wrong sign."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = np.cos(x)
        d.flat[2] *= -1
        return g * d


def test_gradcheck_passes_correct_function_and_returns_true():
    x = leaf(RNG.standard_normal(4))
    assert gradcheck(lambda t: scaled_square(2.0).apply(t).sum(), (x,)) is True
    assert gradgradcheck(lambda t: (t.sin() * t).sum(), (x,)) is True


def test_one_percent_error_is_caught_with_element_and_values():
    x = leaf([0.5, -1.2, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: OffByOnePercent.apply(t).sum(), (x,))
    msg = str(info.value)
    # The worst element is the one with the largest derivative: x = 2.0, index (2,).
    assert "input 0, element (2,)" in msg
    assert "analytic 12.12" in msg and "numerical 12" in msg
    assert "worst abs error 0.12" in msg and "worst rel error 0.01" in msg
    assert "user Function 'OffByOnePercent'" in msg


def test_wrong_sign_in_one_element_is_localised():
    x = leaf([0.3, -0.7, 1.1, 0.4])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: SignFlipInOneElement.apply(t), (x,))
    msg = str(info.value)
    assert "input 0, element (2,)" in msg
    c = np.cos(1.1)
    assert f"analytic {-c:.10g}" in msg and f"numerical {c:.10g}" in msg
    assert "1 of 16 Jacobian entries" in msg
    assert re.search(r"user Function 'SignFlipInOneElement'.*element \(2,\)", msg)


def test_planted_op_is_named_deep_inside_a_larger_expression():
    x = leaf(RNG.standard_normal(4))
    W = leaf(RNG.standard_normal((3, 4)))
    b = leaf(RNG.standard_normal(3))

    def f(x, W, b):
        h = (W @ x.tanh() + b).sigmoid()
        h = SignFlipInOneElement.apply(h.exp() * 0.5 + ag.stack([h, h], axis=0).sum(axis=0))
        return (h.logsumexp() - h.mean()) * x.square().sum()

    with pytest.raises(GradcheckError) as info:
        gradcheck(f, (x, W, b))
    msg = str(info.value)
    assert "the first op whose own derivative is wrong is the user Function " in msg
    assert "'SignFlipInOneElement'" in msg
    assert "at element (2,)" in msg
    # Nothing built in is blamed.
    assert "built-in op" not in msg


def test_a_wrong_builtin_rule_is_named(monkeypatch):
    # sin's rule 1 % off: gradcheck names the built-in op, not the ops around it.
    monkeypatch.setattr(ops.sin, "rules", (lambda g, ans, x: g * ops.cos(x) * 1.01,))
    x = leaf(RNG.standard_normal(3))
    with pytest.raises(GradcheckError, match="built-in op 'sin'"):
        gradcheck(lambda t: (t.exp() * 2).sin().tanh().sum(), (x,))


@pytest.mark.parametrize("point", [[0.5, -1.5, 2.5], [3.0, 0.1, -0.2]])
def test_a_0_05_percent_error_is_caught_with_tight_tolerances(point):
    # A 5e-4 relative error is inside the default rtol of 1e-3 by definition (as in
    # PyTorch), but the float64 central differences are accurate to ~1e-9, so tightening
    # the tolerances catches it while the right derivative still passes.
    x = leaf(point)
    tight = {"atol": 1e-8, "rtol": 1e-5}
    assert gradcheck(lambda t: scaled_square(2.0).apply(t).sin().sum(), (x,), **tight)
    with pytest.raises(GradcheckError, match="user Function 'Square'") as info:
        gradcheck(lambda t: scaled_square(2.001).apply(t).sin().sum(), (x,), **tight)
    assert "worst rel error 0.0005" in str(info.value)
    assert not gradcheck(
        lambda t: scaled_square(2.001).apply(t).sin().sum(), (x,), raise_exception=False, **tight
    )


def test_raise_exception_false_returns_false():
    x = leaf([1.0, 2.0])
    assert gradcheck(lambda t: OffByOnePercent.apply(t), (x,), raise_exception=False) is False


def test_gradcheck_error_is_a_runtime_error():
    assert issubclass(GradcheckError, RuntimeError)


def test_gradgradcheck_catches_a_wrong_second_derivative(monkeypatch):
    # tanh's rule keeps the right value but, when the backward is recorded, hides the
    # dependence of 1 - tanh² on x: first derivatives stay right, second ones go wrong.
    def rule(g, ans, x):
        if isinstance(g, ag.Tensor):
            return g * (1 - (ans * ans).detach())
        return g * (1 - ans * ans)

    x = leaf(RNG.standard_normal(3))
    assert gradgradcheck(lambda t: t.tanh().sum(), (x,))
    monkeypatch.setattr(ops.tanh, "rules", (rule,))
    assert gradcheck(lambda t: t.tanh().sum(), (x,))
    with pytest.raises(GradcheckError, match="gradgradcheck: the Jacobian"):
        gradgradcheck(lambda t: t.tanh().sum(), (x,))


def test_gradgradcheck_notes_functions_whose_backward_is_not_recorded():
    x = leaf(RNG.standard_normal(3))
    Square = scaled_square(2.0)
    assert gradcheck(lambda t: Square.apply(t).sum(), (x,))
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda t: Square.apply(t).sum(), (x,))
    assert "user Function(s) 'Square'" in str(info.value)


def test_float32_inputs_are_checked_in_float64():
    x = ag.tensor(RNG.standard_normal(5).astype(np.float32), requires_grad=True)
    assert gradcheck(lambda t: (t.sin() * t).sum(), (x,))
    assert gradgradcheck(lambda t: (t.sin() * t).sum(), (x,))
    with pytest.raises(GradcheckError, match="checked in float64"):
        gradcheck(lambda t: OffByOnePercent.apply(t), (x,))


def test_any_output_shape_and_tuple_outputs():
    a, b = leaf(RNG.standard_normal((2, 3))), leaf(RNG.standard_normal(3))
    assert gradcheck(lambda a, b: (a * b).exp().reshape(3, 2, 1), (a, b))
    assert gradcheck(lambda a, b: (a.sum(), (a * b).tanh()), (a, b))
    assert gradgradcheck(lambda a, b: (a.sum(), (a * b).tanh()), (a, b))


def test_only_inputs_requiring_grad_are_checked():
    a = leaf(RNG.standard_normal(3))
    idx = np.array([2, 0])
    const = ag.tensor(RNG.standard_normal(3))
    assert gradcheck(lambda a, i, c: (a[i] * c[i]).sum(), (a, idx, const))
    with pytest.raises(ValueError, match="none of the 1 inputs requires grad"):
        gradcheck(lambda c: c.sum(), (const,))


def test_arrays_are_accepted_as_inputs():
    assert gradcheck(lambda t: t.exp().sum(), (RNG.standard_normal(3),))
    assert gradcheck(lambda t: t.exp().sum(), RNG.standard_normal(3))


def test_bad_tolerances_are_errors():
    x = leaf([1.0])
    with pytest.raises(ValueError, match="eps"):
        gradcheck(lambda t: t, (x,), eps=0)
    with pytest.raises(ValueError, match="atol"):
        gradcheck(lambda t: t, (x,), atol=-1)
    with pytest.raises(TypeError, match="tuple"):
        gradcheck(lambda t: t, 3.0)


@settings(max_examples=50, deadline=None)
@given(expressions())
def test_random_expressions_pass_gradcheck_and_gradgradcheck(expr):
    xs = expr.tensors()
    assert gradcheck(expr.fn, xs)
    assert gradgradcheck(expr.fn, xs)
    # gradcheck compares flattened Jacobians: an empty input's has no entries whatever shape
    # its gradient has. Every input the expression uses gets a gradient of its own shape.
    out = expr.fn(*xs)
    out.backward(np.ones(out.shape))
    for j, x in enumerate(xs):
        used = re.search(rf"\bx{j}\b", expr.text) is not None
        assert (x.grad is not None) == used, f"x{j}: used {used}, grad {x.grad!r}"
        if used:
            assert x.grad.shape == x.shape and x.grad.dtype == x.dtype, f"x{j}: {x.grad!r}"


# ------------------------------------------------------------------ numerical derivatives


def test_numerical_grad_central_and_forward():
    x = np.array([0.3, -1.0, 2.0])
    exact = np.exp(x)
    central = numerical_grad(lambda t: t.exp().sum(), x)
    forward = numerical_grad(lambda t: t.exp().sum(), x, method="forward")
    assert central.shape == x.shape and central.dtype == np.float64
    assert np.abs(central - exact).max() < 1e-8
    assert 1e-8 < np.abs(forward - exact).max() < 1e-5  # first order: visibly less accurate
    with pytest.raises(ValueError, match="method"):
        numerical_grad(lambda t: t.sum(), x, method="backward")


def test_numerical_grad_is_float64_whatever_the_input_dtype():
    x32 = np.array([0.7, 1.3], dtype=np.float32)
    g = numerical_grad(lambda t: (t**3).sum(), x32)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 3 * x32.astype(np.float64) ** 2, rtol=1e-9)


def test_numerical_grad_several_arguments_and_floats():
    gx, gy = numerical_grad(lambda a, b: (a * b).sum(), np.array([1.0, 2.0]), 3.0)
    np.testing.assert_allclose(gx, [3.0, 3.0], rtol=1e-9)
    assert isinstance(gy, float) and gy == pytest.approx(3.0, rel=1e-9)


def test_numerical_grad_of_non_scalar_is_an_error_naming_the_shape():
    with pytest.raises(ValueError, match=r"single element.*\(2,\)"):
        numerical_grad(lambda t: t * 2, np.ones(2))
    with pytest.raises(TypeError, match="int64"):
        numerical_grad(lambda t: t.sum(), np.arange(3))


def test_numerical_jacobian_shapes_and_values():
    x = RNG.standard_normal((2, 2))
    J = numerical_jacobian(lambda t: t.T.sin(), x)
    assert J.shape == (2, 2, 2, 2)
    expected = np.zeros((2, 2, 2, 2))
    for i in range(2):
        for j in range(2):
            expected[i, j, j, i] = np.cos(x[j, i])
    np.testing.assert_allclose(J, expected, atol=1e-9)
    Ja, Jb = numerical_jacobian(lambda a, b: a @ b, x, np.ones(2))
    assert Ja.shape == (2, 2, 2) and Jb.shape == (2, 2)
    np.testing.assert_allclose(Jb, x, atol=1e-9)


# ------------------------------------------------------------------ the catalogue and the command


def _graph_op_names(case: OpCase) -> set[str]:
    """Ops recorded by the case's forward and by its backward (what gradgradcheck runs)."""
    xs = tuple(ag.tensor(x, requires_grad=True) for x in sample_inputs(case, RNG))
    out = case.fn(*xs)
    gs = engine.backward(
        [out], [np.ones(out.shape)], retain_graph=True, create_graph=True, inputs=list(xs)
    )
    roots = [t._node for t in (out, *gs) if t is not None and t._node is not None]
    nodes = engine.toposort(roots, lambda n: [e for e in n.edges if type(e) is engine.Node])
    return {n.op.name for n in nodes}


def test_catalogue_covers_every_differentiable_primitive():
    primitives = {v.name for v in vars(ops).values() if isinstance(v, Op) and v.differentiable}
    covered = set().union(*(_graph_op_names(c) for c in CATALOGUE))
    assert primitives - covered == set()
    composites = {"var", "std", "stack", "softmax", "matmul batched", "index bool mask"}
    assert composites <= {c.name for c in CATALOGUE}


def test_catalogue_entries_sample_valid_inputs():
    for case in CATALOGUE:
        xs = sample_inputs(case, np.random.default_rng(0))
        assert [x.shape for x in xs] == list(case.shapes)
        out = case.fn(*(ag.tensor(x) for x in xs))
        assert np.isfinite(out.data).all(), case.name


def test_main_exits_nonzero_when_an_op_is_wrong(monkeypatch, capsys):
    bad = OpCase("planted", lambda t: OffByOnePercent.apply(t), ((3,),), ("real",))
    good = OpCase("fine", lambda t: t.sin(), ((3,),), ("real",))
    monkeypatch.setattr(gc_module, "CATALOGUE", [good, bad])
    assert gc_module.main(["--verbose"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^fine\s.*\syes$", out, re.M)
    assert re.search(r"^planted\s.*\sNO \(grad\)$", out, re.M)
    assert "OffByOnePercent" in out
    assert gc_module.main(["--op", "fine"]) == 0
    assert gc_module.main(["--op", "no such op"]) == 2


@pytest.mark.parametrize(
    "flag, value, expected",
    [
        ("--eps", "0", "positive"),
        ("--eps", "-1", "positive"),
        ("--eps", "nan", "positive"),
        ("--eps", "inf", "positive"),
        ("--eps", "tiny", "positive"),
        ("--atol", "-1e-5", "non-negative"),
        ("--rtol", "nan", "non-negative"),
    ],
)
def test_main_rejects_invalid_step_and_tolerances_as_usage_errors(
    monkeypatch, capsys, flag, value, expected
):
    # Without the check the whole catalogue ran and every op was reported as failed.
    ran = []
    case = OpCase("fine", lambda t: (ran.append(1), t.sin())[1], ((3,),), ("real",))
    monkeypatch.setattr(gc_module, "CATALOGUE", [case])
    with pytest.raises(SystemExit) as exc:
        gc_module.main([f"{flag}={value}"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: expected a {expected} number, got '{value}'" in err
    assert ran == []


def test_main_accepts_valid_step_and_tolerances(monkeypatch, capsys):
    case = OpCase("fine", lambda t: t.sin(), ((3,),), ("real",))
    monkeypatch.setattr(gc_module, "CATALOGUE", [case])
    assert gc_module.main(["--eps", "1e-5", "--atol", "0", "--rtol", "1e-3"]) == 0
    assert "(eps=1e-05, atol=0, rtol=0.001, seed=0)" in capsys.readouterr().out


def test_command_line_prints_the_table_and_exits_zero():
    proc = subprocess.run(
        [sys.executable, "-m", "autograd_mini", "gradcheck"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert re.match(r"op\s+max abs err\s+max rel err\s+pass$", lines[0])
    rows = {line.rsplit(None, 3)[0].strip(): line.split() for line in lines[2:-2]}
    for case in CATALOGUE:
        assert case.name in rows, case.name
        assert rows[case.name][-1] == "yes"
        assert float(rows[case.name][-3]) < 1e-5  # max abs err
    assert f"{len(CATALOGUE)} ops checked" in proc.stdout and ", 0 failed" in proc.stdout


@pytest.mark.parametrize(
    ("f", "x", "where", "left", "right", "given"),
    [
        (lambda t: (t.relu() * 3).sum(), [0.0, 1.0], "relu", 0, 1, 0),
        (lambda t: t.clip(0.0, 1.0).sum(), [0.5, 1.0], "clip", 1, 0, 0),
        (lambda t: (t.clip(-1.0, None) * 2).sum(), [-1.0, 0.0], "clip", 0, 1, 0),
    ],
)
def test_a_kink_is_reported_as_a_kink_not_a_wrong_derivative(f, x, where, left, right, given):
    # At relu's 0 central differences give the mean of the two one-sided slopes; the message
    # must say so rather than call the (PyTorch-conventional) subgradient wrong.
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, (leaf(x),))
    msg = str(info.value)
    assert f"built-in op '{where}'" in msg and "whose own derivative is wrong" not in msg
    assert f"its slope is {left:g} from the left and {right:g} from the right" in msg
    assert f"its backward gives {given:g}, one of the one-sided slopes" in msg
    assert "a kink, not a wrong derivative" in msg


def test_a_rule_wrong_at_a_smooth_point_is_still_called_wrong():
    # The kink test must not excuse a wrong rule: both one-sided slopes agree here.
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: OffByOnePercent.apply(t), (leaf([0.5, 2.0]),))
    msg = str(info.value)
    assert "whose own derivative is wrong" in msg and "kink" not in msg


def test_a_float32_cast_inside_f_is_named_as_the_reason_differences_fail():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: (t.astype(np.float32) ** 2).sum(), (leaf([0.3, 1.0]),))
    msg = str(info.value)
    assert "built-in op 'astype' computes in float32" in msg
    assert "uncertain by about 12% of the value" in msg and "check f in float64" in msg
    assert "whose own derivative is wrong" not in msg


# ---- found by mutation testing


@pytest.mark.parametrize("eps", [float("nan"), float("inf"), -1e-6, "1e-6", None])
def test_every_entry_point_rejects_a_step_that_is_not_positive_and_finite(eps):
    x = np.array([0.5, 1.0])
    for call in (
        lambda: numerical_grad(lambda t: t.sum(), x, eps=eps),
        lambda: numerical_jacobian(lambda t: t, x, eps=eps),
        lambda: gradcheck(lambda t: t, (leaf(x),), eps=eps),
        lambda: gradgradcheck(lambda t: t, (leaf(x),), eps=eps),
    ):
        with pytest.raises(ValueError, match="eps must be a positive finite number"):
            call()


def test_f_may_return_a_plain_number_or_list_and_its_result_is_not_aliased():
    x = np.array([1.0, 2.0])
    g = numerical_grad(lambda t: float((t.data**2).sum()), x)
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-8)
    J = numerical_jacobian(lambda t: (t.data**2).tolist(), x)
    np.testing.assert_allclose(J, np.diag([2.0, 4.0]), rtol=1e-8)
    # f returning its own input: f(x) must be copied before x is stepped.
    assert numerical_grad(lambda t: t, 2.0, method="forward") == pytest.approx(1.0, rel=1e-6)
    assert numerical_grad(lambda t: t, np.array(2.0), method="forward") == pytest.approx(1.0)


def test_empty_inputs_have_empty_numerical_derivatives():
    g = numerical_grad(lambda t: t.sum() * 2 + 1, np.zeros((2, 0)))
    assert g.shape == (2, 0) and g.dtype == np.float64
    J = numerical_jacobian(lambda t: t.sum(axis=1), np.zeros((2, 0)))
    assert J.shape == (2, 2, 0)
    Ja, Jb = numerical_jacobian(lambda a, b: a * 2 + b.sum(), np.ones(2), np.zeros(0))
    np.testing.assert_allclose(Ja, 2 * np.eye(2), rtol=1e-8)
    assert Jb.shape == (2, 0)


def test_forward_differences_step_forward():
    # |x| at 0: a forward difference gives the right slope, +1; a backward one would give -1.
    g = numerical_grad(lambda t: t.abs().sum(), np.zeros(2), method="forward")
    np.testing.assert_allclose(g, [1.0, 1.0], rtol=1e-9)
    assert numerical_grad(lambda t: t.abs().sum(), np.zeros(2)).tolist() == [0.0, 0.0]


def test_default_step_is_1e_6_everywhere():
    # |x| at x = 5e-7: central differences straddle the kink only for steps above 5e-7, and
    # with eps = 1e-6 they give exactly (1.5e-6 - 0.5e-6) / 2e-6 = 0.5.
    x = np.array([5e-7])
    assert numerical_grad(lambda t: t.abs().sum(), x)[0] == pytest.approx(0.5, rel=1e-6)
    assert numerical_jacobian(lambda t: t.abs(), x)[0, 0] == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(GradcheckError, match=r"analytic 1, numerical 0\.5\d*\n"):
        gradcheck(lambda t: t.abs(), (leaf(x),))
    # Second derivative of x|x|/2 is sign(x), seen through the same straddled kink.
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda t: t * t.abs() / 2, (leaf(x),))
    a, n = re.search(r"analytic (\S+), numerical (\S+)\n", str(info.value)).groups()
    assert float(n) / float(a) == pytest.approx(0.5, rel=1e-6)
    assert "eps=1e-06" in str(info.value)


class ConstantWithUnitBackward(ag.Function):
    """0·x (derivative 0) with a backward that passes g through (derivative 1)."""

    @staticmethod
    def forward(ctx, x):
        return x * 0.0

    @staticmethod
    def backward(ctx, g):
        return g


class NaNInElementZero(ag.Function):
    """2·x with a backward whose element 0 is NaN (so is column 0 of its Jacobian: 0·NaN)."""

    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, g):
        d = np.full(g.shape, 2.0)
        d.flat[0] = np.nan
        return g * d


def test_an_output_whose_shape_changes_between_calls_is_an_error():
    x = leaf([0.5, 1.0])

    def grows(t):  # one element at x[0] = 0.5 and below, two above
        return t[: 1 + int(t.data[0] > 0.5)]

    with pytest.raises(ValueError, match="different shapes on different calls"):
        gradcheck(grows, (x,))
    with pytest.raises(ValueError, match="different shapes on different calls"):
        gradcheck(lambda t: (t.sum(), grows(t)), (x,))
    with pytest.raises(ValueError, match="different shapes on different calls"):
        gradcheck(lambda t: (t.sum(),) * (1 + int(t.data[0] > 0.5)), (x,))


def test_relative_error_is_measured_against_atol_where_the_derivative_is_zero():
    # Numerical derivative exactly 0, analytic 1: rel = 1 / max(0, atol), or 1 / tiny at atol=0.
    x = leaf([0.7])
    with pytest.raises(GradcheckError, match=r"worst abs error 1, worst rel error 1e\+05;"):
        gradcheck(lambda t: ConstantWithUnitBackward.apply(t), (x,))
    tiny = np.finfo(np.float64).tiny
    with pytest.raises(GradcheckError, match=re.escape(f"worst rel error {1 / tiny:.3g};")):
        gradcheck(lambda t: ConstantWithUnitBackward.apply(t), (x,), atol=0)


def test_empty_inputs_do_not_raise_the_worst_errors():
    x = leaf([0.5, -1.2, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t, e: OffByOnePercent.apply(t).sum() + e.sum(), (x, leaf(np.zeros(0))))
    assert "worst abs error 0.12, worst rel error 0.01;" in str(info.value)


def test_a_nan_derivative_is_the_worst_error_and_is_reported_as_inf():
    x = leaf([0.3, -0.4, 0.5])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: NaNInElementZero.apply(t), (x,))
    msg = str(info.value)
    assert "input 0, element (0,) (of the output, element (0,)): analytic nan" in msg
    assert "worst abs error inf, worst rel error inf; 3 of 9 Jacobian entries" in msg


def wrong_slopes(slopes, errors):
    """x·slopes (elementwise) with a backward off by `errors` in each element."""
    slopes, errors = np.asarray(slopes, float), np.asarray(errors, float)

    class WrongSlopes(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * slopes

        @staticmethod
        def backward(ctx, g):
            return g * (slopes + errors)

    return WrongSlopes


def test_the_element_named_is_the_one_furthest_outside_its_tolerance():
    # Element 0 is off by more (0.2) but is allowed 0.1 (rtol·100); element 1 is off by 0.15
    # with only atol allowed, so it is the worst.
    Wrong = wrong_slopes([100.0, 0.0], [0.2, 0.15])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: Wrong.apply(t).sum(), (leaf([0.3, 0.4]),))
    assert "input 0, element (1,) (of the output, element ()): analytic 0.15, numerical 0" in str(
        info.value
    )


def test_of_equally_wrong_inputs_the_first_is_named():
    a, b = leaf([0.5, 2.0]), leaf([0.5, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: OffByOnePercent.apply(a) + OffByOnePercent.apply(b), (a, b))
    assert "with respect to input 0 (shape (2,)" in str(info.value)
    assert "input 0, element (1,) (of the output, element (1,))" in str(info.value)


def test_the_output_is_named_by_index_only_when_f_returns_several():
    x = leaf([0.5, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: OffByOnePercent.apply(t), (x,))
    assert "the Jacobian of the output (shape (2,))" in str(info.value)
    assert "(of the output, element (1,))" in str(info.value)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: (t.sin(), OffByOnePercent.apply(t).sum()), (x,))
    assert "the Jacobian of output 1 (shape ())" in str(info.value)
    assert "input 0, element (1,) (of output 1, element ())" in str(info.value)
    # Numbers and arrays f returns count as outputs too (constant ones).
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: (np.ones(2), 3.0, OffByOnePercent.apply(t)), (x,))
    assert "the Jacobian of output 2 (shape (2,))" in str(info.value)


def test_default_tolerances_are_atol_1e_5_and_rtol_1e_3():
    x = leaf([0.5, 2.0])
    with pytest.raises(GradcheckError, match=r"\(atol=1e-05, rtol=0\.001, eps=1e-06\)"):
        gradcheck(lambda t: OffByOnePercent.apply(t), (x,))
    with pytest.raises(GradcheckError, match=r"\(atol=1e-05, rtol=0\.001, eps=1e-06\)"):
        gradgradcheck(lambda t: t * t.abs() / 2, (leaf([5e-7]),))  # see the test above

    # ... and they decide: an error of 9e-6 where the derivative is 0 passes, 1.1e-5 fails;
    # a relative error of 0.9e-3 passes, 1.1e-3 fails.
    def passes(slope, error):
        Wrong = wrong_slopes([slope], [error])
        return gradcheck(lambda t: Wrong.apply(t), (leaf([0.25]),), raise_exception=False)

    assert passes(0.0, 9e-6) and not passes(0.0, 1.1e-5)
    assert passes(100.0, 0.09) and not passes(100.0, 0.11)


def test_gradgradcheck_checks_cotangents_only_for_outputs_that_depend_on_the_inputs():
    # The x|x|/2 kink failure of test_default_step_is_1e_6_everywhere, with a constant output
    # beside it: the checked inputs are x and the one cotangent, 2 Jacobian entries in all.
    with pytest.raises(GradcheckError, match=r"1 of 2 Jacobian entries"):
        gradgradcheck(lambda t: (t * t.abs() / 2, ag.tensor([1.0, 2.0])), (leaf([5e-7]),))


class NoGradient(ag.Function):
    """x·0 whose backward gives no gradient at all (None): nothing to differentiate twice."""

    @staticmethod
    def forward(ctx, x):
        return x * 0.0

    @staticmethod
    def backward(ctx, g):
        return None


def test_gradgradcheck_notes_user_functions_only_when_there_are_some():
    x = leaf([5e-7])  # the kink of test_default_step_is_1e_6_everywhere makes both fail
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda t: t * t.abs() / 2 + NoGradient.apply(t), (x,))
    assert str(info.value).endswith("\n  note: the graph contains user Function(s) 'NoGradient'")
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(lambda t: t * t.abs() / 2, (x,))
    assert "note:" not in str(info.value) and "user Function" not in str(info.value)


def test_gradgradcheck_checks_the_derivative_with_respect_to_the_cotangent(monkeypatch):
    # sin's rule right in value but, when recorded, cut off from g: d(vjp)/dx is still right,
    # only d(vjp)/dv (input 1 of the checked function: the cotangent) is wrong.
    def rule(g, ans, x):
        return (g.detach() if isinstance(g, ag.Tensor) else g) * ops.cos(x)

    monkeypatch.setattr(ops.sin, "rules", (rule,))
    x = leaf([0.3, -0.6])
    assert gradcheck(lambda t: t.sin(), (x,))
    with pytest.raises(GradcheckError, match="gradgradcheck: .* with respect to input 1 "):
        gradgradcheck(lambda t: t.sin(), (x,))


def test_a_failure_no_single_op_explains_says_how_many_ops_were_checked():
    # Branching on the value at x[0] = 0.5: each op is right, but f jumps between them.
    def branchy(t):
        return (t * 2.0 if t.data[0] > 0.5 else t * 3.0).exp()

    with pytest.raises(GradcheckError) as info:
        gradcheck(branchy, (leaf([0.5, 1.0]),))
    assert "localised: each of the 2 recorded ops that could be re-run has a derivative" in str(
        info.value
    )
    # With no op recorded at all there is nothing to localise.
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: t if t.data[0] <= 0.5 else ag.tensor(t.data + 1), (leaf([0.5]),))
    assert "localised" not in str(info.value)


def wrong_matvec(A, factor=1.01, offset=0.0):
    """A Function computing A @ x whose backward is factor·(g @ A) + offset (1 % too large)."""

    class WrongMatVec(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return A @ x

        @staticmethod
        def backward(ctx, g):
            return factor * (g @ A) + offset

    return WrongMatVec


def test_an_op_with_20000_jacobian_entries_is_still_checked_entry_by_entry():
    A = np.random.default_rng(5).standard_normal((200, 100))

    WrongMatVec = wrong_matvec(A)

    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: WrongMatVec.apply(t).sum(), (leaf(np.ones(100)),))
    msg = str(info.value)
    assert "user Function 'WrongMatVec': for its input 0 (shape (100,)) at element (" in msg
    assert "random direction" not in msg


def test_a_wrong_rule_is_named_for_an_op_with_integer_inputs_and_a_saved_intermediate(monkeypatch):
    # cross_entropy takes integer targets (which must stay integers when the op is re-run) and
    # keeps softmax(x) from its forward for the rule (`saving`).
    right = ops.cross_entropy.rules[0]

    def rule(g, p, x, t, axis, reduction):
        return right(g, p, x, t, axis, reduction) * 1.01

    monkeypatch.setattr(ops.cross_entropy, "rules", (rule, None))
    x = leaf(np.random.default_rng(3).standard_normal((3, 4)))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: ag.nn.functional.cross_entropy(t.tanh(), np.array([0, 3, 1])), (x,))
    assert "the first op whose own derivative is wrong is the built-in op 'cross_entropy'" in str(
        info.value
    )
    # With its right rule (which uses the softmax kept by its forward) it is not blamed.
    monkeypatch.setattr(ops.cross_entropy, "rules", (right, None))
    with pytest.raises(GradcheckError) as info:
        loss = ag.nn.functional.cross_entropy
        gradcheck(lambda t: OffByOnePercent.apply(loss(t, np.array([0, 3, 1]))), (x,))
    assert "the first op whose own derivative is wrong is the user Function 'OffByOnePercent'" in (
        str(info.value)
    )


def test_ops_on_float32_constants_are_rechecked_in_float64():
    # mul sees a float32 constant; it is re-run (in float64) and passes, and the wrong op
    # after it is still found.
    c = ag.tensor(np.array([2.0, 3.0], dtype=np.float32))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: OffByOnePercent.apply(t * c), (leaf([0.5, 1.5]),))
    assert "the first op whose own derivative is wrong is the user Function 'OffByOnePercent'" in (
        str(info.value)
    )


def test_an_op_with_more_than_20000_jacobian_entries_is_checked_along_random_directions():
    A = np.random.default_rng(5).standard_normal((177, 113))  # 20001 entries

    WrongMatVec = wrong_matvec(A)

    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: WrongMatVec.apply(t).sum(), (leaf(np.ones(113)),))
    msg = str(info.value)
    assert "user Function 'WrongMatVec': for its input 0 (shape (113,)) along a random" in msg
    # A right op that large passes that check: the wrong one after it is named.
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: OffByOnePercent.apply(ag.tensor(A) @ t).sum(), (leaf(np.ones(113)),))
    assert "the first op whose own derivative is wrong is the user Function 'OffByOnePercent'" in (
        str(info.value)
    )


class AbsWithHalfAtZero(ag.Function):
    """|x| whose backward gives 0.5 at 0: neither one-sided slope (-1 or 1)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.where(x == 0, 0.5, np.sign(x))


def test_a_kink_whose_backward_is_neither_one_sided_slope_is_not_called_a_subgradient():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: AbsWithHalfAtZero.apply(t).sum(), (leaf([0.0, 1.0]),))
    msg = str(info.value)
    assert "its slope is -1 from the left and 1 from the right" in msg
    assert "its backward gives 0.5. That is a kink" in msg
    assert "one of the one-sided slopes" not in msg


def test_a_flat_forward_with_a_nonzero_backward_is_wrong_even_with_atol_0():
    # Both one-sided slopes are exactly 0: no kink, however tight the tolerance.
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: ConstantWithUnitBackward.apply(t), (leaf([0.7]),), atol=0)
    assert "whose own derivative is wrong" in str(info.value) and "kink" not in str(info.value)


def test_a_right_op_checked_along_random_directions_passes_with_atol_0():
    # mul by 0 on 200 elements (40000 Jacobian entries): both sides are exactly 0.
    A = np.random.default_rng(5).standard_normal((200, 3))

    def f(t):
        zero = ((ag.tensor(A) @ t) * 0.0).sum()  # recorded, so checked, first
        return OffByOnePercent.apply(t) + zero

    with pytest.raises(GradcheckError) as info:
        gradcheck(f, (leaf([0.5, 1.0, 2.0]),), atol=0)
    assert "the first op whose own derivative is wrong is the user Function 'OffByOnePercent'" in (
        str(info.value)
    )


def test_main_reports_a_wrong_second_derivative(monkeypatch, capsys):
    def rule(g, ans, x):  # as in test_gradgradcheck_catches_a_wrong_second_derivative
        if isinstance(g, ag.Tensor):
            return g * (1 - (ans * ans).detach())
        return g * (1 - ans * ans)

    monkeypatch.setattr(ops.tanh, "rules", (rule,))
    case = OpCase("tanh", lambda t: t.tanh(), ((3,),), ("real",))
    monkeypatch.setattr(gc_module, "CATALOGUE", [case])
    assert gc_module.main([]) == 1
    out = capsys.readouterr().out
    row = re.search(r"^tanh\s.*\sNO \(gradgrad\)$", out, re.M).group().split()
    # The errors shown are the larger of the first and second derivatives' (those are tiny).
    assert float(row[1]) > 1e-3 and float(row[2]) > 1e-3
    assert "1 failed" in out and out.endswith("run with --verbose for details\n")


def test_main_suggests_verbose_only_for_failures_not_shown(monkeypatch, capsys):
    good = OpCase("fine", lambda t: t.sin(), ((3,),), ("real",))
    bad = OpCase("planted", lambda t: OffByOnePercent.apply(t), ((3,),), ("real",))
    monkeypatch.setattr(gc_module, "CATALOGUE", [good, bad])
    assert gc_module.main(["--op", "fine"]) == 0
    assert "--verbose" not in capsys.readouterr().out
    assert gc_module.main(["--verbose"]) == 1
    out = capsys.readouterr().out
    assert "--verbose" not in out
    # The first column is as wide as the longest name.
    assert out.splitlines()[0] == "op       max abs err  max rel err  pass"
    assert gc_module.main([]) == 1
    out = capsys.readouterr().out
    assert "run with --verbose for details" in out and "OffByOnePercent" not in out


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_bad_tolerances_are_rejected_before_f_is_called(check):
    calls = []

    def f(t):
        calls.append(1)
        return t.sin()

    with pytest.raises(ValueError, match="atol must be a non-negative number"):
        check(f, (leaf([1.0]),), atol=-1)
    with pytest.raises(ValueError, match="rtol must be a non-negative number"):
        check(f, (leaf([1.0]),), rtol=float("nan"))
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        check(f, 3.0, eps=0)  # before the inputs are looked at, too
    assert calls == []


def test_numerical_grad_gives_floats_for_numbers_only():
    g = numerical_grad(lambda a, b, c: (a * a).sum() * b * c.sum(), [1.0, 2.0], 3.0, np.array(1.0))
    assert isinstance(g[0], np.ndarray) and g[0].shape == (2,)
    np.testing.assert_allclose(g[0], [6.0, 12.0], rtol=1e-8)
    assert type(g[1]) is float and g[1] == pytest.approx(5.0, rel=1e-8)
    assert isinstance(g[2], np.ndarray) and g[2].shape == ()
    assert float(g[2]) == pytest.approx(15.0, rel=1e-8)


class Float32Ready(ag.Function):
    """x·c that insists its constant c is float32: it cannot be re-run on float64 copies."""

    @staticmethod
    def forward(ctx, x, c):
        if c.dtype != np.float32:
            raise TypeError("c must be float32")
        ctx.save_for_backward(c)
        return x * c.astype(np.float64)

    @staticmethod
    def backward(ctx, g):
        (c,) = ctx.saved_tensors
        return g * c, None


class ScaleWrongly(ag.Function):
    """c·x with a constant first argument c and a backward 1 % off for x."""

    @staticmethod
    def forward(ctx, c, x):
        ctx.save_for_backward(c)
        return c * x

    @staticmethod
    def backward(ctx, g):
        (c,) = ctx.saved_tensors
        return None, g * c * 1.01


def test_an_op_that_cannot_be_rerun_is_skipped_and_the_next_one_checked():
    c = np.array([2.0, 3.0], dtype=np.float32)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: OffByOnePercent.apply(Float32Ready.apply(t, c)), (leaf([0.5, 1.5]),))
    assert "the first op whose own derivative is wrong is the user Function 'OffByOnePercent'" in (
        str(info.value)
    )


def test_a_wrong_derivative_for_an_input_after_a_constant_one_is_found():
    c = np.array([2.0, -3.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: ScaleWrongly.apply(c, t), (leaf([0.5, 1.5]),))
    assert (
        "the first op whose own derivative is wrong is the user Function 'ScaleWrongly': for its "
        "input 1 (shape (2,)) at element (1,)"
    ) in str(info.value)


def test_a_right_broadcasting_op_is_not_blamed():
    a, b = leaf(np.full((2, 3), 0.5)), leaf([0.1, 0.2, 0.3])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda a, b: OffByOnePercent.apply(a + b), (a, b))
    assert "the first op whose own derivative is wrong is the user Function 'OffByOnePercent'" in (
        str(info.value)
    )


class Float32Product(ag.Function):
    """c·x computed in float32, with a constant first argument c."""

    @staticmethod
    def forward(ctx, c, x):
        ctx.save_for_backward(c)
        return (c * x).astype(np.float32)

    @staticmethod
    def backward(ctx, g):
        (c,) = ctx.saved_tensors
        return None, g * c


def test_a_float32_op_with_a_constant_input_is_named_as_the_reason_differences_fail():
    c = np.array([2.0, -3.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: (Float32Product.apply(c, t) ** 2).sum(), (leaf([0.3, 1.0]),))
    assert "the user Function 'Float32Product' computes in float32" in str(info.value)


def test_an_op_declared_outside_ops_is_not_called_built_in():
    wrong_sin = ops.primitive("wrong_sin", np.sin, lambda g, ans, x: g * ops.cos(x) * 1.01)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: apply(wrong_sin, (t,)), (leaf([0.5, 1.0]),))
    msg = str(info.value)
    assert "the first op whose own derivative is wrong is the op 'wrong_sin'" in msg
    assert "built-in" not in msg


@pytest.mark.parametrize(
    "factor, offset, tolerances",
    [
        # 1e-5 off per element: along a direction u about 1e-5·Σu, inside atol·√(m·n).
        (1.0, 1e-5, {"atol": 1e-5, "rtol": 0}),
        # 1e-4 relatively off: inside rtol·|numerical|.
        (1.0001, 0.0, {"atol": 0, "rtol": 1e-3}),
    ],
)
def test_tolerances_along_random_directions_scale_as_documented(factor, offset, tolerances):
    A = np.random.default_rng(5).standard_normal((177, 113))
    Off = wrong_matvec(A, factor, offset)
    x = leaf(np.random.default_rng(6).standard_normal(113))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: OffByOnePercent.apply(Off.apply(t)).sum(), (x,), **tolerances)
    assert "the first op whose own derivative is wrong is the user Function 'OffByOnePercent'" in (
        str(info.value)
    )


def test_slopes_within_rtol_of_each_other_are_no_kink():
    # Slopes 0.9989905 left of 0 and 1 right of it: they differ by 1.0095e-3, more than
    # atol + rtol·(the smaller) but not more than atol + rtol·(the larger) = 1.01e-3.
    class AlmostLinear(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return np.where(x < 0, 0.9989905 * x, x)

        @staticmethod
        def backward(ctx, g):
            return g * 5.0

    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: AlmostLinear.apply(t), (leaf([0.0]),))
    assert "whose own derivative is wrong" in str(info.value) and "kink" not in str(info.value)


def ramp(left, right, given):
    """A kink at 0: slope `left` below it, `right` from it on; the backward gives `given` there."""

    class Ramp(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.where(x < 0, left * x, right * x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * np.where(x < 0, left, np.where(x == 0, given, right))

    return Ramp


@pytest.mark.parametrize(
    ("left", "right", "given", "atol"),
    [
        (0.0, 2.0, 2.0, 1e-5),  # the right-hand slope, exactly
        (1.0, 100.0, 100.05, 1e-5),  # the right-hand slope within rtol·100
        (0.0, 1.0, 0.0, 0.0),  # the left-hand slope 0 exactly, even with no absolute tolerance
    ],
)
def test_a_backward_giving_a_one_sided_slope_at_a_kink_is_called_a_subgradient(
    left, right, given, atol
):
    Ramp = ramp(left, right, given)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: Ramp.apply(t), (leaf([0.0]),), atol=atol)
    msg = str(info.value)
    assert f"its slope is {left:g} from the left and {right:g} from the right" in msg
    assert f"its backward gives {given:g}, one of the one-sided slopes" in msg


def test_sample_inputs_cover_each_domain():
    case = OpCase("all", None, ((20000,),) * 4, ("real", "positive", "nonzero", "varied"))
    real, pos, nonzero, varied = sample_inputs(case, np.random.default_rng(0))
    assert 0.5 <= pos.min() < 0.51 and 1.99 < pos.max() <= 2.0
    assert 0.5 <= np.abs(nonzero).min() < 0.51 and 1.99 < np.abs(nonzero).max() <= 2.0
    assert 0.45 < (nonzero > 0).mean() < 0.55
    for x in (real, varied):
        assert abs(x.mean()) < 0.05 and abs(x.std() - 1) < 0.05
    with pytest.raises(ValueError, match="unknown domain 'odd'"):
        sample_inputs(OpCase("odd", None, ((2,),), ("odd",)), np.random.default_rng(0))


def test_a_kink_in_a_2_d_input_is_located():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: (t.relu() * 3).sum(), (leaf([[1.0], [0.0]]),))
    msg = str(info.value)
    assert "the built-in op 'relu', for its input 0 (shape (2, 1)), is not differentiable" in msg
    assert "at element (1, 0): its slope is 0 from the left and 1 from the right" in msg


def test_main_goes_on_after_an_op_that_raises_and_shows_why_each_failed(monkeypatch, capsys):
    def broken(t):
        raise RuntimeError("planted crash")

    monkeypatch.setattr(ops.sin, "rules", (lambda g, ans, x: g * ops.cos(x) * 1.01,))
    cases = [
        OpCase("broken", broken, ((3,),), ("real",)),
        OpCase("sin", lambda t: t.sin(), ((3,),), ("real",)),  # grad wrong, gradgrad fine
        OpCase("fine", lambda t: t.exp(), ((3,),), ("real",)),
    ]
    monkeypatch.setattr(gc_module, "CATALOGUE", cases)
    assert gc_module.main(["--verbose"]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^broken\s+-\s+-\s+ERROR$", out, re.M)
    assert re.search(r"^sin\s.*\sNO \(grad\)$", out, re.M)
    assert re.search(r"^fine\s.*\syes$", out, re.M)
    assert "3 ops checked (first and second derivatives), 2 failed" in out
    assert "\n[broken]\nRuntimeError: planted crash\n" in out
    assert "\n[sin]\ngradcheck: the Jacobian of the output" in out


def test_catalogue_shapes_and_domains_are_tuples_one_per_input():
    for case in CATALOGUE:
        assert type(case.shapes) is tuple and all(type(s) is tuple for s in case.shapes), case
        assert type(case.domain) is tuple and len(case.domain) == len(case.shapes), case
        assert set(case.domain) <= set(gc_module.DOMAINS), case


def test_numerical_derivatives_of_a_transposed_input():
    # A Fortran-ordered copy made reshape(-1) a copy too: the steps never reached f, every
    # difference was 0 and gradcheck blamed a right op.
    x = np.arange(1.0, 7.0).reshape(3, 2).T  # Fortran-ordered
    for method in ("central", "forward"):
        g = numerical_grad(lambda t: (t * t).sum(), x, method=method)
        np.testing.assert_allclose(g, 2 * x, rtol=1e-5)
    J = numerical_jacobian(lambda t: t * t, x)  # shaped (out, in) = (2, 3, 2, 3)
    np.testing.assert_allclose(J.reshape(6, 6), np.diag(2 * x.ravel()), rtol=1e-7, atol=1e-9)
    assert gradcheck(lambda t: (t * t).sum(), (ag.tensor(x, requires_grad=True),))


class HalfExp(ag.Function):
    """exp with half its derivative."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.exp(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ag.exp(x) / 2


def test_an_infinite_numerical_derivative_does_not_accept_a_finite_one():
    # exp(x0 + eps) overflows, so the central difference is inf; its tolerance atol + rtol·inf
    # is inf too, which used to let any finite analytic value pass.
    x0 = np.log(np.finfo(np.float64).max) - 5e-7
    with np.errstate(over="ignore"):
        assert np.isinf(numerical_grad(lambda t: HalfExp.apply(t).sum(), np.array([x0]))[0])
        with pytest.raises(GradcheckError):
            gradcheck(lambda t: HalfExp.apply(t).sum(), (ag.tensor([x0], requires_grad=True),))
