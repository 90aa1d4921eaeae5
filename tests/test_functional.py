"""Tests for ``autograd_mini.nn.functional``: activations and losses.

Each function is checked against a closed form written directly in NumPy (values and
gradients, including extreme logits), against central differences (first and second
derivatives, via ``gradcheck``/``gradgradcheck``), and against ``torch.nn.functional``
(float64, 1e-10 relative) in tests that are skipped when torch is not installed.
"""

from __future__ import annotations

import itertools
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_mini as ag
from autograd_mini.gradcheck import gradcheck, gradgradcheck
from autograd_mini.nn import functional as F

REDUCTIONS = ["mean", "sum", "none"]
RNG = np.random.default_rng(12345)


# --------------------------------------------------------------------------- closed forms


def ref_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def ref_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def ref_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))  # accurate in both tails


def ref_bce_logits(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    # (1 - t)·x + log(1 + e^-x), rearranged per sign of x so nothing cancels when tiny
    return np.where(x >= 0, (1 - t) * x, -t * x) + np.log1p(np.exp(-np.abs(x)))


def ref_bce_logits_grad(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    # sigmoid(x) - t, written as (1 - t) - sigmoid(-x) for x >= 0 so that t = 1 does not cancel
    return np.where(x >= 0, (1 - t) - ref_sigmoid(-x), ref_sigmoid(x) - t)


def reduce(v: np.ndarray, reduction: str) -> np.ndarray:
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](v)


def grad_of(f, *arrays, wrt: int = 0, upstream=None):  # noqa: ANN001, ANN201
    """Value and gradient of f with respect to arrays[wrt] (upstream gradient of ones)."""
    ts = [ag.tensor(a, requires_grad=(i == wrt)) for i, a in enumerate(arrays)]
    out = f(*ts)
    out.backward(np.ones(out.shape) if upstream is None else upstream)
    return out.data, ts[wrt].grad.data


def assert_close(actual, expected, rtol: float = 1e-12, atol: float = 0.0) -> None:  # noqa: ANN001
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- activations


def test_relu_tanh_sigmoid_closed_forms() -> None:
    x = np.array([-3.0, -0.5, 0.0, 0.5, 40.0, -800.0])
    v, g = grad_of(F.relu, x)
    assert_close(v, np.maximum(x, 0))
    assert_close(g, (x > 0).astype(float))  # relu'(0) = 0
    v, g = grad_of(F.tanh, x)
    assert_close(v, np.tanh(x))
    assert_close(g, 1 - np.tanh(x) ** 2, atol=1e-300)
    v, g = grad_of(F.sigmoid, x)
    s = ref_sigmoid(x)
    assert_close(v, s)
    assert_close(g, s * (1 - s))
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(g))


def test_softmax_and_log_softmax_closed_forms() -> None:
    x = RNG.standard_normal((4, 5)) * 3
    for axis in (0, 1, -1):
        assert_close(F.softmax(x, axis=axis).data, ref_softmax(x, axis))
        assert_close(F.log_softmax(x, axis=axis).data, ref_log_softmax(x, axis))
    assert_close(F.softmax(x, dim=0).data, ref_softmax(x, 0))  # the torch spelling
    assert_close(F.softmax(x).data.sum(axis=-1), np.ones(4))
    # gradient of sum(w * softmax): J^T w = s * (w - <s, w>)
    w = RNG.standard_normal((4, 5))
    _, g = grad_of(F.softmax, x, upstream=w)
    s = ref_softmax(x)
    assert_close(g, s * (w - (s * w).sum(-1, keepdims=True)), atol=1e-15)
    _, g = grad_of(F.log_softmax, x, upstream=w)
    assert_close(g, w - s * w.sum(-1, keepdims=True), atol=1e-15)


def test_softmax_extreme_logits() -> None:
    x = np.array([[1e4, 1e4 - 30, -1e4], [-1e4, -1e4, -1e4], [1e308, 0.0, -1e308]])
    ls = F.log_softmax(x, axis=1).data
    assert np.all(np.isfinite(ls[:2]))
    # the largest logit's log-probability is -log(1 + e^-30) ≈ -9.4e-14, not rounded to 0:
    # within an ulp of 1 of it, as torch computes it (log of the sum, not log1p)
    assert ls[0, 0] < 0
    assert_close(ls[0, 0], -np.log1p(np.exp(-30.0)), rtol=0, atol=2.3e-16)
    assert_close(ls[0, 1], -30 - np.log1p(np.exp(-30.0)), rtol=1e-15)
    assert ls[0, 2] == -2e4
    assert_close(ls[1], np.full(3, -np.log(3)))
    sm = F.softmax(x, axis=1).data
    assert_close(sm[:2].sum(1), [1.0, 1.0])
    assert sm[2, 0] == 1.0 and sm[2, 2] == 0.0
    xt = ag.tensor(x[:2], requires_grad=True)
    F.log_softmax(xt, axis=1)[:, 0].sum().backward()
    assert np.all(np.isfinite(xt.grad.data))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rows", [1, 40])  # 40 rows of 3 classes: the transposed layout
