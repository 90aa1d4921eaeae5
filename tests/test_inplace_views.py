"""Random programs of views, in-place writes and out-of-place ops, checked against NumPy.

NumPy runs the same program on plain arrays, whose views share memory exactly as the
tensors' do, so its final values are the truth; the gradients of a loss over every tensor the
program made are checked against central differences of that NumPy program. This covers the
engine's bookkeeping for writes into bases with views, writes through views, and the views'
regenerated histories, in whatever order a program mixes them.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_mini as ag

SHAPE = (4, 3)

STEPS = st.one_of(
    st.tuples(st.just("T"), st.integers(0, 99)),
    st.tuples(st.just("slice"), st.integers(0, 99), st.integers(0, 3)),
    st.tuples(st.just("row"), st.integers(0, 99), st.integers(0, 3)),
    st.tuples(st.just("flat"), st.integers(0, 99)),
    st.tuples(st.just("scale"), st.integers(0, 99), st.sampled_from([2.0, -0.5])),
    st.tuples(st.just("add_w"), st.integers(0, 99), st.integers(0, 2), st.sampled_from([1.0, 3.0])),
    st.tuples(st.just("set_row"), st.integers(0, 99), st.integers(0, 3), st.integers(0, 2)),
    st.tuples(st.just("fill"), st.integers(0, 99), st.integers(0, 2)),
    st.tuples(st.just("mul_const"), st.integers(0, 99), st.sampled_from([2.0, -1.5])),
)


def run(program: list, x, w, lib: str):
    """The program on `lib` ("ag": tensors, "np": arrays); returns the list of every tensor."""
    if lib == "ag":
        pool = [x * 1.0, ag.zeros(SHAPE)]
    else:
        pool = [x * 1.0, np.zeros(SHAPE)]
    for step in program:
        kind, i = step[0], step[1] % len(pool)
        t = pool[i]
        if kind == "T":
            pool.append(t.T)
        elif kind == "slice" and t.ndim >= 1:
            pool.append(t[step[2] % t.shape[0] :])
        elif kind == "row" and t.ndim == 2:
            pool.append(t[step[2] % t.shape[0]])
        elif kind == "flat":
            pool.append(t.reshape(-1))
        elif kind == "scale":
            pool.append(t * step[2])
        elif kind == "add_w":
            t += w[step[2]] * step[3]
        elif kind == "set_row" and t.ndim >= 1 and t.shape[0]:
            t[step[2] % t.shape[0]] = w[step[3]] * 2.0
        elif kind == "fill":
            if lib == "ag":
                t.fill_(w[step[2]])
            else:
                t[...] = w[step[2]]
        elif kind == "mul_const":
            t *= step[2]
    return pool


def loss_of(pool: list, lib: str):
    rng = np.random.default_rng(0)
    total = 0.0
    for t in pool:
        c = rng.uniform(-1.0, 1.0, np.shape(t))
        total = total + ((t * (ag.tensor(c) if lib == "ag" else c)).sum())
    return total


@given(st.lists(STEPS, min_size=1, max_size=8), st.integers(0, 2**32 - 1))
def test_random_programs_of_views_and_writes_match_numpy(program, seed):
    rng = np.random.default_rng(seed)
    x0, w0 = rng.uniform(-1, 1, SHAPE), rng.uniform(-1, 1, 3)
    x, w = ag.tensor(x0, requires_grad=True), ag.tensor(w0, requires_grad=True)
    pool = run(program, x, w, "ag")
    want = run(program, x0.copy(), w0.copy(), "np")
    for t, a in zip(pool, want):
        np.testing.assert_array_equal(t.data, a)
    loss = loss_of(pool, "ag")
    assert loss.item() == pytest.approx(loss_of(want, "np"), rel=1e-12, abs=1e-12)
    if not loss.requires_grad:
        return
    loss.backward()

    def f(xa, wa):
        return loss_of(run(program, xa, wa, "np"), "np")

    eps = 1e-6
    for leaf, base, which in ((x, x0, 0), (w, w0, 1)):
        num = np.zeros(base.shape)
        for j in np.ndindex(base.shape):
            hi, lo = base.copy(), base.copy()
            hi[j] += eps
            lo[j] -= eps
            args_hi = (hi, w0.copy()) if which == 0 else (x0.copy(), hi)
            args_lo = (lo, w0.copy()) if which == 0 else (x0.copy(), lo)
            num[j] = (f(*args_hi) - f(*args_lo)) / (2 * eps)
        got = leaf.grad.data if leaf.grad is not None else np.zeros(base.shape)
        np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_views_made_in_several_threads_all_follow_their_bases():
    # The registry is shared: a prune in one thread must not lose another's registration.
    w = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    stale: list = []

    def work(k: int) -> None:
        for _ in range(200):
            x = ag.zeros(3, 3)
            views = [x.T, x[1:], x.reshape(9)]
            for _ in range(20):
                x[0:1]  # made and dropped: fills the registry with dead entries to prune
            x[0] = w * k
            stale.extend(v for v in views if not v.requires_grad)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stale == []
