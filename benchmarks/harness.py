"""The harness: agreement check, round-robin timing, tables, JSON and plots.

A workload is a list of `Case`s (one table each). A case maps peer names to builders; a
builder returns `(step, result)`: `step()` runs one unit of work (a training step, one
gradient, one Hessian) and returns what it computed, `result(out)` turns that into NumPy
arrays for the agreement check. A builder raises `Skip` when the peer does not apply.

Order of events for a case: build every peer, call each `step` once and check that all the
results agree with the truth peer (numpy-hand: hand-derived maths) — stop the case loudly if
not; pick for each peer how many calls make one sample (>= `min_time`, so timer resolution
and loop overhead do not count); then `repeats` rounds, each timing one sample of every peer
in an order rotated by one every round. `gc.collect()` runs before each sample, outside the
timed region; the collector stays enabled inside it, as it is when a user runs the code.
"""

from __future__ import annotations

import datetime
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograd_mini.serialization import write_atomic, write_figure

from . import peers as peers_mod

Builder = Callable[[], tuple[Callable[[], Any], Callable[[Any], dict]]]


class Skip(Exception):
    """A peer does not take part in this case (not installed, not applicable, too slow)."""


class AgreementError(RuntimeError):
    """The peers of a case did not compute the same result."""


class PeerError(RuntimeError):
    """A peer failed while running (reported in its row; it does not stop the case)."""


@dataclass
class Sample:
    """One timed run in a fresh process: seconds, extra metrics, and what it computed."""

    seconds: float
    metrics: dict[str, float]
    result: dict[str, Any]


@dataclass
class Case:
    """One table: a workload at one size, its peers, and how their results are compared."""

    workload: str
    label: str
    title: str
    reference: str
    peers: dict[str, Builder]
    targets: dict[str, float] = field(default_factory=dict)  # metric -> max ratio to reference
    rtol: float = 1e-9
    atol: float = 0.0
    tolerances: dict[str, tuple[float, float]] = field(default_factory=dict)  # per-peer override
    ops_per_call: int | None = None
    not_applicable: dict[str, str] = field(default_factory=dict)
    metrics: Callable[[str, dict], dict[str, float]] | None = None
    sampler: Callable[[str], Sample] | None = None  # set: every sample is a fresh process
    metric_units: dict[str, str] = field(default_factory=dict)
    # Peers whose single call lasts seconds: one call per sample, at most this many samples.
    max_samples: dict[str, int] = field(default_factory=dict)
    truth: str = "numpy-hand"


@dataclass
class PeerRun:
    """Raw measurements of one peer in one case."""

    times: list[float] = field(default_factory=list)  # seconds per call, one per sample
    inner: int = 1  # calls per sample
    metrics: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class CaseResult:
    """What running a case produced: runs per peer, skip notes, errors, failure."""

    case: Case
    runs: dict[str, PeerRun] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    base: str | None = None  # the peer ratios are relative to

    def median(self, peer: str, metric: str = "time") -> float:
        """Median of a peer's samples of `metric` ("time" or one of the case's metrics)."""
        run = self.runs[peer]
        values = run.times if metric == "time" else run.metrics.get(metric, [])
        return statistics.median(values) if values else math.nan

    def ratio(self, peer: str, metric: str = "time") -> float:
        """Median of `peer` over the median of the base peer."""
        if self.base not in self.runs or peer not in self.runs:
            return math.nan
        den = self.median(self.base, metric)
        return self.median(peer, metric) / den if den > 0 else math.nan

    def ratio_of_mins(self, peer: str) -> float:
        """Fastest sample of `peer` over the fastest of the base peer.

        On a shared machine other processes only ever add time, so this ratio is the one
        least disturbed by them; the targets are judged on the ratio of medians.
        """
        if self.base not in self.runs or peer not in self.runs:
            return math.nan
        den = min(self.runs[self.base].times)
        return min(self.runs[peer].times) / den if den > 0 else math.nan

    def verdicts(self) -> list[tuple[str, float, float, str]]:
        """(metric, autograd_mini's ratio, target, "met" | "NOT met" | "not measured")."""
        out = []
        for metric, target in self.case.targets.items():
            r = self.ratio("autograd_mini", metric)
            if self.base != self.case.reference or not math.isfinite(r):
                status = "not measured"
            else:
                status = "met" if r <= target else "NOT met"
            out.append((metric, r, target, status))
        return out