def test_non_finite_logits_give_torch_values_quietly(dtype, rows: int) -> None:  # noqa: ANN001
    # A row of only -inf, one with +inf (alone or twice) and one with NaN: NaN or inf where
    # PyTorch has them (softmax of [inf, 0, 1] was [nan, 0, 0], its cross-entropy inf), and no
    # RuntimeWarning from any of the softmax family or its gradient.
    inf, nan = np.inf, np.nan
    block = np.array(
        [[-inf, -inf, -inf], [inf, 0, 1], [inf, inf, 0], [nan, 0, 1], [-inf, 0, 0]], dtype
    )
    x = np.tile(block, (rows, 1))
    t = np.tile([0, 1, 2, 2, 1], rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm = F.softmax(x, axis=1).data[:5]
        lse = ag.logsumexp(x, axis=1).data[:5]
        one = F.cross_entropy(x, t, reduction="none").data
        composed = F.nll_loss(F.log_softmax(x, axis=1), t, reduction="none").data
        xt = ag.tensor(x, requires_grad=True)
        F.cross_entropy(xt, t, reduction="sum").backward()
        F.softmax(xt, axis=1)[:, 1].sum().backward()
        F.log_softmax(xt, axis=1)[:, 2].sum().backward()
    # PyTorch's values: x - max is NaN wherever the max is +inf or NaN, and a row of only -inf
    # is 0/0; only logsumexp is -inf and +inf there.
    np.testing.assert_array_equal(sm[:4], np.full((4, 3), nan))
    np.testing.assert_array_equal(sm[4], [0, 0.5, 0.5])
    np.testing.assert_array_equal(lse, [-inf, inf, inf, nan, np.log(dtype(2))])
    np.testing.assert_array_equal(one, composed)
    np.testing.assert_array_equal(one[:5], [nan, nan, nan, nan, np.log(dtype(2))])
    assert xt.grad.dtype == dtype and np.all(np.isnan(xt.grad.data[:4]))


def test_softmax_axis_errors() -> None:
    with pytest.raises(ValueError):
        F.softmax(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="axis 1 is out of range for a 0-d tensor"):
        F.log_softmax(np.float64(1.0), axis=1)
    with pytest.raises(TypeError):
        F.softmax(np.ones(3), axis=0, dim=0)


def test_softmax_of_a_0d_tensor_is_that_of_its_one_element() -> None:
    # As PyTorch: softmax 1, log_softmax 0, gradient 0, along axis 0, -1 or the default.
    for axis in (None, 0, -1):
        x = ag.tensor(2.5, requires_grad=True)
        y = F.softmax(x, axis=axis) + 3 * F.log_softmax(x, axis=axis)
        assert y.shape == () and y.item() == 1.0
        y.backward()
        assert x.grad.item() == 0.0


# --------------------------------------------------------------------------- mse


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_closed_form(reduction: str) -> None:
    x, t = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    v, g = grad_of(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, t)
    assert_close(v, reduce((x - t) ** 2, reduction))
    n = x.size if reduction == "mean" else 1
    assert_close(g, 2 * (x - t) / n)
    _, gt = grad_of(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, t, wrt=1)
    assert_close(gt, -2 * (x - t) / n)


def test_mse_loss_broadcasts_a_target_of_another_shape_with_a_warning_and_bad_reduction() -> None:
    # As PyTorch: the (3, 1) target against a (3,) input gives a (3, 3) loss, and a warning.
    with pytest.warns(UserWarning, match=r"mse_loss: using a target size \(3, 1\).*\(3,\)"):
        loss = F.mse_loss(ag.tensor([1.0, 2.0, 3.0]), np.zeros((3, 1)), reduction="none")
    np.testing.assert_array_equal(loss.data, np.tile([1.0, 4.0, 9.0], (3, 1)))
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(4,\) does not broadcast"):
        F.mse_loss(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(np.ones(3), np.ones(3), reduction="avg")


# --------------------------------------------------------------------------- cross entropy


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_closed_form(reduction: str) -> None:
    x = RNG.standard_normal((6, 4)) * 2
    t = np.array([0, 3, 1, 1, 2, 0])
    v, g = grad_of(lambda a: F.cross_entropy(a, t, reduction=reduction), x)
    per = -ref_log_softmax(x)[np.arange(6), t]
    assert_close(v, reduce(per, reduction))
    onehot = np.eye(4)[t]
    n = 6 if reduction == "mean" else 1
    assert_close(g, (ref_softmax(x) - onehot) / n, atol=1e-16)


def test_cross_entropy_extreme_logits_are_exact() -> None:
    x = np.array([[1e4, 0.0], [1e4, 0.0], [1e4, 1e4 - 30], [-1e4, 1e4], [1e4, 1e4]])
    t = np.array([0, 1, 0, 0, 1])
    v, g = grad_of(lambda a: F.cross_entropy(a, t, reduction="none"), x)
    expected = [0.0, 1e4, np.log1p(np.exp(-30.0)), 2e4, np.log(2)]
    assert_close(v, expected, rtol=1e-14, atol=2.3e-16)
    assert v[2] > 0  # a confident right answer still has a (tiny) positive loss
    assert np.all(np.isfinite(g))
    # gradient = softmax - onehot, per sample
    assert_close(g[1], [1.0, -1.0])
    assert_close(g[3], [-1.0, 1.0])
    assert_close(g[4], [0.5, -0.5])
    # softmax_1 = e^-30 exactly; softmax_0 - 1 cancels (in torch too): within an ulp of 1
    assert_close(g[2, 1], np.exp(-30.0) / (1 + np.exp(-30.0)), rtol=1e-14)
    assert_close(g[2, 0], -np.exp(-30.0), rtol=0, atol=2.3e-16)
    mean = F.cross_entropy(x, t)
    assert np.isfinite(mean.item())


def test_cross_entropy_weight_ignore_index_and_label_smoothing() -> None:
    x = RNG.standard_normal((5, 3))
    t = np.array([2, -100, 0, 1, 2])
    w = np.array([0.2, 1.0, 3.0])
    lp = ref_log_softmax(x)
    keep = t != -100
    tk = t[keep]
    nll = -lp[keep][np.arange(len(tk)), tk]
    wt = w[tk]
    assert_close(F.cross_entropy(x, t).item(), nll.mean())
    assert_close(F.cross_entropy(x, t, weight=w).item(), (wt * nll).sum() / wt.sum())
    assert_close(F.cross_entropy(x, t, weight=w, reduction="sum").item(), (wt * nll).sum())
    none = F.cross_entropy(x, t, weight=w, reduction="none").data
    assert none[1] == 0.0 and none.shape == (5,)
    assert_close(none[keep], wt * nll)
    t2 = np.array([2, 1, 0, 1, 2])
    assert_close(F.cross_entropy(x, t2, ignore_index=2).item(), -lp[[1, 2, 3], [1, 0, 1]].mean())
    eps = 0.1
    smooth = -lp[keep].sum(1)
    assert_close(
        F.cross_entropy(x, t, label_smoothing=eps).item(),
        (1 - eps) * nll.mean() + eps / 3 * smooth.mean(),
    )
    smooth_w = -(lp[keep] * w).sum(1)
    assert_close(
        F.cross_entropy(x, t, weight=w, label_smoothing=eps).item(),
        (1 - eps) * (wt * nll).sum() / wt.sum() + eps / 3 * smooth_w.sum() / wt.sum(),
    )


def test_cross_entropy_probability_targets_and_other_shapes() -> None:
    x = RNG.standard_normal((4, 3))
    p = RNG.random((4, 3))
    p /= p.sum(1, keepdims=True)
    assert_close(F.cross_entropy(x, p).item(), -(p * ref_log_softmax(x)).sum(1).mean())
    # a single unbatched sample: (C,) logits, a scalar target
    assert_close(F.cross_entropy(x[0], np.int64(2)).item(), -ref_log_softmax(x[0])[2])
    # classes on axis 1 with extra axes: (N, C, d)
    x3 = RNG.standard_normal((2, 3, 4))
    t3 = RNG.integers(0, 3, (2, 4))
    lp3 = ref_log_softmax(x3, axis=1)
    exp3 = -np.take_along_axis(lp3, t3[:, None, :], axis=1)[:, 0, :]
    assert_close(F.cross_entropy(x3, t3, reduction="none").data, exp3)


@pytest.mark.parametrize("shape", [(5, 3), (40, 10), (40, 20), (3, 4, 2), (4,)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_one_node_equals_log_softmax_and_nll(shape, reduction, dtype) -> None:
    # The everyday case is one graph node; it must agree with the two-step composition
    # (values, gradients and Hessian-vector products), on both softmax layouts.
    x = RNG.standard_normal(shape).astype(dtype) * 3
    cax = 1 if len(shape) > 1 else 0
    t = RNG.integers(0, shape[cax], shape[:cax] + shape[cax + 1 :])
    out = F.cross_entropy(ag.tensor(x, requires_grad=True), t, reduction=reduction)
    assert out.grad_fn.name == "cross_entropy" and out.dtype == dtype
    with ag.no_grad():  # the forward that keeps no softmax: the same loss, bit for bit
        np.testing.assert_array_equal(F.cross_entropy(x, t, reduction=reduction).data, out.data)
    w = RNG.standard_normal(out.shape).astype(dtype)
    v = RNG.standard_normal(shape).astype(dtype)

    def fused(a):  # noqa: ANN001, ANN202
        return (F.cross_entropy(a, t, reduction=reduction) * w).sum()

    def composed(a):  # noqa: ANN001, ANN202
        return (F.nll_loss(F.log_softmax(a, axis=cax), t, reduction=reduction) * w).sum()

    tol = 1e-5 if dtype == np.float32 else 1e-12
    xt = ag.tensor(x)
    for f_a, f_b in [(fused, composed), (ag.grad(fused), ag.grad(composed))]:
        np.testing.assert_allclose(f_a(xt).data, f_b(xt).data, rtol=tol, atol=tol)
    hv_a = ag.grad(lambda a: (ag.grad(fused)(a) * v).sum())(xt)
    hv_b = ag.grad(lambda a: (ag.grad(composed)(a) * v).sum())(xt)
    assert hv_a.dtype == dtype
    np.testing.assert_allclose(hv_a.data, hv_b.data, rtol=tol, atol=tol)


def test_cross_entropy_targets_changed_after_forward_do_not_change_the_gradient() -> None:
    x = ag.tensor(RNG.standard_normal((4, 3)), requires_grad=True)
    t = np.array([0, 1, 2, 1])
    loss = F.cross_entropy(x, t)
    t[:] = 0  # the caller reuses its target buffer before backward
    loss.backward()
    expected = (ref_softmax(x.data) - np.eye(3)[[0, 1, 2, 1]]) / 4
    assert_close(x.grad.data, expected, atol=1e-16)


@pytest.mark.parametrize("shape", [(3, 4), (40, 10)])  # both softmax layouts
def test_cross_entropy_gradient_is_softmax_minus_onehot_times_g_to_the_bit(shape) -> None:
    # (p - 1)·g at the target, as PyTorch rounds it: p·g - g differs by an ulp in places, and
    # gives +0 where a row's cotangent is 0 (PyTorch: -0).
    x = RNG.standard_normal(shape) * 3
    t = RNG.integers(0, shape[1], shape[0])
    a = ag.tensor(x, requires_grad=True)
    loss = F.cross_entropy(a, t, reduction="none")
    g = np.zeros(shape[0])
    g[1] = 0.7
    loss.backward(g)
    p = F.softmax(ag.tensor(x), axis=1).data
    expected = (p - np.eye(shape[1])[t]) * g[:, None]
    np.testing.assert_array_equal(a.grad.data, expected)
    rows = np.arange(shape[0]) != 1
    assert np.signbit(a.grad.data[rows, t[rows]]).all()  # -0 at the targets


def test_cross_entropy_of_no_samples() -> None:
    x = ag.tensor(np.zeros((0, 3)), requires_grad=True)
    t = np.zeros(0, np.int64)
    mean = F.cross_entropy(x, t)
    assert np.isnan(mean.item())  # as in PyTorch: the mean over no samples
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0
    mean.backward()
    assert x.grad.shape == (0, 3)


# torch.nn.functional's results (float64) for logits whose ignored row has -inf logits, as
# masked logits on padding positions do: the ignored row counts for nothing, value or gradient.
MASKED_X = np.array([[-np.inf, 1.0, 2.0], [0.5, 1.0, 2.0]])
MASKED_ROW1_GRAD = {  # torch's gradient of the mean loss in row 1 (row 0 is all zeros)
    "plain": [0.14024438316608848, 0.23122389762214904, -0.37146828078823757],
    "smooth": [0.07357771649942181, 0.16455723095548236, -0.23813494745490427],
    "weight_smooth": [0.10867253539946035, 0.17136452666956134, -0.28003706206902174],
}


def test_the_mean_of_nothing_is_nan_without_a_warning() -> None:
    # As in torch: NumPy's "Mean of empty slice" and 0/0 warnings do not reach the user.
    empty = np.zeros((0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(ag.tensor(empty).mean().item())
        np.testing.assert_array_equal(ag.tensor(empty).mean(axis=0).data, [np.nan] * 3)
        assert ag.tensor(empty).mean(axis=1).shape == (0,)
        assert ag.tensor(np.zeros(0, np.float32)).mean().dtype == np.float32
        losses = [
            F.mse_loss(ag.tensor(empty), ag.tensor(empty)),
            F.binary_cross_entropy(ag.tensor(empty), ag.tensor(empty)),
            F.cross_entropy(ag.tensor(empty), np.zeros(0, int), weight=np.ones(3)),
            F.cross_entropy(ag.tensor(empty), np.zeros(0, int), label_smoothing=0.1),
            F.cross_entropy(ag.tensor(np.zeros((2, 3))), np.array([-100, -100])),
        ]
    assert all(np.isnan(loss.item()) for loss in losses)


@pytest.mark.parametrize(
    ("kw", "loss", "grad"),
    [
        ({}, 0.4643687841079449, "plain"),
        ({"label_smoothing": 0.2}, 0.6310354507746117, "smooth"),
        ({"weight": np.array([1.0, 2.0, 3.0]), "label_smoothing": 0.2}, 0.5111886429451931,
         "weight_smooth"),
    ],
)  # fmt: skip
def test_cross_entropy_ignored_sample_with_inf_logits(kw: dict, loss: float, grad: str) -> None:
    # The ignored sample's stand-in class 0 has log-probability -inf; -inf·0 used to make
    # the whole loss NaN. Ignored by -100 or by an ignore_index that is a class, the same.
    for t, ignore_index in [(np.array([-100, 2]), -100), (np.array([0, 2]), 0)]:
        x = ag.tensor(MASKED_X, requires_grad=True)
        out = F.cross_entropy(x, t, ignore_index=ignore_index, **kw)
        assert_close(out.item(), loss, rtol=1e-14)
        out.backward()
        assert_close(x.grad.data, [[0.0, 0.0, 0.0], MASKED_ROW1_GRAD[grad]], rtol=1e-13)
        none = F.cross_entropy(MASKED_X, t, ignore_index=ignore_index, reduction="none", **kw)
        assert none.data[0] == 0.0 and np.isfinite(none.data[1])
        total = F.cross_entropy(MASKED_X, t, ignore_index=ignore_index, reduction="sum", **kw)
        assert total.item() == none.data[1]
    # nll_loss on the log-probabilities: the same
    x = ag.tensor(MASKED_X, requires_grad=True)
    out = F.nll_loss(F.log_softmax(x, axis=1), np.array([-100, 2]))
    assert_close(out.item(), 0.4643687841079449, rtol=1e-14)
    out.backward()
    assert_close(x.grad.data, [[0.0, 0.0, 0.0], MASKED_ROW1_GRAD["plain"]], rtol=1e-13)


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 2, 2), (3,)])
@pytest.mark.parametrize(
    ("fn", "kw"),
    [
        (fn, kw)
        for fn in ["cross_entropy", "nll_loss"]
        for kw in [{}, {"weight": np.array([1.0, 2.0, 3.0])}, {"ignore_index": 1}]
    ]
    + [("cross_entropy", {"label_smoothing": 0.2})],
)
def test_all_targets_ignored_gives_nan_mean_and_zero_gradient(shape, fn, kw) -> None:
    # As in torch: the mean over no (weighted) samples is 0/0 = NaN, but the gradient is 0,
    # not 0·(g/0) = NaN; second derivatives are 0 too. A -inf logit changes nothing.
    ignore = kw.get("ignore_index", -100)
    cax = 1 if len(shape) > 1 else 0
    t = np.full(shape[:cax] + shape[cax + 1 :], ignore)
    x = RNG.standard_normal(shape)
    x[(0,) * len(shape)] = -np.inf

    def loss(a, reduction="mean"):  # noqa: ANN001, ANN202
        if fn == "nll_loss":
            return F.nll_loss(F.log_softmax(a, axis=cax), t, reduction=reduction, **kw)
        return F.cross_entropy(a, t, reduction=reduction, **kw)

    a = ag.tensor(x, requires_grad=True)
    mean = loss(a)
    assert np.isnan(mean.item())
    mean.backward()
    np.testing.assert_array_equal(a.grad.data, np.zeros(shape))
    hvp = ag.grad(lambda b: ag.grad(loss)(b).sum())(ag.tensor(x))  # Hessian times ones
    np.testing.assert_array_equal(hvp.data, np.zeros(shape))
    for reduction in ("sum", "none"):
        g = ag.grad(lambda b, r=reduction: loss(b, r).sum())(ag.tensor(x))
        assert np.all(loss(x, reduction).data == 0.0)
        np.testing.assert_array_equal(g.data, np.zeros(shape))


def test_cross_entropy_keeps_one_node_and_zero_weight_nan_as_torch() -> None:
    # Without weights, smoothing or ignored targets the loss stays a single node.
    out = F.cross_entropy(ag.tensor(MASKED_X[1:], requires_grad=True), np.array([2]))
    assert out.grad_fn.name == "cross_entropy"
    # A total weight of 0 over samples that are not ignored is still torch's NaN, in the
    # value and in those samples' gradients (0·(g/0)); an ignored one keeps gradient 0.
    a = ag.tensor(np.zeros((2, 3)), requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 and 0·inf, as expected
        out = F.cross_entropy(a, np.array([0, -100]), weight=np.array([0.0, 1.0, 1.0]))
        out.backward()
    assert np.isnan(out.item())
    assert np.all(np.isnan(a.grad.data[0])) and np.all(a.grad.data[1] == 0.0)


def test_cross_entropy_errors() -> None:
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="target value 4 is out of range for 4 classes"):
        F.cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="out of range"):
        F.cross_entropy(x, np.array([0, -1, 1]))
    with pytest.raises(ValueError, match=r"expected a target of shape \(3,\)"):
        F.cross_entropy(x, np.array([[0, 1, 1]]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.cross_entropy(x, np.array([True, False, True]))
    with pytest.raises(TypeError, match="floating point"):
        F.cross_entropy(np.zeros((3, 4), dtype=np.int64), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]), weight=np.ones(3))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, np.array([0, 1, 2]), reduction="average")


@settings(max_examples=40, deadline=None)
@given(
    x=hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(2, 5)),
        elements=st.floats(-1e4, 1e4, allow_nan=False),
    ),
    data=st.data(),
)
def test_cross_entropy_matches_closed_form_property(x: np.ndarray, data: st.DataObject) -> None:
    n, c = x.shape
    t = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    v, g = grad_of(lambda a: F.cross_entropy(a, t, reduction="sum"), x)
    lp = ref_log_softmax(x)
    assert np.isfinite(v) and np.all(np.isfinite(g))
    assert_close(v, -lp[np.arange(n), t].sum(), rtol=1e-12, atol=1e-12)
    assert_close(g, ref_softmax(x) - np.eye(c)[t], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- binary cross entropy


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_closed_form(reduction: str) -> None:
    x = RNG.uniform(0.05, 0.95, (3, 4))
    t = RNG.random((3, 4))
    v, g = grad_of(lambda a: F.binary_cross_entropy(a, t, reduction=reduction), x)
    assert_close(v, reduce(-(t * np.log(x) + (1 - t) * np.log1p(-x)), reduction))
    n = x.size if reduction == "mean" else 1
    assert_close(g, (x - t) / (x * (1 - x)) / n, rtol=1e-10)
    w = RNG.random(4)
    weighted = F.binary_cross_entropy(x, t, weight=w, reduction=reduction).data
    assert_close(weighted, reduce(-w * (t * np.log(x) + (1 - t) * np.log1p(-x)), reduction))


def test_binary_cross_entropy_at_and_near_0_and_1() -> None:
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-10, 1 - 1e-10, 1e-20])
    t = np.array([0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0])
    v, g = grad_of(lambda a: F.binary_cross_entropy(a, t, reduction="none"), x)
    # logs clamped at -100, as torch does: a certain wrong answer costs 100, not inf
    expected = [0.0, 0.0, 100.0, 100.0, -np.log1p(-x[4]), -np.log(x[5]), 20 * np.log(10)]
    assert_close(v, expected)
    # torch's gradient (x - t) / max(x(1 - x), ε), ε = 1e-12 as a float32: finite at the ends
    eps = float(np.float32(1e-12))
    assert_close(g, (x - t) / np.maximum(x * (1 - x), eps), rtol=1e-10)
    assert g[2] == -1 / eps and g[3] == 1 / eps


