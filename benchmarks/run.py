"""Run the benchmark suite: `autograd-mini bench [options]` or `python benchmarks/run.py`.

Thread pools read their size from the environment when NumPy, PyTorch or JAX load, so this
module imports none of them at the top: `main` sets the variables first, and when NumPy is
already loaded in the calling process it re-runs itself in a fresh one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

# id -> (module, function returning the workload's cases)
WORKLOADS: dict[str, tuple[str, str]] = {
    "W1": ("benchmarks.w1_micrograd_step", "cases"),
    "W2": ("benchmarks.w2_digits_mlp", "cases"),
    "W3": ("benchmarks.w3_per_op", "cases"),
    "W4": ("benchmarks.w4_matmul", "cases"),
    "W5": ("benchmarks.w5_hessian", "cases"),
    "W6": ("benchmarks.w6_grad_vs_n", "cases"),
    "W7": ("benchmarks.w7_long_chain", "cases"),
    "W7v": ("benchmarks.w7_long_chain", "cases_v"),
}

DESCRIPTIONS: dict[str, str] = {
    "W1": "micrograd demo step with ag.Value (ref micrograd, target <= 0.10x)",
    "W2": "digits MLP step, float32, batch 128 (ref numpy-hand, target <= 1.10x)",
    "W3": "per-op cost, 301 ops on a 16-vector (ref torch, target <= 1.00x)",
    "W4": "large matmul fwd+bwd, float32 (ref numpy-hand, target <= 1.03x)",
    "W5": "full Hessian, x in R^100 (ref HIPS autograd, target <= 0.30x)",
    "W6": "one gradient for n = 10..10^4 vs central differences (ref torch, <= 1.5x)",
    "W7": "100 000-op chain on a 0-d tensor, time + memory (ref torch, <= 1.5x / 1.2x)",
    "W7v": "100 000-op chain on ag.Value (ref micrograd, target <= 0.30x)",
}


def _csv(kind: str, valid: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        lookup = {v.lower(): v for v in valid}
        bad = [t for t in items if t.lower() not in lookup]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {', '.join(bad) or '(none given)'}; choose from {', '.join(valid)}"
            )
        return [lookup[t.lower()] for t in items]

    return parse


def _positive(kind: str, cast: type):
    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} must be a number, got {text!r}") from None
        if v < (1 if cast is int else 0):
            raise argparse.ArgumentTypeError(f"{kind} must be positive, got {text}")
        return v

    return parse


def parser() -> argparse.ArgumentParser:
    """The command line of `autograd-mini bench`."""
    from benchmarks.peers import PEERS  # stdlib only: safe before the thread settings

    p = argparse.ArgumentParser(
        prog="autograd-mini bench",
        description="Time autograd_mini against the installed peers (PyTorch, JAX, HIPS "
        "autograd, mygrad, micrograd) and a hand-written NumPy floor; print median, min, max "
        "and the ratio to each workload's reference. Every workload first checks that all "
        "peers compute the same result.",
        epilog="workloads:\n"
        + "\n".join(f"  {k:<4} {v}" for k, v in DESCRIPTIONS.items())
        + "\n\nexit status: 0 when every workload ran and agreed, 1 when one failed, 2 on "
        "bad arguments (a target not met is reported, not an error).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--workloads",
        type=_csv("workload", tuple(WORKLOADS)),
        default=list(WORKLOADS),
        help="comma-separated ids, e.g. W1,W3 (default: all)",
    )
    p.add_argument(
        "--peers",
        type=_csv("peer", PEERS),
        default=None,
        help="comma-separated peers to run (default: every installed one)",
    )
    p.add_argument(
        "--repeats", type=_positive("--repeats", int), default=7, help="samples per peer (7)"
    )
    p.add_argument(
        "--threads",
        type=_positive("--threads", int),
        default=1,
        help="threads for every library (1): environment variables, torch.set_num_threads, "
        "XLA flags, and the process's CPU affinity",
    )
    p.add_argument(
        "--min-time",
        type=_positive("--min-time", float),
        default=None,
        help="seconds a sample lasts at least; short calls are looped (0.02; --tiny: 0)",
    )
    p.add_argument("--tiny", action="store_true", help="tiny sizes: a quick smoke run")
    p.add_argument("--json", metavar="PATH", help="write raw times, versions, threads, machine")
    p.add_argument("--plot", metavar="PATH", help="write a bar chart (needs matplotlib)")
    p.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p


def _pinned(threads: int) -> dict[str, str]:
    from benchmarks.peers import thread_env

    return thread_env(threads)


def main(argv: list[str] | None = None) -> int:
    """Run the selected workloads; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if args.list:
        for k, v in DESCRIPTIONS.items():
            print(f"{k:<4} {v}")
        return 0

    env = _pinned(args.threads)
    if any(os.environ.get(k) != v for k, v in env.items()):
        if "numpy" in sys.modules:
            # Too late for this process: the thread pools exist. Start a fresh one.
            child_env = {**os.environ, **env}
            cmd = [sys.executable, os.path.abspath(__file__), *argv]
            return subprocess.call(cmd, env=child_env)
        os.environ.update(env)
    from benchmarks.peers import pin_cpus  # stdlib only

    pin_cpus(args.threads)  # before NumPy starts its threads: affinity is per thread
    return _run(args)


