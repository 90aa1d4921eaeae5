"""Tests for ``autograd_mini.optim.lr_scheduler``: lr sequences, bookkeeping and state dicts.

Sequences are checked against the closed-form formulas; tests at the end compare with
PyTorch's schedulers and are skipped when torch is not installed.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from autograd_mini.optim import SGD, Adam, Optimizer
from autograd_mini.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LRScheduler,
    StepLR,
)
from autograd_mini.tensor import Tensor

BASE_LRS = [0.1, 0.03]


def make_optimizer(cls: type[Optimizer] = SGD) -> Optimizer:
    """An optimizer with two param groups of different learning rates."""
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    q = Tensor(np.array([3.0]), requires_grad=True)
    return cls([{"params": [p], "lr": BASE_LRS[0]}, {"params": [q], "lr": BASE_LRS[1]}])


def lr_sequence(sched: LRScheduler, steps: int) -> list[list[float]]:
    """get_last_lr() before any step, then after each of ``steps`` steps."""
    seq = [sched.get_last_lr()]
    for _ in range(steps):
        sched.optimizer.step()  # no grads: a no-op, but the documented call order
        sched.step()
        seq.append(sched.get_last_lr())
    return seq


def assert_sequence(seq: list[list[float]], formula: Callable[[float, int], float]) -> None:
    """Each epoch's lrs equal formula(base_lr, epoch) to 1e-12 (relative to base_lr)."""
    for epoch, lrs in enumerate(seq):
        for base, lr in zip(BASE_LRS, lrs, strict=True):
            assert lr == pytest.approx(formula(base, epoch), rel=1e-12, abs=1e-12 * base), epoch


# --------------------------------------------------------------------------- formulas


@pytest.mark.parametrize(("step_size", "gamma"), [(1, 0.5), (3, 0.1), (7, 0.9)])
def test_step_lr_sequence(step_size: int, gamma: float) -> None:
    sched = StepLR(make_optimizer(), step_size=step_size, gamma=gamma)
    assert_sequence(lr_sequence(sched, 30), lambda b, t: b * gamma ** (t // step_size))


def test_step_lr_by_hand() -> None:
    sched = StepLR(make_optimizer(), step_size=2)  # gamma defaults to 0.1
    seq = [lrs[0] for lrs in lr_sequence(sched, 5)]
    assert seq == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rel=1e-15)


@pytest.mark.parametrize("gamma", [0.5, 0.95, 1.0])
def test_exponential_lr_sequence(gamma: float) -> None:
    sched = ExponentialLR(make_optimizer(), gamma=gamma)
    assert_sequence(lr_sequence(sched, 40), lambda b, t: b * gamma**t)


@pytest.mark.parametrize(("t_max", "eta_min"), [(10, 0.0), (7, 0.001), (1, 0.0), (25, 0.01)])
def test_cosine_annealing_sequence(t_max: int, eta_min: float) -> None:
    # Past T_max the lr climbs back up (no restarts): the closed form covers that too.
    sched = CosineAnnealingLR(make_optimizer(), T_max=t_max, eta_min=eta_min)

    def closed(base: float, t: int) -> float:
        return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2

    assert_sequence(lr_sequence(sched, 3 * t_max + 5), closed)


def test_cosine_annealing_by_hand() -> None:
    sched = CosineAnnealingLR(make_optimizer(), T_max=2)
    seq = [lrs[0] for lrs in lr_sequence(sched, 4)]
    # cos(0)=1, cos(pi/2)=0, cos(pi)=-1, then back up
    assert seq == pytest.approx([0.1, 0.05, 0.0, 0.05, 0.1], abs=1e-15)


def test_scheduler_sets_optimizer_lr() -> None:
    opt = make_optimizer()
    sched = ExponentialLR(opt, gamma=0.5)
    sched.optimizer.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.015]
    assert sched.get_last_lr() == [0.05, 0.015]


def test_scheduler_drives_the_update() -> None:
    p = Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = Tensor(np.array([1.0]))
        opt.step()
        sched.step()
    assert p.data[0] == pytest.approx(1.0 - (1.0 + 0.5 + 0.25))


# --------------------------------------------------------------------------- bookkeeping


def test_initial_lr_is_set() -> None:
    opt = make_optimizer()
    opt.param_groups[0]["initial_lr"] = 0.5  # an existing value is kept (setdefault)
    sched = StepLR(opt, step_size=2)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.5, BASE_LRS[1]]
    assert sched.base_lrs == [0.5, BASE_LRS[1]]
    assert sched.last_epoch == 0