@pytest.mark.parametrize(
    ("reduction", "weight", "loss", "target_grad"),
    [
        ("sum", None, 130.7541046886309,
         [np.inf, -np.inf, 115.12925464970229, 0.4054651081081643]),
        ("sum", [2.0, 1.0, 0.5, 1.0], 145.7541046886309,
         [np.inf, -np.inf, 57.564627324851145, 0.4054651081081643]),
        ("mean", [2.0, 1.0, 0.5, 1.0], 36.43852617215772,
         [np.inf, -np.inf, 14.391156831212786, 0.10136627702704107]),
    ],
)  # fmt: skip
def test_binary_cross_entropy_target_gradient_is_not_clamped(
    reduction: str, weight, loss: float, target_grad: list
) -> None:
    # torch's values. The loss clamps log x and log(1 - x) at -100, but its gradient with
    # respect to the target is log(1 - x) - log(x), unclamped: ±inf at x = 0 and 1 and
    # -log(1e-50) = 115.13 (not 100) at x = 1e-50. The input's gradient is unchanged.
    x = np.array([0.0, 1.0, 1e-50, 0.4])
    t = np.array([0.3, 0.3, 0.3, 0.6])
    w = None if weight is None else np.array(weight)
    a, b = ag.tensor(x, requires_grad=True), ag.tensor(t, requires_grad=True)
    out = F.binary_cross_entropy(a, b, weight=w, reduction=reduction)
    assert_close(out.item(), loss, rtol=1e-14)
    out.backward()
    assert_close(b.grad.data, target_grad, rtol=1e-14)
    n = x.size if reduction == "mean" else 1
    eps = float(np.float32(1e-12))
    x_grad = (1.0 if w is None else w) * (x - t) / np.maximum(x * (1 - x), eps) / n
    assert_close(a.grad.data, x_grad, rtol=1e-12)
    # the input's gradient alone is the same, and second derivatives in the target still
    # work: 0, the loss being linear in it
    x_only = ag.grad(lambda p: F.binary_cross_entropy(p, t, weight=w, reduction=reduction))
    assert_close(x_only(ag.tensor(x)).data, x_grad, rtol=1e-12)
    hess = ag.hessian(lambda q: F.binary_cross_entropy(x, q, weight=w, reduction=reduction))(t)
    np.testing.assert_array_equal(hess, np.zeros((4, 4)))