def _output_problem(args: argparse.Namespace) -> str | None:
    """What stops --json, --markdown or --plot from being written, if anything."""
    from autograd_mini.serialization import output_problem, plot_problem

    outputs = (("--json", args.json, output_problem), ("--markdown", args.markdown, output_problem),
               ("--plot", args.plot, plot_problem))  # fmt: skip
    problems = (check(path, flag) for flag, path, check in outputs if path is not None)
    return next((p for p in problems if p), None)


def _run(args: argparse.Namespace) -> int:
    from benchmarks import harness, peers

    tiny = args.tiny
    min_time = args.min_time if args.min_time is not None else (0.0 if tiny else 0.02)
    only = set(args.peers) if args.peers else None
    problem = _output_problem(args)
    if problem:  # found now, not after a run of several minutes
        print(f"autograd-mini bench: {problem}")
        return 2

    load_before = harness.load_average()
    m = harness.machine()
    print(f"autograd-mini bench — {m['cpu']} ({m['cpus']} CPUs), {m['platform']}")
    rev = harness.git_revision()
    print(f"threads: {peers.threads()}   load average: {load_before}   commit: {rev}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in peers.versions().items()))
    absent = [p for p in peers.PEERS if peers.missing(p) and (only is None or p in only)]
    for p in absent:
        print(f"  {p}: {peers.missing(p)} — its rows are skipped")
    print()

    results = []
    failed = False
    for wid in args.workloads:
        module, fn = WORKLOADS[wid]
        build_cases = getattr(importlib.import_module(module), fn)
        for case in build_cases(tiny=tiny):
            print(f"running {case.label} ...", flush=True)
            res = harness.run_case(case, only, args.repeats, min_time, log=lambda s: None)
            print(harness.format_case(res))
            print(flush=True)
            results.append(res)
            failed = failed or res.failure is not None
    print(harness.format_summary(results))

    meta = harness.meta_info(args.repeats, min_time, load_before)
    meta["tiny"] = tiny
    print(f"load average after: {meta['load_after']}")
    if args.json:
        harness.write_json(args.json, harness.to_json(results, meta))
        print(f"wrote {args.json}")
    if args.markdown:
        harness.write_text(args.markdown, harness.markdown(results, meta))
        print(f"wrote {args.markdown}")
    if args.plot:
        harness.write_plot(args.plot, results)
        print(f"wrote {args.plot}")
    if failed:
        print("FAILED: at least one workload's peers disagreed or autograd_mini raised")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