def test_resuming_without_initial_lr_is_an_error() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(make_optimizer(), step_size=2, last_epoch=3)


def test_not_an_optimizer() -> None:
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        StepLR([], step_size=2)  # type: ignore[arg-type]


def test_step_before_optimizer_step_warns() -> None:
    sched = StepLR(make_optimizer(), step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_normal_order_does_not_warn() -> None:
    sched = CosineAnnealingLR(make_optimizer(), T_max=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lr_sequence(sched, 8)


def test_a_deep_copy_of_a_scheduled_optimizer_steps_its_own_parameters() -> None:
    # A scheduler wraps opt.step around the optimizer it was given; a copy must not keep that
    # wrapper, or its step() would update the original's parameters (as torch, which copies
    # only defaults, state and param_groups).
    opt = make_optimizer()
    StepLR(opt, step_size=1, gamma=0.5)
    dup = copy.deepcopy(opt)
    p, q = opt.param_groups[0]["params"][0], dup.param_groups[0]["params"][0]
    p.grad = Tensor(np.array([5.0, 5.0]))
    q.grad = Tensor(np.array([1.0, 1.0]))
    dup.step()
    np.testing.assert_array_equal(p.data, [1.0, 2.0])
    np.testing.assert_array_equal(q.data, [1.0 - 0.1, 2.0 - 0.1])  # lr 0.1 until sched.step()
    del opt
    sched = StepLR(dup, step_size=1, gamma=0.5, last_epoch=0)  # the copy's own wrapper
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler before optimizer" warning
        dup.step()
        sched.step()


def test_get_lr_outside_step_warns() -> None:
    sched = ExponentialLR(make_optimizer(), gamma=0.5)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


@pytest.mark.parametrize(
    ("factory", "formula"),
    [
        (lambda o: StepLR(o, step_size=3, gamma=0.5), lambda b, t: b * 0.5 ** (t // 3)),
        (lambda o: ExponentialLR(o, gamma=0.9), lambda b, t: b * 0.9**t),
        (
            lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.001),
            lambda b, t: 0.001 + (b - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2,
        ),
    ],
)
def test_step_with_epoch_uses_closed_form(
    factory: Callable[[Optimizer], LRScheduler], formula: Callable[[float, int], float]
) -> None:
    opt = make_optimizer()
    sched = factory(opt)
    opt.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(7)
    assert sched.last_epoch == 7
    for base, lr in zip(BASE_LRS, sched.get_last_lr(), strict=True):
        assert lr == pytest.approx(formula(base, 7), rel=1e-12)


# --------------------------------------------------------------------------- state dicts

SCHEDULERS: list[Callable[[Optimizer], LRScheduler]] = [
    lambda o: StepLR(o, step_size=3, gamma=0.5),
    lambda o: ExponentialLR(o, gamma=0.9),
    lambda o: CosineAnnealingLR(o, T_max=6, eta_min=0.001),
]


@pytest.mark.parametrize("factory", SCHEDULERS)
def test_scheduler_state_dict_round_trip(factory: Callable[[Optimizer], LRScheduler]) -> None:
    ref = factory(make_optimizer())
    expected = lr_sequence(ref, 20)

    opt = make_optimizer()
    sched = factory(opt)
    head = lr_sequence(sched, 8)
    sched_state = copy.deepcopy(sched.state_dict())
    opt_state = copy.deepcopy(opt.state_dict())
    assert "optimizer" not in sched_state

    # As PyTorch advises: build the scheduler first, then load both states.
    opt2 = make_optimizer()
    sched2 = factory(opt2)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    tail = lr_sequence(sched2, 12)
    assert head + tail[1:] == expected


def test_scheduler_state_dict_is_plain_data() -> None:
    sched = CosineAnnealingLR(make_optimizer(), T_max=4)
    state = sched.state_dict()
    for value in state.values():
        assert isinstance(value, (int, float, bool, list))
    assert state["base_lrs"] == BASE_LRS and state["last_epoch"] == 0


def test_optimizer_and_scheduler_resume_bit_identical() -> None:
    def grads(p: Tensor, t: int) -> None:
        p.grad = Tensor(np.array([np.sin(t) + p.data[0], np.cos(t) - p.data[1]]))

    def run(steps: int, opt: Optimizer, sched: LRScheduler, p: Tensor, start: int = 0) -> None:
        for t in range(start, start + steps):
            grads(p, t)
            opt.step()
            sched.step()

    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = Adam([p], lr=0.1)
    sched = CosineAnnealingLR(opt, T_max=7)
    run(15, opt, sched, p)

    q = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt_q = Adam([q], lr=0.1)
    sched_q = CosineAnnealingLR(opt_q, T_max=7)
    run(6, opt_q, sched_q, q)
    saved = copy.deepcopy((opt_q.state_dict(), sched_q.state_dict(), q.data.copy()))

    r = Tensor(saved[2], requires_grad=True)
    opt_r = Adam([r], lr=0.1)
    sched_r = CosineAnnealingLR(opt_r, T_max=7)
    opt_r.load_state_dict(saved[0])
    sched_r.load_state_dict(saved[1])
    run(9, opt_r, sched_r, r, start=6)
    np.testing.assert_array_equal(r.data, p.data)
    assert sched_r.get_last_lr() == sched.get_last_lr()


# --------------------------------------------------------------------------- against PyTorch


def _torch_optimizer(torch: Any) -> Any:
    """The torch twin of make_optimizer()."""
    p = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([3.0], dtype=torch.float64, requires_grad=True)
    return torch.optim.SGD([{"params": [p], "lr": BASE_LRS[0]}, {"params": [q], "lr": BASE_LRS[1]}])


TORCH_SCHEDULERS = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("StepLR", {"step_size": 1}),
    ("ExponentialLR", {"gamma": 0.95}),
    ("CosineAnnealingLR", {"T_max": 17, "eta_min": 0.001}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 1}),
]


@pytest.mark.parametrize(("name", "kw"), TORCH_SCHEDULERS)
def test_lr_sequence_matches_torch(name: str, kw: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    import autograd_mini.optim.lr_scheduler as ours

    mine = getattr(ours, name)(make_optimizer(), **kw)
    theirs = getattr(torch.optim.lr_scheduler, name)(_torch_optimizer(torch), **kw)
    seq_mine = lr_sequence(mine, 100)
    seq_theirs = lr_sequence(theirs, 100)
    np.testing.assert_allclose(np.array(seq_mine), np.array(seq_theirs), rtol=1e-12, atol=1e-15)
    assert mine.optimizer.param_groups[0]["initial_lr"] == BASE_LRS[0]
    assert theirs.optimizer.param_groups[0]["initial_lr"] == BASE_LRS[0]
    # the state dict holds the same entries
    assert set(mine.state_dict()) == set(theirs.state_dict())


@pytest.mark.parametrize(("name", "kw"), TORCH_SCHEDULERS)
def test_resume_with_last_epoch_matches_torch(name: str, kw: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    import autograd_mini.optim.lr_scheduler as ours

    opt, topt = make_optimizer(), _torch_optimizer(torch)
    for o in (opt, topt):
        for g in o.param_groups:
            g["initial_lr"] = g["lr"]
    mine = getattr(ours, name)(opt, last_epoch=4, **kw)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=4, **kw)
    np.testing.assert_allclose(
        np.array(lr_sequence(mine, 30)), np.array(lr_sequence(theirs, 30)), rtol=1e-12, atol=1e-15
    )


# ------------------------------------------------------------------- mutation-audit additions


def test_get_last_lr_is_the_scheduled_lr_not_the_current_one() -> None:
    # As torch: get_last_lr() reports what the last step() set, even if the lr was changed
    # by hand since.
    opt = make_optimizer()
    sched = StepLR(opt, step_size=1, gamma=0.5)
    opt.step()
    sched.step()
    opt.param_groups[0]["lr"] = 7.0
    assert sched.get_last_lr() == pytest.approx([0.05, 0.015], rel=1e-15)
    opt.step()
    sched.step()  # chainable: continues from the lr the group now has
    assert sched.get_last_lr() == pytest.approx([3.5, 0.0075], rel=1e-15)


def test_scheduler_state_dict_lists_are_copies() -> None:
    sched = ExponentialLR(make_optimizer(), gamma=0.5)
    state = sched.state_dict()
    state["base_lrs"][0] = 99.0
    state["_last_lr"][0] = 99.0
    assert sched.base_lrs == BASE_LRS
    assert sched.get_last_lr() == BASE_LRS