def test_binary_cross_entropy_target_gradient_float32() -> None:
    # torch's values in float32; x[2] is the float32 denormal nearest 1e-44, below e^-100
    x = np.array([0.0, 1.0, 1e-44, 0.4], dtype=np.float32)
    t = np.array([0.3, 0.3, 0.3, 0.6], dtype=np.float32)
    a, b = ag.tensor(x, requires_grad=True), ag.tensor(t, requires_grad=True)
    out = F.binary_cross_entropy(a, b, reduction="sum")
    assert out.dtype == np.float32
    assert_close(out.item(), 130.7541046142578, rtol=1e-6)
    out.backward()
    assert b.grad.dtype == np.float32 and a.grad.dtype == np.float32
    assert_close(b.grad.data, [np.inf, -np.inf, 101.33302307128906, 0.40546515583992004], rtol=1e-6)
    assert_close(a.grad.data, [-3.00000018432e11, 6.99999977472e11, -3.00000018432e11,
                               -0.8333333730697632], rtol=1e-6)  # fmt: skip


def test_binary_cross_entropy_errors() -> None:
    with pytest.raises(ValueError, match="input should be between 0 and 1"):
        F.binary_cross_entropy(np.array([0.5, 1.5]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="input should be between 0 and 1"):
        F.binary_cross_entropy(np.array([0.5, np.nan]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="target should be between 0 and 1"):
        F.binary_cross_entropy(np.array([0.5, 0.5]), np.array([0.0, 2.0]))
    with pytest.raises(ValueError, match="target shape"):
        F.binary_cross_entropy(np.array([0.5, 0.5]), np.array([[0.0, 1.0]]))
    # A weight must broadcast to the input: the error names the loss, not an inner `mul`.
    p, t = np.array([0.2, 0.5, 0.7]), np.array([0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"binary_cross_entropy: weight of shape \(5,\)"):
        F.binary_cross_entropy(p, t, weight=np.ones(5))
    with pytest.raises(ValueError, match=r"with_logits: weight of shape \(2, 1\)"):
        F.binary_cross_entropy_with_logits(p, t, weight=np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"with_logits: pos_weight of shape \(2,\)"):
        F.binary_cross_entropy_with_logits(p, t, pos_weight=np.ones(2))
    with pytest.raises(TypeError, match="cross_entropy: label_smoothing must be a number"):
        F.cross_entropy(np.ones((2, 3)), np.array([0, 1]), label_smoothing="a")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_closed_form(reduction: str) -> None:
    x = RNG.standard_normal((3, 4)) * 4
    t = RNG.random((3, 4))
    v, g = grad_of(lambda a: F.binary_cross_entropy_with_logits(a, t, reduction=reduction), x)
    assert_close(v, reduce(ref_bce_logits(x, t), reduction))
    n = x.size if reduction == "mean" else 1
    assert_close(g, ref_bce_logits_grad(x, t) / n, rtol=1e-12)


def test_bce_with_logits_extreme_logits_are_accurate() -> None:
    x = np.array([-1e4, -40.0, -20.0, 0.0, 0.0, 20.0, 40.0, 1e4, 1e4, -1e4, 745.0])
    t = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0])
    v, g = grad_of(lambda a: F.binary_cross_entropy_with_logits(a, t, reduction="none"), x)
    # tiny losses (a confident, right answer) keep full relative precision, e.g. e^-40
    assert_close(v, ref_bce_logits(x, t), rtol=1e-14)
    assert v[1] > 0 and v[6] > 0 and v[0] == 0.0
    assert v[8] == 1e4 and v[9] == 1e4
    # the gradient is sigmoid(x) - t, also in the tails (x = 0: exactly 1/2 - t)
    assert_close(g, ref_bce_logits_grad(x, t), rtol=1e-14)
    assert g[3] == 0.5 and g[4] == -0.5


def test_bce_with_logits_weight_and_pos_weight() -> None:
    x = RNG.standard_normal((5, 3)) * 3
    t = (RNG.random((5, 3)) > 0.5).astype(float)
    pw = np.array([0.5, 2.0, 4.0])
    w = RNG.random((5, 1))
    lw = 1 + (pw - 1) * t
    expected = w * ((1 - t) * x + lw * np.logaddexp(0.0, -x))
    v, g = grad_of(
        lambda a: F.binary_cross_entropy_with_logits(
            a, t, weight=w, pos_weight=pw, reduction="none"
        ),
        x,
    )
    assert_close(v, expected)
    assert_close(g, w * (lw * ref_sigmoid(x) - pw * t), rtol=1e-10, atol=1e-16)


@settings(max_examples=40, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-1e3, 1e3, allow_nan=False)),
    data=st.data(),
)
def test_bce_with_logits_property(x: np.ndarray, data: st.DataObject) -> None:
    t = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0, 1)))
    v, g = grad_of(lambda a: F.binary_cross_entropy_with_logits(a, t, reduction="none"), x)
    assert_close(v, ref_bce_logits(x, t), rtol=1e-12, atol=1e-300)
    # sigmoid(x) - t cancels when the two are close: compare at the scale of the terms
    assert_close(g, ref_bce_logits_grad(x, t), rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------- finite differences


def _check_first_and_second_order(f, *inputs) -> None:  # noqa: ANN001
    assert gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)
    assert gradgradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_losses_against_finite_differences(reduction: str) -> None:
    rng = np.random.default_rng(7)
    x = ag.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t_int = np.array([1, 0, 3])
    t_prob = ag.tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    p = ag.tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    w = np.array([1.0, 0.5, 2.0, 1.5])
    _check_first_and_second_order(lambda a: F.cross_entropy(a, t_int, reduction=reduction), x)
    _check_first_and_second_order(
        lambda a: F.cross_entropy(
            a, np.array([1, -100, 3]), weight=w, label_smoothing=0.2, reduction=reduction
        ),
        x,
    )
    _check_first_and_second_order(
        lambda a, b: F.cross_entropy(a, b / b.sum(1, keepdims=True), reduction=reduction),
        x,
        t_prob,
    )
    _check_first_and_second_order(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, t_prob)
    _check_first_and_second_order(
        lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction), p, t_prob
    )
    _check_first_and_second_order(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, pos_weight=np.array([1.0, 2.0, 0.5, 3.0]), reduction=reduction
        ),
        x,
        t_prob,
    )


