"""W7 and W7v: a chain of 100 000 ops on one number, then backward — time and peak memory.

`y = x; 50 000 x (y = y * 1.00001; y = y + 1e-5)`; backward; dy/dx = 1.00001^50000. W7 runs
it on 0-d tensors, W7v on scalar Values (`ag.Value` vs micrograd, whose recursive
topological sort needs a raised recursion limit). Every sample is a fresh process that
imports its peer, warms up on a 100-op chain, then times build + backward + teardown of the
chain. Peak memory is the process's peak resident set during that run minus its resident set
before it (Linux: the peak is reset through /proc/self/clear_refs first; elsewhere the growth
of ru_maxrss) — the same method for every peer, and one that sees C/C++ allocations too.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from .harness import Case, PeerError, Sample, Skip

C = 1.00001
D = 1e-5
X0 = 0.5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --------------------------------------------------------------------------- the chains


def _ad_mini(n: int) -> tuple[float, float]:
    import autograd_mini as ag

    x = ag.tensor(X0, requires_grad=True)
    y = x
    for _ in range(n // 2):
        y = y * C
        y = y + D
    y.backward()
    return y.item(), x.grad.item()


def _scalar_chain(Value: type, n: int) -> tuple[float, float]:  # noqa: N803
    """The chain on a micrograd-style scalar class (the same code for both engines)."""
    x = Value(X0)
    y = x
    for _ in range(n // 2):
        y = y * C
        y = y + D
    y.backward()
    return y.data, x.grad


def _ad_mini_value(n: int) -> tuple[float, float]:
    from autograd_mini import Value

    return _scalar_chain(Value, n)


def _numpy_hand(n: int) -> tuple[float, float]:
    # A tape of local derivatives, walked backwards: the least an engine can record. Every
    # value is a 0-d array, as a tensor engine's are (`y * C` alone would give NumPy scalars,
    # a different and much cheaper kind of arithmetic).
    y = np.array(X0)
    tape = []
    for _ in range(n // 2):
        y = np.multiply(y, C, out=np.empty(()))
        tape.append(C)
        y = np.add(y, D, out=np.empty(()))
        tape.append(1.0)
    g = np.array(1.0)
    for local in reversed(tape):
        g = np.multiply(g, local, out=np.empty(()))
    return float(y), float(g)


def _python_hand(n: int) -> tuple[float, float]:
    y = X0
    tape = []
    for _ in range(n // 2):
        y = y * C
        tape.append(C)
        y = y + D
        tape.append(1.0)
    g = 1.0
    for local in reversed(tape):
        g = g * local
    return y, g


def _torch(n: int) -> tuple[float, float]:
    from benchmarks import peers

    torch = peers.torch()
    x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(n // 2):
        y = y * C
        y = y + D
    y.backward()
    return y.item(), x.grad.item()


def _hips(n: int) -> tuple[float, float]:
    from autograd import value_and_grad

    def f(x):
        y = x
        for _ in range(n // 2):
            y = y * C
            y = y + D
        return y

    v, g = value_and_grad(f)(X0)
    return float(v), float(g)


def _mygrad(n: int) -> tuple[float, float]:
    import mygrad as mg

    x = mg.tensor(X0)
    y = x
    for _ in range(n // 2):
        y = y * C
        y = y + D
    y.backward()
    return y.item(), float(x.grad)


def _micrograd(n: int) -> tuple[float, float]:
    from micrograd.engine import Value

    return _scalar_chain(Value, n)


CHAINS: dict[str, dict[str, Callable[[int], tuple[float, float]]]] = {
    "W7": {
        "autograd_mini": _ad_mini,
        "numpy-hand": _numpy_hand,
        "torch": _torch,
        "hips": _hips,
        "mygrad": _mygrad,
        "micrograd": _micrograd,  # at the default recursion limit, as users hit it
    },
    "W7v": {
        "autograd_mini": _ad_mini_value,
        "numpy-hand": _python_hand,
        "micrograd": _micrograd,
    },
}


def _proc_status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset the peak resident set (Linux: clear_refs 5); False where that is unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        _proc_status_mb("VmHWM")
        return True
    except OSError:
        return False


def _memory_method(exact: bool) -> str:
    """How peak memory is measured: exactly, or (no peak reset) as growth of the peak."""
    return "VmHWM - VmRSS after a peak reset" if exact else "growth of ru_maxrss"


def _max_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1024.0 * 1024.0) if sys.platform == "darwin" else r / 1024.0


def _measure(fn: Callable[[int], tuple[float, float]], n: int) -> dict:
    fn(100)  # warm-up: imports and first-call paths are not what is measured
    gc.collect()
    # Peak growth over the resident set before the chain. With the peak reset (Linux) this
    # is exact; otherwise ru_maxrss can only show growth beyond the earlier peak.
    exact = _reset_peak()
    base = _proc_status_mb("VmRSS") if exact else _max_rss_mb()
    t0 = time.perf_counter()
    loss, grad = fn(n)
    seconds = time.perf_counter() - t0
    # Teardown is timed too: a graph of reference cycles (micrograd's) is freed only by the
    # collector, the others as fn returns. What freeing it costs is a collection's time less
    # that of a second one with nothing left to free (walking the library's own objects is
    # not the chain's cost; freezing them instead would change when collections run).
    t1 = time.perf_counter()
    gc.collect()
    t2 = time.perf_counter()
    gc.collect()
    seconds += max((t2 - t1) - (time.perf_counter() - t2), 0.0)
    peak = _proc_status_mb("VmHWM") if exact else _max_rss_mb()
    return {
        "seconds": seconds,
        "mem_mb": max(peak - base, 0.0),
        "mem_method": _memory_method(exact),
        "loss": loss,
        "grad": grad,
    }


def child_main(argv: list[str]) -> int:
    """Run one chain in this (fresh) process and print its measurements as JSON."""
    workload, peer, n = argv[0], argv[1], int(argv[2])
    fn = CHAINS[workload][peer]
    out: dict = {}
    try:
        if workload == "W7v" and peer == "micrograd":
            # micrograd's topological sort recurses once per node.
            sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * n + 1000))
            threading.stack_size(512 * 1024 * 1024)
            box: list = []

            def run() -> None:
                try:
                    box.append(_measure(fn, n))
                except BaseException as e:  # re-raised in the main thread
                    box.append(e)

            th = threading.Thread(target=run)
            th.start()
            th.join()
            if isinstance(box[0], BaseException):
                raise box[0]
            out = box[0]
        else:
            out = _measure(fn, n)
    except RecursionError as e:
        out = {"error": f"RecursionError: {e} (recursion limit {sys.getrecursionlimit()})"}
    except Exception as e:  # reported in the table by the parent
        out = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(out))
    return 0


_CHILD = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from benchmarks.w7_long_chain import child_main; sys.exit(child_main(sys.argv[1:]))"
)


def _sampler(workload: str, n: int) -> Callable[[str], Sample]:
    def sample(peer: str) -> Sample:
        if workload == "W7" and peer == "jax":
            raise Skip(
                "jax.grad of a Python loop costs ~0.5 ms per op here (5.4 s for 10 000 ops), "
                "about a minute per sample; not run"
            )
        cmd = [sys.executable, "-c", _CHILD.format(root=ROOT), workload, peer, str(n)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise PeerError(f"child process exited with {proc.returncode}: {' | '.join(tail)}")
        data = json.loads(lines[-1])
        if "error" in data:
            raise PeerError(data["error"])
        return Sample(
            data["seconds"],
            {"mem_mb": data["mem_mb"]},
            {"loss": data["loss"], "grad": data["grad"]},
        )

    return sample


def cases(tiny: bool = False, workload: str = "W7") -> list[Case]:
    """The W7 (0-d tensors) or W7v (scalar Values) case (tiny: 200 ops)."""
    n = 200 if tiny else 100_000
    if workload == "W7":
        method = _memory_method(os.path.exists("/proc/self/clear_refs"))  # as _reset_peak
        title = (
            f"chain of {n} ops (y*c, y+d) on a 0-d float64 tensor + backward, fresh process; "
            f"memory: {method}"
        )
        reference, targets = "torch", {"time": 1.5, "mem_mb": 1.2}
        na = {"jax-jit": "compiling a 100 000-op program is not the workload"}
    else:
        title = f"the same chain of {n} ops on scalar Values + backward, fresh process"
        reference, targets = "micrograd", {"time": 0.3}
        na = {p: "tensor peer (see W7)" for p in ("torch", "jax", "jax-jit", "hips", "mygrad")}
    peers = {name: (lambda: None) for name in CHAINS[workload]}
    if workload == "W7":
        peers["jax"] = lambda: None
    return [
        Case(
            workload=workload,
            label=workload,
            title=title,
            reference=reference,
            peers=peers,
            targets=targets,
            rtol=1e-9,
            sampler=_sampler(workload, n),
            metric_units={"mem_mb": "MB"},
            not_applicable=na,
        )
    ]


def cases_v(tiny: bool = False) -> list[Case]:
    """The W7v case."""
    return cases(tiny, "W7v")