# --------------------------------------------------------------------------- running


def _close(a: Any, b: Any, rtol: float, atol: float) -> tuple[bool, str]:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False, f"shape {a.shape} vs {b.shape}"
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False, "non-finite values"
    if a.size == 0:
        return True, ""
    err = float(np.max(np.abs(a - b)))
    scale = float(np.max(np.abs(b)))
    allowed = atol + rtol * scale
    # Norm-wise: float32 sums in different orders differ elementwise where values cancel.
    return err <= allowed, f"max |diff| {err:.3g} > allowed {allowed:.3g} (max |value| {scale:.3g})"


def check_agreement(case: Case, results: dict[str, dict]) -> None:
    """Raise AgreementError unless every peer's result matches the truth peer's."""
    if not results:
        return
    truth = case.truth if case.truth in results else next(iter(results))
    ref = results[truth]
    problems = []
    for name, res in results.items():
        if name == truth:
            continue
        if set(res) != set(ref):
            problems.append(f"{name}: result keys {sorted(res)} differ from {sorted(ref)}")
            continue
        rtol, atol = case.tolerances.get(name, (case.rtol, case.atol))
        for key in ref:
            ok, why = _close(res[key], ref[key], rtol, atol)
            if not ok:
                problems.append(f"{name} vs {truth}: '{key}' {why}")
    if problems:
        raise AgreementError(f"{case.label}: the peers disagree — " + "; ".join(problems))


def _calibrate(step: Callable[[], Any], min_time: float, max_inner: int = 100_000) -> int:
    """How many calls make one sample last at least `min_time` seconds."""
    if min_time <= 0:
        return 1
    inner = 1
    while True:
        gc.collect()
        t0 = time.perf_counter()
        for _ in range(inner):
            step()
        gc.collect()  # as _time does
        dt = time.perf_counter() - t0
        if dt >= min_time or inner >= max_inner:
            return inner
        # Aim 20 % above the goal so noise does not leave samples just short of it.
        guess = math.ceil(inner * 1.2 * min_time / max(dt, 1e-9))
        inner = min(max_inner, max(inner * 2, guess) if dt < min_time / 10 else guess)


def _time(step: Callable[[], Any], inner: int) -> float:
    gc.collect()  # earlier garbage: outside the timed region
    t0 = time.perf_counter()
    for _ in range(inner):
        step()
    # What these calls left for the cyclic collector (micrograd's graphs are cycles, freed
    # only by it) is theirs to pay: a user's loop pays it too, at the next collections. Other
    # peers' graphs are freed by reference counting inside the loop. With the heap frozen this
    # collection walks only what the sample made (~1 µs when it made no cycles).
    gc.collect()
    return (time.perf_counter() - t0) / inner


def _wanted(case: Case, only: set[str] | None) -> list[str]:
    names = [p for p in peers_mod.PEERS if p in case.peers]
    names += [p for p in case.peers if p not in names]
    if only is not None:
        names = [p for p in names if p in only]
    return names


def _time_round_robin(
    case: Case, res: CaseResult, results: dict, steps: dict, repeats: int, min_time: float
) -> None:
    """Take `repeats` samples of every peer in `results`, the order rotating each round."""
    active = list(results)
    for name in active:
        run = res.runs.setdefault(name, PeerRun())
        if case.metrics is not None:  # the metrics came from the check run; keep one value
            run.metrics = {k: v[:1] for k, v in run.metrics.items()}
        if case.sampler is None and name not in case.max_samples:
            run.inner = _calibrate(steps[name][0], min_time)
    for r in range(repeats):
        k = r % len(active) if active else 0
        for name in active[k:] + active[:k]:
            run = res.runs[name]
            if len(run.times) >= case.max_samples.get(name, repeats):
                continue
            if case.sampler is not None:
                try:
                    s = case.sampler(name)
                except Exception as e:  # reported in the table
                    res.errors[name] = f"{type(e).__name__}: {e}"
                    continue
                run.times.append(s.seconds)
                for key, v in s.metrics.items():
                    run.metrics.setdefault(key, []).append(v)
            else:
                run.times.append(_time(steps[name][0], run.inner))