# Property tests: every loss, every reduction, random shapes (batch of 1, empty batches, extra
# axes after the class axis), each gradient against central differences in float64. Shapes and
# options come from hypothesis, values from a generator seeded by it (as in tests/strategies.py:
# hypothesis' special values would sit on BCE's clamps). The tolerance catches a rule that is off
# by 0.05 %: central differences with h = 1e-6 on values of order one are good to ~1e-9.

FD_STEP = 1e-6
FD_RTOL = 1e-6
FD_ATOL = 1e-9
SEEDS = st.integers(0, 2**32 - 1)
SMALL_SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


def _central_differences(f, arrays: list, wrt: tuple, cot: np.ndarray) -> list:  # noqa: ANN001
    """d/d arrays[i] of sum(cot * f(*arrays)) for i in wrt, by central differences."""
    arrays = [np.array(a, copy=True) for a in arrays]
    grads = []
    for i in wrt:
        flat = arrays[i].reshape(-1)  # a view: perturbing it perturbs arrays[i]
        g = np.empty(flat.size)
        for j in range(flat.size):
            orig = flat[j]
            vals = []
            for step in (FD_STEP, -FD_STEP):
                flat[j] = orig + step
                with ag.no_grad():
                    vals.append(f(*[ag.tensor(a) for a in arrays]).data)
            # Subtract the outputs before weighting them: elements that do not depend on
            # arrays[i][j] cancel exactly and add no rounding error.
            g[j] = np.sum(cot * (vals[0] - vals[1])) / ((orig + FD_STEP) - (orig - FD_STEP))
            flat[j] = orig
        grads.append(g.reshape(arrays[i].shape))
    return grads


