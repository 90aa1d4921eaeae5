"""`autograd-mini bench`: run the benchmark suite of the source checkout (benchmarks/).

The suite lives next to the package in the repository, not inside it: it imports PyTorch,
JAX and the other peers, which the package itself must never need. It runs in a fresh
Python process because thread counts have to be fixed before NumPy and the peers load.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ENV_VAR = "AUTOGRAD_MINI_BENCHMARKS"


def find_suite() -> Path | None:
    """The benchmarks/run.py to use: $AUTOGRAD_MINI_BENCHMARKS if set, else the checkout's."""
    override = os.environ.get(ENV_VAR)
    # A set variable is obeyed or reported, never silently replaced by the checkout's suite.
    c = Path(override) if override else Path(__file__).resolve().parent.parent / "benchmarks"
    run = c / "run.py" if c.is_dir() else c
    return run if run.name == "run.py" and run.is_file() else None


def main(argv: list[str] | None = None) -> int:
    """Run `benchmarks/run.py` with `argv` in a fresh process; returns its exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    run = find_suite()
    if run is None and os.environ.get(ENV_VAR):
        print(
            f"autograd-mini bench: {ENV_VAR}={os.environ[ENV_VAR]!r} is not the benchmarks/ "
            "folder or its run.py.",
            file=sys.stderr,
        )
        return 2
    if run is None:
        print(
            "autograd-mini bench: the benchmark suite (benchmarks/run.py) was not found. It "
            "ships with the source repository: clone it and `pip install -e .[bench]` there, "
            f"or point {ENV_VAR} at the benchmarks/ folder.",
            file=sys.stderr,
        )
        return 2
    try:
        return subprocess.call([sys.executable, str(run), *argv])
    except KeyboardInterrupt:
        return 130