def run_case(
    case: Case,
    only: set[str] | None = None,
    repeats: int = 7,
    min_time: float = 0.02,
    log: Callable[[str], None] = print,
) -> CaseResult:
    """Check agreement, then time every peer of `case` round-robin."""
    res = CaseResult(case)
    for name, why in case.not_applicable.items():
        if only is None or name in only:
            res.skipped[name] = why
    steps: dict[str, tuple[Callable[[], Any], Callable[[Any], dict]]] = {}
    results: dict[str, dict] = {}
    for name in _wanted(case, only):
        why = peers_mod.missing(name)
        if why is not None:
            res.skipped[name] = why
            continue
        try:
            if case.sampler is not None:
                first = case.sampler(name)
                results[name] = first.result
            else:
                step, result = case.peers[name]()
                results[name] = result(step())
                steps[name] = (step, result)
        except Skip as e:
            res.skipped[name] = str(e)
        except Exception as e:  # a broken peer is reported in its row, not fatal
            if name == "autograd_mini":
                res.failure = f"autograd_mini raised {type(e).__name__}: {e}"
                log(f"  FAILED: {res.failure}")
                return res
            res.errors[name] = f"{type(e).__name__}: {e}"
    if case.metrics is not None:
        for name, r in results.items():
            for k, v in case.metrics(name, r).items():
                res.runs.setdefault(name, PeerRun()).metrics.setdefault(k, []).append(v)
    try:
        check_agreement(case, results)
    except AgreementError as e:
        res.failure = str(e)
        log(f"  FAILED: {e}")
        return res

    # Everything alive now (every peer's library, the models just built) goes to the
    # collector's permanent generation: a step's collections then walk what the step made,
    # not torch's or jax's objects, which would slow a peer that makes reference cycles
    # (micrograd's W1 step took 1.5x longer with the other peers loaded than without).
    gc.collect()
    gc.freeze()
    try:
        _time_round_robin(case, res, results, steps, repeats, min_time)
    finally:
        gc.unfreeze()
    for name in list(res.runs):
        if not res.runs[name].times:
            del res.runs[name]
    if case.reference in res.runs:
        res.base = case.reference
    elif case.truth in res.runs:
        res.base = case.truth
    elif res.runs:
        res.base = next(iter(res.runs))
    return res


# --------------------------------------------------------------------------- reporting


def fmt_time(seconds: float) -> str:
    """A duration with a unit that keeps 3-4 significant digits."""
    if not math.isfinite(seconds):
        return "-"
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} µs"


def fmt_ratio(r: float) -> str:
    """A ratio with three decimals, or three significant digits when it is tiny."""
    if not math.isfinite(r):
        return "-"
    return f"{r:.3f}x" if r >= 0.01 else f"{r:.3g}x"


def _fmt_num(v: float) -> str:
    if not math.isfinite(v):
        return "-"
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def _metric_names(res: CaseResult) -> list[str]:
    names: list[str] = []
    for run in res.runs.values():
        for k in run.metrics:
            if k not in names:
                names.append(k)
    return names


def table_rows(res: CaseResult) -> tuple[list[str], list[list[str]]]:
    """Column headers and text rows of a case's table."""
    case = res.case
    metrics = _metric_names(res)
    head = ["peer", "median", "min", "max", f"ratio (vs {res.base})", "ratio of mins"]
    if case.ops_per_call:
        head.append("µs/op")
    for m in metrics:
        unit = case.metric_units.get(m, "")
        head.append(f"{m}{' (' + unit + ')' if unit else ''}")
        if m in case.targets:
            head.append(f"{m} ratio")
    rows = []
    for name, run in res.runs.items():
        med = res.median(name)
        row = [
            name,
            fmt_time(med),
            fmt_time(min(run.times)),
            fmt_time(max(run.times)),
            fmt_ratio(res.ratio(name)),
            fmt_ratio(res.ratio_of_mins(name)),
        ]
        if case.ops_per_call:
            row.append(f"{med / case.ops_per_call * 1e6:.2f}")
        for m in metrics:
            row.append(_fmt_num(res.median(name, m)) if m in run.metrics else "-")
            if m in case.targets:
                row.append(fmt_ratio(res.ratio(name, m)) if m in run.metrics else "-")
        rows.append(row)
    return head, rows