def _check_loss(f, arrays: list, wrt: tuple, ref, rng) -> None:  # noqa: ANN001
    """f's value against ref(), and its vjp (random cotangent) against central differences."""
    ts = [ag.tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
    with warnings.catch_warnings():
        if any(a.size == 0 for a in arrays):  # the mean of an empty batch is NaN, with warnings
            warnings.simplefilter("ignore", RuntimeWarning)
        expected = ref()
        out = f(*ts)
        assert out.dtype == np.float64 and out.shape == np.shape(expected)
        assert_close(out.data, expected, rtol=1e-12, atol=1e-14)
        cot = rng.standard_normal(out.shape)
        out.backward(gradient=cot)
    # Rounding in the differences grows with the size of what is summed (reduction="sum").
    atol = FD_ATOL * max(1.0, float(np.nansum(np.abs(cot * out.data))))
    for i, num in zip(wrt, _central_differences(f, arrays, wrt, cot)):
        g = ts[i].grad
        assert g is not None and g.shape == ts[i].shape and g.dtype == np.float64
        assert_close(g.data, num, rtol=FD_RTOL, atol=atol)


def ref_class_loss(lp, t, cax, w=None, ignore_index=-100, ls=0.0, reduction="mean"):  # noqa: ANN001, ANN201
    """torch's nll_loss / cross_entropy on log-probabilities `lp` (classes on axis `cax`)."""
    c = lp.shape[cax]
    lpm = np.moveaxis(lp, cax, -1)  # classes last
    wv = np.ones(c) if w is None else w
    if t.dtype.kind == "f":  # class probabilities, smoothed, a plain mean over samples
        p = np.moveaxis(t, cax, -1) * (1 - ls) + ls / c
        return reduce(-(lpm * wv * p).sum(-1), reduction)
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    picked = np.take_along_axis(lpm, safe[..., None], -1)[..., 0]
    wt = np.where(valid, wv[safe], 0.0)
    per = (1 - ls) * np.where(valid, -picked * wv[safe], 0.0)
    per = per + ls / c * np.where(valid, -(lpm * wv).sum(-1), 0.0)
    if reduction == "mean":
        return per.sum() / wt.sum()  # 0/0 = NaN for an empty batch, as in torch
    return reduce(per, reduction)


@st.composite
def class_shapes(draw: st.DrawFn) -> tuple:
    """(C,) unbatched, or (N, C, d1, ...) with N >= 0 and up to two extra axes."""
    c = draw(st.integers(1, 4))
    if draw(st.integers(0, 4)) == 0:
        return (c,)
    extra = draw(st.lists(st.integers(1, 3), max_size=2))
    return (draw(st.integers(0, 3)), c, *extra)


def _int_targets(draw: st.DrawFn, rng, shape: tuple, reduction: str) -> tuple:  # noqa: ANN001
    """Class indices for logits of `shape`, some of them ignored, and the ignore_index."""
    cax = 1 if len(shape) >= 2 else 0
    c = shape[cax]
    tshape = shape[:cax] + shape[cax + 1 :]
    t = rng.integers(0, c, tshape)
    ignore = draw(st.sampled_from(["none", "default", "class"] if c > 1 else ["none", "default"]))
    ignore_index = int(rng.integers(0, c)) if ignore == "class" else -100
    if ignore == "default":
        t = np.where(rng.random(tshape) < 0.3, -100, t)
    if reduction == "mean" and t.size and np.all(t == ignore_index):
        t.flat[0] = (ignore_index + 1) % c  # all ignored: NaN, tested elsewhere
    return t, ignore_index


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=30, deadline=None)
@given(shape=SMALL_SHAPES, seed=SEEDS)
def test_mse_loss_gradients_property(reduction: str, shape: tuple, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal(shape), rng.standard_normal(shape)
    _check_loss(
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        [x, t],
        (0, 1),
        lambda: reduce((x - t) ** 2, reduction),
        rng,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=30, deadline=None)
@given(shape=class_shapes(), seed=SEEDS, weighted=st.booleans(), data=st.data())
def test_nll_loss_gradients_property(
    reduction: str, shape: tuple, seed: int, weighted: bool, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    cax = 1 if len(shape) >= 2 else 0
    lp = ref_log_softmax(rng.standard_normal(shape) * 1.5, axis=cax)
    t, ii = _int_targets(data.draw, rng, shape, reduction)
    w = rng.uniform(0.2, 2.0, shape[cax]) if weighted else None
    _check_loss(
        lambda a: F.nll_loss(a, t, weight=w, ignore_index=ii, reduction=reduction),
        [lp],
        (0,),
        lambda: ref_class_loss(lp, t, cax, w, ii, reduction=reduction),
        rng,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=40, deadline=None)
@given(
    shape=class_shapes(),
    seed=SEEDS,
    weighted=st.booleans(),
    smoothed=st.booleans(),
    data=st.data(),
)
def test_cross_entropy_int_targets_gradients_property(
    reduction: str, shape: tuple, seed: int, weighted: bool, smoothed: bool, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    cax = 1 if len(shape) >= 2 else 0
    x = rng.standard_normal(shape) * 1.5
    t, ii = _int_targets(data.draw, rng, shape, reduction)
    w = rng.uniform(0.2, 2.0, shape[cax]) if weighted else None
    ls = float(rng.uniform(0.05, 0.9)) if smoothed else 0.0
    lp = ref_log_softmax(x, axis=cax)
    _check_loss(
        lambda a: F.cross_entropy(
            a, t, weight=w, ignore_index=ii, reduction=reduction, label_smoothing=ls
        ),
        [x],
        (0,),
        lambda: ref_class_loss(lp, t, cax, w, ii, ls, reduction),
        rng,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=30, deadline=None)
@given(shape=class_shapes(), seed=SEEDS, weighted=st.booleans(), smoothed=st.booleans())
def test_cross_entropy_prob_targets_gradients_property(
    reduction: str, shape: tuple, seed: int, weighted: bool, smoothed: bool
) -> None:
    rng = np.random.default_rng(seed)
    cax = 1 if len(shape) >= 2 else 0
    x = rng.standard_normal(shape) * 1.5
    p = rng.uniform(0.05, 1.0, shape)
    p = p / p.sum(axis=cax, keepdims=True)
    w = rng.uniform(0.2, 2.0, shape[cax]) if weighted else None
    ls = float(rng.uniform(0.05, 0.9)) if smoothed else 0.0
    _check_loss(
        lambda a, b: F.cross_entropy(a, b, weight=w, reduction=reduction, label_smoothing=ls),
        [x, p],
        (0, 1),
        lambda: ref_class_loss(ref_log_softmax(x, axis=cax), p, cax, w, ls=ls, reduction=reduction),
        rng,
    )


def _broadcast_weight(draw: st.DrawFn, rng, shape: tuple) -> np.ndarray | None:  # noqa: ANN001
    """None, or a positive weight whose shape broadcasts to `shape` (maybe fewer axes)."""
    if not draw(st.booleans()):
        return None
    tail = shape[draw(st.integers(0, len(shape))) :]
    wshape = tuple(d if draw(st.booleans()) else 1 for d in tail)
    return rng.uniform(0.2, 2.0, wshape)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=30, deadline=None)
@given(shape=SMALL_SHAPES, seed=SEEDS, data=st.data())
def test_binary_cross_entropy_gradients_property(
    reduction: str, shape: tuple, seed: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    # Away from 0 and 1: the logs' clamps and torch's cap on x(1 - x) are tested elsewhere,
    # and a target stepped outside [0, 1] by the differences would be an error.
    x, t = rng.uniform(0.05, 0.95, shape), rng.uniform(0.05, 0.95, shape)
    w = _broadcast_weight(data.draw, rng, shape)
    per = -(t * np.log(x) + (1 - t) * np.log1p(-x)) * (1.0 if w is None else w)
    _check_loss(
        lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
        [x, t],
        (0, 1),
        lambda: reduce(per, reduction),
        rng,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@settings(max_examples=30, deadline=None)
@given(shape=SMALL_SHAPES, seed=SEEDS, data=st.data())
def test_bce_with_logits_gradients_property(
    reduction: str, shape: tuple, seed: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    x, t = rng.standard_normal(shape) * 2, rng.random(shape)
    w = _broadcast_weight(data.draw, rng, shape)
    pw = _broadcast_weight(data.draw, rng, shape)
    lw = 1.0 if pw is None else 1 + (pw - 1) * t
    per = ((1 - t) * x + lw * np.logaddexp(0.0, -x)) * (1.0 if w is None else w)
    _check_loss(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, weight=w, pos_weight=pw, reduction=reduction
        ),
        [x, t],
        (0, 1),
        lambda: reduce(per, reduction),
        rng,
    )


def test_activations_against_finite_differences() -> None:
    x = ag.tensor(np.random.default_rng(8).standard_normal((3, 4)), requires_grad=True)
    for f in (F.tanh, F.sigmoid, lambda a: F.softmax(a, axis=0), F.log_softmax):
        _check_first_and_second_order(f, x)


def test_float32_end_to_end() -> None:
    x = ag.tensor(RNG.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    t = np.array([0, 2, 1, 1])
    tp = RNG.random((4, 3)).astype(np.float32)
    losses = [
        F.cross_entropy(x, t),
        F.mse_loss(x, tp),
        F.binary_cross_entropy(F.sigmoid(x), tp),
        F.binary_cross_entropy_with_logits(x, tp),
        F.softmax(x).sum(),
        F.log_softmax(x).sum(),
    ]
    for loss in losses:
        assert loss.dtype == np.float32
        x.grad = None
        loss.backward()
        assert x.grad.dtype == np.float32
    assert_close(
        F.cross_entropy(x, t).item(),
        -ref_log_softmax(x.data.astype(np.float64))[np.arange(4), t].mean(),
        rtol=1e-6,
    )


# --------------------------------------------------------------------------- vs torch


def _torch_case(name: str):  # noqa: ANN202
    """(make, inputs): make(functional namespace) -> f(*inputs, reduction) for one case."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.standard_normal((6, 5)) * 3
    t = rng.integers(0, 5, 6)
    t_ign = np.where(t == 1, -100, t)
    probs = rng.random((6, 5))
    probs /= probs.sum(1, keepdims=True)
    u = rng.uniform(0.02, 0.98, (6, 5))
    tu = rng.random((6, 5))
    w5 = rng.uniform(0.5, 2, 5)
    cases = {
        "cross_entropy": (lambda f: lambda a, r: f.cross_entropy(a, t, reduction=r), [x]),
        "cross_entropy_ignore_weight_smooth": (
            lambda f: (
                lambda a, r: f.cross_entropy(a, t_ign, weight=w5, label_smoothing=0.15, reduction=r)
            ),
            [x],
        ),
        "cross_entropy_probs": (
            lambda f: lambda a, p, r: f.cross_entropy(a, p, label_smoothing=0.1, reduction=r),
            [x, probs],
        ),
        "cross_entropy_3d": (
            lambda f: lambda a, r: f.cross_entropy(a, t[:4].reshape(2, 2), reduction=r),
            [x[:2, :, None].repeat(2, axis=2)],
        ),
        "nll_loss": (lambda f: lambda a, r: f.nll_loss(a, t_ign, weight=w5, reduction=r), [x]),
        "mse_loss": (lambda f: lambda a, b, r: f.mse_loss(a, b, reduction=r), [x, tu]),
        "binary_cross_entropy": (
            lambda f: lambda a, b, r: f.binary_cross_entropy(a, b, weight=w5, reduction=r),
            [u, tu],
        ),
        "bce_with_logits": (
            lambda f: lambda a, b, r: f.binary_cross_entropy_with_logits(a, b, reduction=r),
            [x, tu],
        ),
        "bce_with_logits_weights": (
            lambda f: (
                lambda a, b, r: f.binary_cross_entropy_with_logits(
                    a, b, weight=w5, pos_weight=w5[::-1].copy(), reduction=r
                )
            ),
            [x, tu],
        ),
    }
    return cases[name]


TORCH_CASES = [
    "cross_entropy",
    "cross_entropy_ignore_weight_smooth",
    "cross_entropy_probs",
    "cross_entropy_3d",
    "nll_loss",
    "mse_loss",
    "binary_cross_entropy",
    "bce_with_logits",
    "bce_with_logits_weights",
]


class _TorchNS:
    """torch.nn.functional with NumPy constants (weights) turned into torch tensors."""

    def __init__(self, torch) -> None:  # noqa: ANN001
        self.torch = torch

    def __getattr__(self, name: str):  # noqa: ANN204
        f = getattr(self.torch.nn.functional, name)

        def call(*args, **kw):  # noqa: ANN002, ANN003, ANN202
            conv = lambda v: self.torch.from_numpy(v) if isinstance(v, np.ndarray) else v
            return f(*[conv(a) for a in args], **{k: conv(v) for k, v in kw.items()})

        return call


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", TORCH_CASES)
def test_losses_match_torch(name: str, reduction: str) -> None:
    torch = pytest.importorskip("torch")
    make, arrays = _torch_case(name)
    ours_f, theirs_f = make(F), make(_TorchNS(torch))
    ours_in = [ag.tensor(a, requires_grad=True) for a in arrays]
    theirs_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    ours = ours_f(*ours_in, reduction)
    theirs = theirs_f(*theirs_in, reduction)
    assert ours.shape == tuple(theirs.shape)
    assert_close(ours.data, theirs.detach().numpy(), rtol=1e-10)
    up = np.random.default_rng(0).standard_normal(ours.shape)
    ours.backward(up)
    theirs.backward(torch.from_numpy(up))
    for a, b in zip(ours_in, theirs_in):
        # 1e-10 relative; the absolute floor only matters where the exact gradient is itself a
        # difference of O(1) terms (e.g. softmax - onehot near 0) that each library rounds.
        assert_close(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "softmax", "log_softmax"])
def test_activations_match_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((4, 6)) * 5
    x[0, :3] = [0.0, 1e4, -1e4]
    kw = {"dim": 1} if "softmax" in name else {}
    a = ag.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    ya = getattr(F, name)(a, **kw)
    yb = getattr(torch.nn.functional, name)(b, **kw) if kw else getattr(torch, name)(b)
    assert_close(ya.data, yb.detach().numpy(), rtol=1e-10)
    up = np.random.default_rng(4).standard_normal(x.shape)
    ya.backward(up)
    yb.backward(torch.from_numpy(up))
    assert_close(a.grad.data, b.grad.numpy(), rtol=1e-10, atol=1e-15)


def test_binary_cross_entropy_boundaries_match_torch() -> None:
    torch = pytest.importorskip("torch")
    x = np.array([0.0, 1.0, 0.0, 1.0, 1e-20, 1e-13, 1 - 1e-13, 0.3])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.3, 0.2, 0.7])
    a = ag.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    va = F.binary_cross_entropy(a, t, reduction="none")
    vb = torch.nn.functional.binary_cross_entropy(b, torch.from_numpy(t), reduction="none")
    assert_close(va.data, vb.detach().numpy(), rtol=1e-12)
    va.sum().backward()
    vb.sum().backward()
    assert_close(a.grad.data, b.grad.numpy(), rtol=1e-10)


def _assert_like_torch(ours, theirs, dtype, what: str, atol32=None) -> None:  # noqa: ANN001
    # float64: the contract's 1e-10 relative (a 1e-15 floor for cancelling softmax - onehot);
    # float32: 1e-4 relative, by default with a floor at the scale of the largest entry
    # (the two libraries round float32 sums differently). NaN and ±inf where torch's are.
    assert ours.dtype == dtype, what
    if dtype == np.float64:
        rtol, atol = 1e-10, 1e-15
    else:
        finite = np.abs(theirs[np.isfinite(theirs)])
        scale = max(finite.max(), 1.0) if finite.size else 1.0
        rtol, atol = 1e-4, 1e-5 * scale if atol32 is None else atol32
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _check_class_loss_against_torch(torch, fn, x, t, w, kw, cax, up, v, case) -> None:  # noqa: ANN001
    """Value, gradient and Hessian-vector product of sum(loss · up) against torch's."""
    tf = torch.nn.functional

    def ours(a):  # noqa: ANN001, ANN202
        if fn == "cross_entropy":
            loss = F.cross_entropy(a, t, weight=w, **kw)
        else:
            loss = F.nll_loss(F.log_softmax(a, axis=cax), t, weight=w, **kw)
        return (loss * up).sum()

    def theirs(b):  # noqa: ANN001, ANN202
        tw = None if w is None else torch.from_numpy(w)
        tt = torch.from_numpy(np.asarray(t, np.int64))
        if fn == "cross_entropy":
            loss = tf.cross_entropy(b, tt, weight=tw, **kw)
        else:
            loss = tf.nll_loss(tf.log_softmax(b, dim=cax), tt, weight=tw, **kw)
        return (loss * torch.from_numpy(up)).sum()

    with np.errstate(invalid="ignore"):  # (the NaN mean of no samples, times up)
        value = ours(ag.tensor(x)).data
        grad = ag.grad(ours)(ag.tensor(x)).data
        hvp = ag.grad(lambda a: (ag.grad(ours)(a) * v).sum())(ag.tensor(x)).data
    b = torch.tensor(x, requires_grad=True)
    out = theirs(b)
    (g,) = torch.autograd.grad(out, b, create_graph=True)
    (h,) = torch.autograd.grad((g * torch.from_numpy(v)).sum(), b)
    _assert_like_torch(value, out.detach().numpy(), x.dtype, f"value: {case}")
    _assert_like_torch(grad, g.detach().numpy(), x.dtype, f"gradient: {case}")
    _assert_like_torch(hvp, h.numpy(), x.dtype, f"Hessian-vector product: {case}")


@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3, 2), (4,)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ignored_targets_match_torch(shape: tuple, dtype) -> None:  # noqa: ANN001
    # Some or all targets ignored (by -100, by a class index, by an index beyond the
    # classes), ignored positions with -inf logits; every reduction, with and without class
    # weights and label smoothing; values, gradients and Hessian-vector products.
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(zlib.crc32(repr((shape, dtype)).encode()))
    cax = 1 if len(shape) > 1 else 0
    n_classes, tshape = shape[cax], shape[:cax] + shape[cax + 1 :]
    for pattern, ignore_index, use_weight, smoothing, fn, reduction in itertools.product(
        ["some", "all"],
        [-100, 1, 7],
        [False, True],
        [0.0, 0.2],
        ["cross_entropy", "nll_loss"],
        REDUCTIONS,
    ):
        if fn == "nll_loss" and smoothing:
            continue
        x = rng.standard_normal(shape) * 3
        ignored = rng.random(tshape) < 0.4 if pattern == "some" else np.ones(tshape, bool)
        ignored |= np.arange(ignored.size).reshape(tshape) == 0  # at least one
        t = np.where(ignored, ignore_index, rng.integers(0, n_classes, tshape))
        np.moveaxis(x, cax, -1)[ignored, 0] = -np.inf  # masked logits at ignored positions
        x = x.astype(dtype)
        w = rng.uniform(0.5, 2.0, n_classes).astype(dtype) if use_weight else None
        kw = {"ignore_index": ignore_index, "reduction": reduction}
        if smoothing:
            kw["label_smoothing"] = smoothing
        up = rng.standard_normal(tshape if reduction == "none" else ()).astype(dtype)
        v = rng.standard_normal(shape).astype(dtype)
        case = f"{fn}, {pattern} ignored, weight: {use_weight}, {kw}"
        _check_class_loss_against_torch(torch, fn, x, t, w, kw, cax, up, v, case)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_target_gradient_matches_torch(dtype, reduction: str) -> None:  # noqa: ANN001
    # Inputs at 0, at 1, below e^-100 (where the loss's logs are clamped), near the ends and
    # inside; both gradients, with and without (broadcast) weights.
    torch = pytest.importorskip("torch")
    tiny = [1e-50, 1e-300, 5e-324] if dtype == np.float64 else [1e-44, 3e-44, 1e-40]
    x = np.array([0.0, 1.0, *tiny, 1e-13, 1 - 1e-7, 0.5, 0.3, 0.9, 1e-30, 0.7], dtype=dtype)
    x = x.reshape(3, 4)
    rng = np.random.default_rng(5)
    t = rng.random(x.shape).astype(dtype)
    t.flat[:3] = [0.0, 1.0, 0.3]
    up = rng.standard_normal(x.shape if reduction == "none" else ()).astype(dtype)
    for w in [
        None,
        rng.uniform(0.5, 2, 4).astype(dtype),
        rng.uniform(0.5, 2, (3, 4)).astype(dtype),
    ]:
        a, b = ag.tensor(x, requires_grad=True), ag.tensor(t, requires_grad=True)
        out = F.binary_cross_entropy(a, b, weight=w, reduction=reduction)
        (out * up).sum().backward()
        ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
        tw = None if w is None else torch.from_numpy(w)
        tout = torch.nn.functional.binary_cross_entropy(ta, tb, weight=tw, reduction=reduction)
        (tout * torch.from_numpy(up)).sum().backward()
        case = f"weight={None if w is None else w.shape} {reduction}"
        for ours, theirs, what in [
            (out.data, tout.detach().numpy(), "value"),
            (a.grad.data, ta.grad.numpy(), "input gradient"),
            (b.grad.data, tb.grad.numpy(), "target gradient"),
        ]:  # (float32: elementwise formulas, so 1e-4 relative with a tiny floor)
            _assert_like_torch(ours, theirs, dtype, f"{what}: {case}", atol32=1e-6)


def test_class_weights_and_ignore_index_are_checked_where_they_are_passed() -> None:
    # A weight that requires grad would get no gradient without a word: refused (torch
    # refuses it for class-index targets).
    x = ag.tensor([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]], requires_grad=True)
    w = ag.tensor([1.0, 2.0, 0.5], requires_grad=True)
    probs = np.array([[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]])
    for loss in (F.cross_entropy, F.nll_loss):
        with pytest.raises(TypeError, match=f"{loss.__name__}: the class weight requires grad"):
            loss(x, np.array([0, 2]), weight=w)
        with pytest.raises(TypeError, match=f"{loss.__name__}: ignore_index must be an int"):
            loss(x, np.array([0, 2]), ignore_index=None)
        with pytest.raises(TypeError, match=f"{loss.__name__}: weight must hold numbers"):
            loss(x, np.array([0, 2]), weight=[1, 2, "a"])
    with pytest.raises(TypeError, match="the class weight requires grad"):
        F.cross_entropy(x, probs, weight=w)
    detached = F.cross_entropy(x, np.array([0, 2]), weight=w.detach())
    with ag.no_grad():
        assert F.cross_entropy(x, np.array([0, 2]), weight=w).item() == detached.item()
