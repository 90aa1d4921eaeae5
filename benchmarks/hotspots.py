"""Profile autograd_mini's side of a workload: `python benchmarks/hotspots.py W1 [W2 ...]`.

Runs the workload's autograd_mini step under cProfile for about `--seconds` and prints the
functions with the most time spent in their own code (tottime), as a share of the total, and
the largest cumulative times — the input for making the engine faster. One thread, as the
benchmark runs.
"""

from __future__ import annotations

import argparse
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def _label(func: tuple) -> str:
    filename, line, name = func
    if filename == "~":  # a builtin
        return name
    parts = filename.replace("\\", "/").split("/")
    short = "/".join(parts[-2:]) if "autograd_mini" in parts else parts[-1]
    return f"{short}:{line}({name})"


def profile(wid: str, seconds: float, top: int, peer: str = "autograd_mini") -> str:
    """The hot-spot report of `peer`'s step in workload `wid`."""
    import cProfile
    import importlib
    import pstats
    import time

    from benchmarks.run import WORKLOADS

    module, fn = WORKLOADS[wid]
    case = getattr(importlib.import_module(module), fn)(tiny=False)[0]
    if case.sampler is not None:
        raise SystemExit(f"{wid} runs in fresh processes; profile it with python -m cProfile")
    step, _ = case.peers[peer]()
    step()
    t0 = time.perf_counter()
    step()
    one = time.perf_counter() - t0
    n = max(1, int(seconds / max(one, 1e-6)))
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        step()
    prof.disable()
    st = pstats.Stats(prof)
    total = st.total_tt
    rows = sorted(st.stats.items(), key=lambda kv: kv[1][2], reverse=True)
    out = [
        f"{wid} ({case.label}) {peer}: {n} steps, {one * 1e3:.3f} ms/step unprofiled, "
        f"profiled total {total:.3f} s",
        f"  {'own %':>6} {'cum %':>6} {'calls/step':>11}  function",
    ]
    for func, (_cc, nc, tt, ct, _callers) in rows[:top]:
        out.append(
            f"  {100 * tt / total:6.1f} {100 * ct / total:6.1f} {nc / n:11.1f}  {_label(func)}"
        )
    cum = sorted(st.stats.items(), key=lambda kv: kv[1][3], reverse=True)
    out.append("  largest cumulative:")
    for func, (_cc, nc, _tt, ct, _callers) in cum[: top // 2]:
        out.append(f"  {'':6} {100 * ct / total:6.1f} {nc / n:11.1f}  {_label(func)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the hot spots of each workload named on the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workloads", nargs="+")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--peer", default="autograd_mini")
    args = p.parse_args(argv)
    from benchmarks.peers import thread_env

    if "numpy" not in sys.modules:
        os.environ.update(thread_env(1))
    for wid in args.workloads:
        print(profile(wid, args.seconds, args.top, args.peer))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
