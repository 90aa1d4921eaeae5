"""Smoke test of the benchmark suite: every workload, tiny sizes, through the real harness.

Only autograd_mini and numpy-hand run (no peer needs to be installed), once each, with the
agreement check that the full suite does. Timing never decides an outcome here; what is
asserted is that each workload builds, agrees with the hand-written maths, and reports.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import math
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import harness, peers  # noqa: E402
from benchmarks.run import WORKLOADS  # noqa: E402

ONLY = {"autograd_mini", "numpy-hand"}


def _cases(wid: str) -> list[harness.Case]:
    module, fn = WORKLOADS[wid]
    return getattr(importlib.import_module(module), fn)(tiny=True)


@pytest.mark.parametrize("wid", list(WORKLOADS))
def test_workload_runs_and_agrees_at_tiny_size(wid):
    cases = _cases(wid)
    assert cases, f"{wid} produced no cases"
    for case in cases:
        assert case.workload == wid
        res = harness.run_case(case, ONLY, repeats=1, min_time=0.0, log=lambda s: None)
        assert res.failure is None, res.failure
        assert not res.errors, res.errors
        assert "numpy-hand" in res.runs
        if "autograd_mini" not in res.runs:
            # Only W5 may lack its autograd_mini row, and only until ag.hessian exists.
            import autograd_mini as ag

            assert wid == "W5" and not hasattr(ag, "hessian"), res.skipped
            assert "ag.hessian" in res.skipped["autograd_mini"]
        for name, run in res.runs.items():
            assert len(run.times) == 1, name
            assert run.times[0] > 0 and math.isfinite(run.times[0]), name
        assert res.base in res.runs
        text = harness.format_case(res)
        assert case.label in text and "numpy-hand" in text


def test_w6_reports_the_error_against_the_analytic_gradient():
    case = _cases("W6")[0]
    res = harness.run_case(case, ONLY, repeats=1, min_time=0.0, log=lambda s: None)
    # numpy-hand is the analytic gradient itself and autograd_mini must be exact to rounding.
    assert res.runs["numpy-hand"].metrics["err"] == [0.0]
    assert res.runs["autograd_mini"].metrics["err"][0] < 1e-13


def test_w7_child_measures_time_and_memory_in_a_fresh_process():
    case = _cases("W7")[0]
    s = case.sampler("autograd_mini")
    assert s.seconds > 0
    assert s.metrics["mem_mb"] >= 0
    # 100 x (y * 1.00001; y + 1e-5) from 0.5: dy/dx = 1.00001 ** 100.
    assert s.result["grad"] == pytest.approx(1.00001**100, rel=1e-12)


def _builder(value):
    def build():
        return (lambda: value), (lambda out: {"loss": out, "grad": np.array([1.0, out])})

    return build


def test_disagreeing_peers_fail_the_case_loudly():
    case = harness.Case(
        workload="T",
        label="T",
        title="test",
        reference="numpy-hand",
        peers={"numpy-hand": _builder(1.0), "autograd_mini": _builder(1.5)},
        targets={"time": 1.0},
    )
    res = harness.run_case(case, None, repeats=2, min_time=0.0, log=lambda s: None)
    assert res.failure is not None
    assert "disagree" in res.failure and "autograd_mini" in res.failure and "'loss'" in res.failure
    assert not res.runs  # nothing is timed once the results disagree
    assert "FAILED" in harness.format_case(res)


def test_agreement_tolerance_is_normwise_and_per_peer():
    case = harness.Case(
        workload="T", label="T", title="t", reference="numpy-hand", peers={}, rtol=1e-6
    )
    ref = {"g": np.array([1e3, 1e-3])}
    harness.check_agreement(case, {"numpy-hand": ref, "torch": {"g": np.array([1e3, 1.5e-3])}})
    with pytest.raises(harness.AgreementError, match="torch"):
        harness.check_agreement(case, {"numpy-hand": ref, "torch": {"g": np.array([1e3 + 1, 0])}})
    with pytest.raises(harness.AgreementError, match="shape"):
        harness.check_agreement(case, {"numpy-hand": ref, "torch": {"g": np.ones(3)}})
    with pytest.raises(harness.AgreementError, match="non-finite"):
        harness.check_agreement(case, {"numpy-hand": ref, "torch": {"g": np.array([np.nan, 0])}})
    case.tolerances["torch"] = (1e-2, 0.0)
    harness.check_agreement(case, {"numpy-hand": ref, "torch": {"g": np.array([1e3 + 1, 0])}})


def test_a_failing_peer_is_reported_without_stopping_the_case():
    def broken():
        raise ImportError("peer is broken")

    case = harness.Case(
        workload="T",
        label="T",
        title="t",
        reference="numpy-hand",
        peers={"numpy-hand": _builder(1.0), "torch": broken},
    )
    if peers.missing("torch"):
        pytest.skip("torch not installed: the harness skips it before building")
    res = harness.run_case(case, None, repeats=1, min_time=0.0, log=lambda s: None)
    assert res.failure is None
    assert "peer is broken" in res.errors["torch"]
    assert list(res.runs) == ["numpy-hand"]


def test_ratios_and_verdicts_from_known_times():
    case = harness.Case(
        workload="T",
        label="T",
        title="t",
        reference="torch",
        peers={},
        targets={"time": 0.5, "mem_mb": 1.0},
    )
    res = harness.CaseResult(case, base="torch")
    res.runs["torch"] = harness.PeerRun(times=[4.0, 2.0, 3.0], metrics={"mem_mb": [10.0]})
    res.runs["autograd_mini"] = harness.PeerRun(times=[1.0, 9.0, 1.5], metrics={"mem_mb": [12.0]})
    assert res.median("torch") == 3.0
    assert res.ratio("autograd_mini") == pytest.approx(0.5)
    assert res.ratio_of_mins("autograd_mini") == pytest.approx(0.5)
    assert res.verdicts() == [
        ("time", pytest.approx(0.5), 0.5, "met"),
        ("mem_mb", pytest.approx(1.2), 1.0, "NOT met"),
    ]
    # The reference did not run, so ratios are against another peer: no verdict.
    res.runs["numpy-hand"] = res.runs.pop("torch")
    res.base = "numpy-hand"
    assert res.ratio("autograd_mini") == pytest.approx(0.5)
    assert {v[3] for v in res.verdicts()} == {"not measured"}


def test_thread_env_pins_every_pool():
    env = peers.thread_env(1)
    for var in peers.THREAD_VARS:
        assert env[var] == "1"
    assert "--xla_cpu_multi_thread_eigen=false" in env["XLA_FLAGS"]
    assert peers.thread_env(2)["OMP_NUM_THREADS"] == "2"
    assert "multi_thread_eigen" not in peers.thread_env(2)["XLA_FLAGS"]


def test_bench_command_end_to_end(tmp_path):
    from autograd_mini.bench import main

    out = tmp_path / "out.json"
    md = tmp_path / "out.md"
    argv = ["--workloads", "W3,W6", "--tiny", "--repeats", "2"]
    argv += ["--peers", "autograd_mini,numpy-hand"]
    assert main([*argv, "--json", str(out), "--markdown", str(md)]) == 0
    data = json.loads(out.read_text())
    assert data["threads"]["threads"] == 1
    assert data["threads"]["env"]["OMP_NUM_THREADS"] == "1"
    assert "numpy" in data["versions"] and "autograd_mini" in data["versions"]
    assert data["machine"]["cpus"] >= 1 and data["date"]
    assert [c["case"] for c in data["cases"]] == ["W3", "W6 n=10", "W6 n=30"]
    for c in data["cases"]:
        assert c["failure"] is None
        assert set(c["peers"]) == {"autograd_mini", "numpy-hand"}
        for p in c["peers"].values():
            assert len(p["seconds_per_call"]) == 2
            assert p["median"] == pytest.approx(float(np.median(p["seconds_per_call"])))
    assert "| autograd_mini |" in md.read_text()


def test_plot_is_a_png_with_plain_tick_labels(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    res = harness.run_case(_cases("W3")[0], ONLY, repeats=1, min_time=0.0, log=lambda s: None)
    path = tmp_path / "chart.png"
    harness.write_plot(str(path), [res])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Ticks read as numbers: 2 and 5 between the decades only on a narrow axis.
    fig, ax = plt.subplots()
    ax.set_xscale("log")
    harness._plain_log_ticks(ax)
    major, minor = ax.xaxis.get_major_formatter(), ax.xaxis.get_minor_formatter()
    ax.set_xlim(0.5, 30)
    assert [major(v, 0) for v in (0.01, 1, 100)] == ["0.01", "1", "100"]
    assert [minor(v, 0) for v in (0.5, 2, 3, 20)] == ["0.5", "2", "", "20"]
    ax.set_xlim(1e-4, 1)
    assert [minor(v, 0) for v in (0.002, 0.5)] == ["", ""]
    plt.close(fig)


def test_bench_command_rejects_bad_arguments(capfd):
    from autograd_mini.bench import main

    assert main(["--workloads", "W9"]) == 2
    assert "unknown workload W9" in capfd.readouterr().err
    assert main(["--repeats", "0"]) == 2
    assert main(["--peers", "tensorflow"]) == 2


def test_bench_command_checks_its_output_paths_before_running(tmp_path, capfd):
    # A path that cannot be written is found before the run, not after minutes of it.
    from autograd_mini.bench import main

    argv = ["--workloads", "W3", "--tiny", "--repeats", "1", "--peers", "autograd_mini"]
    missing = str(tmp_path / "missing" / "x.json")
    assert main([*argv, "--json", missing]) == 2
    out = capfd.readouterr().out
    assert "--json" in out and "does not exist" in out and "running W3" not in out
    assert main([*argv, "--markdown", str(tmp_path)]) == 2
    assert "is a directory" in capfd.readouterr().out
    if importlib.util.find_spec("matplotlib") is not None:
        assert main([*argv, "--plot", str(tmp_path / "chart.foo")]) == 2
        assert "cannot write .foo files" in capfd.readouterr().out


def test_bench_command_reports_a_wrong_suite_path(tmp_path, monkeypatch, capfd):
    # A set AUTOGRAD_MINI_BENCHMARKS that points nowhere is reported, not silently replaced
    # by the checkout's own suite.
    from autograd_mini import bench

    monkeypatch.setenv(bench.ENV_VAR, str(tmp_path / "missing"))
    assert bench.find_suite() is None
    assert bench.main(["--list"]) == 2
    assert "missing" in capfd.readouterr().err
    monkeypatch.setenv(bench.ENV_VAR, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    assert bench.find_suite().name == "run.py"


class _Cyclic:
    """A node that refers to itself, as micrograd's closures do: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_a_sample_pays_for_the_cycles_its_calls_leave():
    # Freed by the collector inside the timed region, not by the next sample's collection.
    made: list = []

    def step():
        made.append(weakref.ref(_Cyclic()))

    gc.collect()
    harness._time(step, 3)
    assert len(made) == 3 and all(r() is None for r in made)
    made.clear()
    harness._calibrate(step, min_time=1e-9)
    assert made and all(r() is None for r in made)


def test_w7_times_the_teardown_of_a_cyclic_chain():
    from benchmarks import w7_long_chain

    made: list = []

    def chain(n: int) -> tuple[float, float]:
        made.append(weakref.ref(_Cyclic()))
        return 0.0, 1.0

    out = w7_long_chain._measure(chain, 10)
    assert out["grad"] == 1.0 and all(r() is None for r in made)
