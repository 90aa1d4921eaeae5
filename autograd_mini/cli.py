"""The `autograd-mini` command: `train`, `gradcheck` and `bench` subcommands."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable

USAGE = """usage: autograd-mini {train,gradcheck,bench} [options]

  train      train an MLP on the shipped handwritten digits and save a checkpoint
  gradcheck  check every op's gradient against finite differences and print a table
  bench      time autograd_mini against the installed peers and print ratios

'autograd-mini COMMAND --help' describes a command's options."""


def _number(s: str, ok: Callable[[float], bool], what: str) -> float:
    # Rejected as a usage error, not later: a bad --lr or --eps would otherwise run a whole
    # training or catalogue and fail every step.
    try:
        v = float(s)
    except ValueError:
        v = math.nan
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
    return v


def positive_number(s: str) -> float:
    """A command-line value that must be a finite number above 0 (a step size, a rate)."""
    return _number(s, lambda v: math.isfinite(v) and v > 0, "a positive number")


def non_negative_number(s: str) -> float:
    """A command-line value that must be a number at least 0 (a tolerance)."""
    return _number(s, lambda v: v >= 0, "a non-negative number")  # NaN fails too


def seed_number(s: str) -> int:
    """A command-line seed: an integer at least 0 (what NumPy's generators accept)."""
    try:
        v = int(s)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {s!r}")
    return v


def _command(name: str) -> Callable[[list[str]], int] | None:
    # Imported on demand so `autograd-mini train` does not pay for the benchmark peers.
    if name == "train":
        from .train import main
    elif name == "gradcheck":
        from .gradcheck import main
    elif name == "bench":
        from .bench import main
    else:
        return None
    return main


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; returns the process exit code."""
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`autograd-mini gradcheck | head`): stop quietly, as Unix
        # tools do. Python would otherwise complain again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by the pipe


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stdout if argv else sys.stderr)  # asked for, or a usage error
        return 0 if argv else 2
    run = _command(argv[0])
    if run is None:
        print(f"autograd-mini: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    return int(run(argv[1:]) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