def format_case(res: CaseResult) -> str:
    """A case's results as an aligned text table with notes and target verdicts."""
    case = res.case
    lines = [f"{case.label}: {case.title}   [reference: {case.reference}]"]
    if res.failure:
        lines.append(f"  FAILED: {res.failure}")
    if res.runs:
        head, rows = table_rows(res)
        widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]

        def fmt(r: list[str]) -> str:
            cells = (
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))
            )
            return "  " + "  ".join(cells)

        lines.append(fmt(head))
        lines.extend(fmt(r) for r in rows)
        inner = ", ".join(f"{n} {r.inner}" for n, r in res.runs.items() if r.inner > 1)
        if inner:
            lines.append(f"  calls per sample: {inner}")
        most = max(len(r.times) for r in res.runs.values())
        fewer = ", ".join(f"{n} {len(r.times)}" for n, r in res.runs.items() if len(r.times) < most)
        if fewer:
            lines.append(f"  fewer samples (of {most}): {fewer}")
    if res.base is not None and res.base != case.reference:
        lines.append(f"  note: reference {case.reference} did not run; ratios are vs {res.base}")
    for metric, r, target, status in res.verdicts():
        what = "time" if metric == "time" else metric
        lines.append(
            f"  target: autograd_mini {what} <= {target:g}x {case.reference}: {status} ({r:.3f}x)"
        )
    for name, why in res.skipped.items():
        lines.append(f"  skipped {name}: {why}")
    for name, why in res.errors.items():
        lines.append(f"  ERROR {name}: {why}")
    return "\n".join(lines)


def format_summary(results: list[CaseResult]) -> str:
    """One line per case: autograd_mini's ratio against each target."""
    lines = ["summary (autograd_mini / reference: ratio of medians; of mins for time):"]
    for res in results:
        if res.failure:
            lines.append(f"  {res.case.label:<14} FAILED")
            continue
        for metric, r, target, status in res.verdicts():
            tag = "" if metric == "time" else f" [{metric}]"
            mins = fmt_ratio(res.ratio_of_mins("autograd_mini")) if metric == "time" else ""
            lines.append(
                f"  {res.case.label + tag:<22} {r:8.3f}x vs {res.case.reference:<12}"
                f" target <= {target:<5g} {status:<12} {mins}"
            )
    return "\n".join(lines)


def markdown(results: list[CaseResult], meta: dict) -> str:
    """Every case's table as Markdown, headed by machine, date, versions and threads."""
    out = [
        f"- date: {meta['date']}, autograd_mini commit {meta.get('git') or 'unknown'}",
        f"- machine: {meta['machine']['cpu']} ({meta['machine']['cpus']} CPUs), "
        f"{meta['machine']['platform']}",
        f"- load average before / after: {meta['load_before']} / {meta['load_after']}",
        f"- threads: {meta['threads']['threads']} "
        "(env, torch.set_num_threads, XLA flags, CPU affinity)",
        f"- repeats: {meta['repeats']}, min sample time: {meta['min_time']} s",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()),
        "",
    ]
    for res in results:
        case = res.case
        out.append(f"### {case.label}: {case.title}")
        out.append("")
        out.append(f"Reference: {case.reference}.")
        if res.failure:
            out.append(f"**FAILED**: {res.failure}")
        if res.runs:
            head, rows = table_rows(res)
            out.append("")
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "|".join("---" for _ in head) + "|")
            out.extend("| " + " | ".join(r) + " |" for r in rows)
            out.append("")
        for metric, r, target, status in res.verdicts():
            what = "time" if metric == "time" else metric
            out.append(
                f"- target: autograd_mini {what} <= {target:g}x {case.reference}: "
                f"**{status}** ({r:.3f}x)"
            )
        for name, why in res.skipped.items():
            out.append(f"- skipped {name}: {why}")
        for name, why in res.errors.items():
            out.append(f"- error {name}: {why}")
        out.append("")
    return "\n".join(out)


