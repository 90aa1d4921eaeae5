"""The peers: their names, whether they are installed, their versions, and thread pinning.

Thread counts must be fixed before NumPy, PyTorch or JAX are imported (their thread pools
read the environment once, at load), so `thread_env` is applied by `run.py` first thing;
`torch()` and `jax()` import those libraries with the remaining settings applied.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from typing import Any

# Display order of the table rows.
PEERS: tuple[str, ...] = (
    "autograd_mini",
    "numpy-hand",
    "torch",
    "jax",
    "jax-jit",
    "hips",
    "mygrad",
    "micrograd",
    "central-diff",
)

# The importable module behind each peer (None: only NumPy is needed).
MODULE: dict[str, str | None] = {
    "autograd_mini": "autograd_mini",
    "numpy-hand": None,
    "central-diff": None,
    "torch": "torch",
    "jax": "jax",
    "jax-jit": "jax",
    "hips": "autograd",
    "mygrad": "mygrad",
    "micrograd": "micrograd",
}

INSTALL: dict[str, str] = {
    "torch": "pip install torch==2.13.0",
    "jax": "pip install jax jaxlib",
    "jax-jit": "pip install jax jaxlib",
    "hips": "pip install autograd",
    "mygrad": "pip install mygrad",
    "micrograd": "pip install micrograd",
}

DISTRIBUTIONS: tuple[str, ...] = (
    "autograd_mini",
    "numpy",
    "torch",
    "jax",
    "jaxlib",
    "autograd",
    "mygrad",
    "micrograd",
    "matplotlib",
)

THREAD_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)

THREADS_VAR = "AUTOGRAD_MINI_BENCH_THREADS"


def thread_env(threads: int) -> dict[str, str]:
    """The environment variables that pin every library's thread pool to `threads`."""
    env = {name: str(threads) for name in THREAD_VARS}
    env[THREADS_VAR] = str(threads)
    xla = os.environ.get("XLA_FLAGS", "")
    # XLA's CPU backend has no "n threads" flag (its pool follows the CPU affinity, which
    # pin_cpus sets); one thread also means: no Eigen thread pool.
    parts = [p for p in xla.split() if "multi_thread_eigen" not in p and "intra_op" not in p]
    if threads == 1:
        parts += ["--xla_cpu_multi_thread_eigen=false"]
    env["XLA_FLAGS"] = " ".join(parts)
    return env


def pin_cpus(threads: int) -> None:
    """Let this process (and its children) run on `threads` CPUs only.

    The environment variables bound NumPy's and PyTorch's pools, but not XLA's: it sizes
    its pool by the CPUs the process may use, and its matmuls ran on both cores of a 2-core
    machine with them set (CPU time 1.98x wall time). Call before jax is imported.
    """
    if not hasattr(os, "sched_setaffinity"):  # pragma: no cover - not Linux
        return
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])


def threads() -> int:
    """The thread count this process was started with (1 unless run.py said otherwise)."""
    return int(os.environ.get(THREADS_VAR, "1"))


def missing(peer: str) -> str | None:
    """Why `peer` cannot run here (not installed), or None when it can."""
    module = MODULE[peer]
    if module is None:
        return None
    if importlib.util.find_spec(module) is None:
        return f"not installed ({INSTALL.get(peer, 'pip install ' + module)})"
    return None


def torch() -> Any:
    """PyTorch, with its intra-op and inter-op thread counts pinned."""
    import torch as _torch

    n = threads()
    if _torch.get_num_threads() != n:
        _torch.set_num_threads(n)
    try:
        _torch.set_num_interop_threads(1)
    except RuntimeError:  # already set once in this process
        pass
    return _torch


def jax() -> Any:
    """JAX on the CPU with float64 enabled (several workloads are float64)."""
    import jax as _jax

    _jax.config.update("jax_enable_x64", True)
    _jax.config.update("jax_platforms", "cpu")
    return _jax


def versions() -> dict[str, str]:
    """Installed version of every benchmarked distribution (absent ones omitted)."""
    out = {"python": sys.version.split()[0]}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def thread_report() -> dict[str, Any]:
    """The thread settings in force: environment, PyTorch's counts, BLAS pools."""
    rep: dict[str, Any] = {"threads": threads()}
    rep["env"] = {k: os.environ.get(k) for k in (*THREAD_VARS, "XLA_FLAGS")}
    if hasattr(os, "sched_getaffinity"):
        rep["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    if "torch" in sys.modules:
        t = sys.modules["torch"]
        rep["torch"] = {
            "num_threads": t.get_num_threads(),
            "num_interop_threads": t.get_num_interop_threads(),
        }
    try:
        import threadpoolctl

        rep["threadpools"] = [
            {k: info.get(k) for k in ("user_api", "internal_api", "num_threads", "version")}
            for info in threadpoolctl.threadpool_info()
        ]
    except ImportError:
        pass
    return rep
