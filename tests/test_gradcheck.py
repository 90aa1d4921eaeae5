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
from autograd_mini.tensor import Op

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