def machine() -> dict[str, Any]:
    """CPU model, CPU count, OS and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (other processes compete for the CPUs)."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def to_json(results: list[CaseResult], meta: dict) -> dict:
    """Raw times and everything needed to read them."""
    cases = []
    for res in results:
        case = res.case
        cases.append(
            {
                "workload": case.workload,
                "case": case.label,
                "title": case.title,
                "reference": case.reference,
                "ratio_base": res.base,
                "targets": case.targets,
                "ops_per_call": case.ops_per_call,
                "failure": res.failure,
                "skipped": res.skipped,
                "errors": res.errors,
                "verdicts": [
                    {"metric": m, "ratio": r, "target": t, "status": st}
                    for m, r, t, st in res.verdicts()
                ],
                "peers": {
                    name: {
                        "seconds_per_call": run.times,
                        "calls_per_sample": run.inner,
                        "median": res.median(name),
                        "min": min(run.times),
                        "max": max(run.times),
                        "ratio": res.ratio(name),
                        "ratio_of_mins": res.ratio_of_mins(name),
                        "metrics": run.metrics,
                    }
                    for name, run in res.runs.items()
                },
            }
        )
    return {**meta, "cases": cases}


def write_json(path: str, data: dict) -> None:
    """Write `data` as JSON, atomically (temp file + rename)."""
    text = json.dumps(data, indent=1, allow_nan=True) + "\n"
    write_atomic(path, lambda f: f.write(text.encode("utf-8")), "--json")


def write_text(path: str, text: str) -> None:
    """Write Markdown text atomically."""
    write_atomic(path, lambda f: f.write(text.encode("utf-8")), "--markdown")


def _plain_log_ticks(ax: Any) -> None:
    """Tick labels as plain numbers (0.1, 1, 2, 5); 2 and 5 only on an axis under 2 decades."""
    from matplotlib.ticker import FuncFormatter

    def major(v: float, _pos: int) -> str:
        return f"{v:g}"

    def minor(v: float, _pos: int) -> str:
        lo, hi = ax.get_xlim()
        if v <= 0 or lo <= 0 or hi / lo >= 100:
            return ""  # a wide axis: the decades alone, or the labels run into each other
        mantissa = v / 10 ** math.floor(math.log10(v))
        return f"{v:g}" if any(abs(mantissa - m) < 1e-6 for m in (2, 5)) else ""

    ax.xaxis.set_major_formatter(FuncFormatter(major))
    ax.xaxis.set_minor_formatter(FuncFormatter(minor))


def write_plot(path: str, results: list[CaseResult]) -> None:
    """A bar chart per case of each peer's median time relative to the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in results if r.runs]
    if not shown:
        raise ValueError("--plot: no case produced timings to plot")
    cols = 3 if len(shown) > 4 else max(1, len(shown))
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.2 * rows), squeeze=False)
    for ax, res in zip(axes.flat, shown):
        names = list(res.runs)
        ratios = [res.ratio(n) for n in names]
        colors = ["tab:red" if n == "autograd_mini" else "tab:gray" for n in names]
        ax.barh(names, ratios, color=colors)
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=0.8)
        target = res.case.targets.get("time")
        if target is not None:
            ax.axvline(target, color="tab:red", linestyle="--", linewidth=0.8)
        ax.invert_yaxis()
        _plain_log_ticks(ax)
        ax.set_title(f"{res.case.label} (vs {res.base})", fontsize=9)
        ax.tick_params(which="both", labelsize=8)
    for ax in list(axes.flat)[len(shown) :]:
        ax.set_visible(False)
    fig.suptitle("median time relative to the reference (log scale; dashed: target)")
    fig.tight_layout()

    write_figure(fig, path, "--plot", dpi=110)
    plt.close(fig)


def git_revision() -> str | None:
    """The checkout's commit (with "+dirty" when autograd_mini/ has local changes), if any.

    $AUTOGRAD_MINI_BENCH_REVISION names it when the suite runs from an export (git archive).
    """
    import subprocess

    if os.environ.get("AUTOGRAD_MINI_BENCH_REVISION"):
        return os.environ["AUTOGRAD_MINI_BENCH_REVISION"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        )
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "autograd_mini"],
            cwd=root,
            capture_output=True,
            text=True,
        )
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return None


def meta_info(repeats: int, min_time: float, load_before: str) -> dict:
    """Date, machine, versions and thread settings of a run."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": git_revision(),
        "machine": machine(),
        "load_before": load_before,
        "load_after": load_average(),
        "versions": peers_mod.versions(),
        "threads": peers_mod.thread_report(),
        "repeats": repeats,
        "min_time": min_time,
    }
