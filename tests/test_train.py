"""Tests for `autograd-mini train`: a tiny run in a subprocess, resume, errors, plot, accuracy.

Most runs call ``autograd_mini.train.main(argv)`` in-process (no interpreter start-up); the
subprocess tests check the real command line: exit codes, one-line errors, no tracebacks.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import autograd_mini as ag
from autograd_mini import train

ACC_LINE = re.compile(r"^test accuracy: (0\.\d{4}|1\.0000)$", re.M)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m autograd_mini train ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "autograd_mini", "train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_main(capsys, *args: str) -> tuple[int, str, str]:  # noqa: ANN001
    """train.main(args) in-process: (exit code, stdout, stderr)."""
    code = train.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *fragments: str) -> None:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("autograd-mini train: error:")
    for f in fragments:
        assert f in lines[0], lines[0]


# --------------------------------------------------------------------------- the command


def test_tiny_run_in_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "ck.npz"
    res = run_cli("--epochs", "1", "--hidden", "16", "--out", str(out), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    m = ACC_LINE.search(res.stdout)
    assert m is not None, res.stdout
    assert float(m.group(1)) > 0.3  # one epoch of a 16-unit MLP is far above chance (0.1)
    assert "epoch 1/1" in res.stderr and "Traceback" not in res.stderr
    ckpt = ag.load(out)
    assert ckpt["format"] == "autograd_mini.train" and ckpt["epoch"] == 1
    assert ckpt["args"] == {
        "optimizer": "adam",
        "lr": 1e-3,
        "batch_size": 32,
        "epochs": 1,
        "hidden": [16],
        "seed": 0,
    }
    shapes = {k: v.shape for k, v in ckpt["model"].items()}
    assert shapes == {"0.weight": (16, 64), "0.bias": (16,), "2.weight": (10, 16), "2.bias": (10,)}
    assert set(ckpt["optimizer"]) == {"state", "param_groups"}
    assert len(ckpt["history"]["loss"]) == 1
    assert f"{ckpt['history']['test_accuracy'][0]:.4f}" == m.group(1)
    # the model in the checkpoint is the model that was scored
    model = ag.nn.MLP([64, 16, 10])
    model.load_state_dict(ckpt["model"])
    X_train, y_train, X_test, y_test, _ = train.digits_split()
    assert f"{train.accuracy(model, X_test, y_test):.4f}" == m.group(1)


def test_corrupt_checkpoint_gives_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip file" * 10)
    res = run_cli("--resume", str(bad), "--epochs", "1", cwd=tmp_path)
    assert res.returncode == 1
    assert_one_line_error(res.stderr, "--resume", "bad.npz")
    assert res.stdout == ""


def test_bad_flag_gives_a_one_line_error_in_a_subprocess(tmp_path: Path) -> None:
    res = run_cli("--lr", "fast", cwd=tmp_path)
    assert res.returncode == 2
    assert_one_line_error(res.stderr, "--lr", "'fast'")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--lr", "-1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--batch-size", "0"], "--batch-size"),
        (["--epochs", "1.5"], "--epochs"),
        (["--hidden", "128,0"], "--hidden"),
        (["--hidden", ""], "--hidden"),
        (["--seed", "-3"], "--seed"),
        (["--lr", "0"], "--lr"),
        (["--lr", "inf"], "--lr"),
        (["--seed", "-1"], "--seed"),
        (["--seed", "abc"], "--seed"),
        (["--batch-size", "-1"], "--batch-size"),
        (["--optimizer", "lbfgs"], "--optimizer"),
        (["--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["extra"], "unrecognized arguments: extra"),
    ],
)
def test_bad_flags(capsys, args: list[str], fragment: str) -> None:  # noqa: ANN001
    code, out, err = run_main(capsys, *args)
    assert code == 2 and out == ""
    assert_one_line_error(err, fragment)


@pytest.mark.skipif(sys.platform != "linux", reason="caps the address space with RLIMIT_AS")
def test_out_of_memory_is_one_line_error(tmp_path: Path) -> None:
    # 10^8 hidden units need a 48 GiB weight matrix: NumPy's MemoryError, reported plainly.
    # The child's address space is capped at 4 GiB, so the allocation fails on any host,
    # whatever its RAM or overcommit policy, instead of succeeding or waking the OOM killer.
    def cap_memory() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    args = ["--hidden", "100000000", "--epochs", "1", "--out", str(tmp_path / "c.npz")]
    proc = subprocess.run(
        [sys.executable, "-m", "autograd_mini", "train", *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap_memory,  # noqa: PLW1509 (no threads are started before the exec)
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc.stderr, "out of memory", "--hidden")
    assert not (tmp_path / "c.npz").exists()


def test_commands_reject_a_negative_seed_and_bare_usage_goes_to_stderr(capsys) -> None:  # noqa: ANN001
    from autograd_mini import cli
    from autograd_mini.gradcheck import main as gradcheck_main

    with pytest.raises(SystemExit) as info:
        gradcheck_main(["--seed", "-5"])
    assert info.value.code == 2
    assert "--seed: expected a non-negative integer, got '-5'" in capsys.readouterr().err
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage: autograd-mini" in err
    assert cli.main(["--help"]) == 0
    assert "usage: autograd-mini" in capsys.readouterr().out


def test_help(capsys) -> None:  # noqa: ANN001
    code, out, _ = run_main(capsys, "--help")
    assert code == 0
    for flag in ("--optimizer", "--lr", "--batch-size", "--epochs", "--hidden", "--seed"):
        assert flag in out
    assert "--out" in out and "--resume" in out and "--plot" in out


def test_unwritable_out_is_reported_before_training(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    code, out, err = run_main(capsys, "--out", str(tmp_path / "missing" / "ck.npz"))
    assert code == 1 and out == ""
    assert_one_line_error(err, "--out", "does not exist")
    code, _, err = run_main(capsys, "--out", str(tmp_path))
    assert code == 1
    assert_one_line_error(err, "is a directory")


# --------------------------------------------------------------------------- resume


def _params(path: Path) -> dict[str, np.ndarray]:
    return {k: v.data for k, v in ag.load(path)["model"].items()}


def test_resume_continues_exactly(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    common = ["--hidden", "24", "--batch-size", "64", "--seed", "3"]
    straight = tmp_path / "straight.npz"
    code, out, _ = run_main(capsys, *common, "--epochs", "3", "--out", str(straight))
    assert code == 0
    acc_straight = ACC_LINE.search(out).group(1)

    part = tmp_path / "part.npz"
    code, _, _ = run_main(capsys, *common, "--epochs", "1", "--out", str(part))
    assert code == 0 and ag.load(part)["epoch"] == 1
    # the settings come from the checkpoint; --out defaults to the resumed file
    code, out, err = run_main(capsys, "--resume", str(part), "--epochs", "3")
    assert code == 0, err
    assert "resuming" in err and "epoch 2/3" in err and "epoch 1/3" not in err
    assert ACC_LINE.search(out).group(1) == acc_straight
    resumed = ag.load(part)
    assert resumed["epoch"] == 3 and resumed["args"]["hidden"] == [24]
    # bit for bit the same as the uninterrupted run: parameters, optimizer state, history
    a, b = _params(straight), _params(part)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    sa, sb = ag.load(straight), resumed
    assert sa["history"] == sb["history"]
    for i, st in sa["optimizer"]["state"].items():
        for name, value in st.items():
            np.testing.assert_array_equal(
                np.asarray(value), np.asarray(sb["optimizer"]["state"][i][name])
            )


def test_resume_already_finished_only_evaluates(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    ck = tmp_path / "ck.npz"
    run_main(capsys, "--epochs", "1", "--hidden", "8", "--out", str(ck))
    before = ck.read_bytes()
    code, out, err = run_main(capsys, "--resume", str(ck), "--epochs", "1")
    assert code == 0 and ACC_LINE.search(out)
    assert "nothing to train" in err
    assert ck.read_bytes() == before


def test_resume_with_a_new_lr_and_conflicting_flags(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    ck = tmp_path / "ck.npz"
    run_main(capsys, "--epochs", "1", "--hidden", "8", "--optimizer", "sgd", "--out", str(ck))
    assert ag.load(ck)["optimizer"]["param_groups"][0]["lr"] == 0.05
    code, _, err = run_main(capsys, "--resume", str(ck), "--hidden", "16", "--epochs", "2")
    assert code == 1
    assert_one_line_error(err, "--hidden", "trained with --hidden 8")
    code, _, err = run_main(capsys, "--resume", str(ck), "--optimizer", "adam", "--epochs", "2")
    assert code == 1
    assert_one_line_error(err, "--optimizer", "sgd")
    code, _, err = run_main(capsys, "--resume", str(ck), "--lr", "0.01", "--epochs", "2")
    assert code == 0, err
    ckpt = ag.load(ck)
    assert ckpt["optimizer"]["param_groups"][0]["lr"] == 0.01 and ckpt["epoch"] == 2


def _write_variant(tmp_path: Path, name: str, change) -> Path:  # noqa: ANN001
    src = tmp_path / "good.npz"
    if not src.exists():
        train.main(["--epochs", "1", "--hidden", "8", "--out", str(src)])
    state = ag.load(src)
    change(state)
    path = tmp_path / name
    ag.save(state, path)
    return path


@pytest.mark.parametrize(
    "name, change, fragment",
    [
        ("shape.npz", lambda s: s["model"].__setitem__("0.weight", np.zeros((9, 64))), "0.weight"),
        ("missing.npz", lambda s: s["model"].pop("2.bias"), "2.bias"),
        ("opt.npz", lambda s: s["optimizer"].__setitem__("param_groups", []), "does not fit"),
        ("args.npz", lambda s: s["args"].__setitem__("hidden", "eight"), "hidden"),
        ("bs.npz", lambda s: s["args"].__setitem__("batch_size", -4), "batch_size"),
        ("optname.npz", lambda s: s["args"].__setitem__("optimizer", "lion"), "lion"),
        ("nomodel.npz", lambda s: s.pop("model"), "not a checkpoint written by"),
        ("version.npz", lambda s: s.__setitem__("version", 99), "version"),
        ("hist.npz", lambda s: s.__setitem__("history", {"loss": ["x"]}), "does not fit"),
    ],
)
def test_unusable_checkpoints(capsys, tmp_path: Path, name: str, change, fragment: str) -> None:  # noqa: ANN001
    path = _write_variant(tmp_path, name, change)
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(path), "--epochs", "2")
    assert code == 1 and out == ""
    assert_one_line_error(err, fragment)


def test_truncated_and_foreign_files(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    good = tmp_path / "good.npz"
    run_main(capsys, "--epochs", "1", "--hidden", "8", "--out", str(good))
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    code, _, err = run_main(capsys, "--resume", str(cut))
    assert code == 1
    assert_one_line_error(err, "cut.npz")
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    code, _, err = run_main(capsys, "--resume", str(plain))
    assert code == 1
    assert_one_line_error(err, "plain.npz")
    other = tmp_path / "other.npz"
    ag.save({"weights": np.zeros(3)}, other)
    code, _, err = run_main(capsys, "--resume", str(other))
    assert code == 1
    assert_one_line_error(err, "not a checkpoint written by")
    code, _, err = run_main(capsys, "--resume", str(tmp_path / "nope.npz"))
    assert code == 1
    assert_one_line_error(err, "no such file")
    assert zipfile.is_zipfile(good)


def test_interrupt_keeps_the_last_finished_epoch(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    calls = []
    real = train.accuracy

    def flaky(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(train, "accuracy", flaky)
    ck = tmp_path / "ck.npz"
    code, out, err = run_main(capsys, "--epochs", "5", "--hidden", "8", "--out", str(ck))
    assert code == 130 and out == ""
    assert "Traceback" not in err and "interrupted; epoch 1 is saved in" in err
    assert ag.load(ck)["epoch"] == 1


# --------------------------------------------------------------------------- progress, plot


def test_plain_progress_lines_without_tqdm(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    code, _, err = run_main(capsys, "--epochs", "2", "--hidden", "8", "--out", str(tmp_path / "c"))
    assert code == 0
    lines = [ln for ln in err.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 2
    assert re.match(r"epoch 1/2  loss \d+\.\d{4}  test accuracy 0\.\d{4}", lines[0])


def test_tqdm_bar_with_running_loss_on_a_terminal(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run_main(capsys, "--epochs", "1", "--hidden", "8", "--out", str(tmp_path / "c"))
    assert code == 0
    assert "train:" in err and "batch" in err and re.search(r"loss \d\.\d{4}", err)
    assert "epoch 1/1" in err


def test_plot_writes_an_image(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    code, out, err = run_main(
        capsys, "--epochs", "2", "--hidden", "8", "--out", str(tmp_path / "c"), "--plot", str(png)
    )
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    assert f"plot: {png}" in out
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".plot-")]  # no temp file left
    code, _, err = run_main(capsys, "--plot", str(tmp_path / "curve.xyz"))
    assert code == 1
    assert_one_line_error(err, "cannot write .xyz")


def test_plot_without_matplotlib_is_a_clear_error(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    ck = tmp_path / "ck.npz"
    code, out, err = run_main(capsys, "--plot", str(tmp_path / "c.png"), "--out", str(ck))
    assert code == 1 and out == ""
    assert_one_line_error(err, "--plot needs matplotlib", "pip install matplotlib")
    assert not ck.exists()  # reported before any training


# --------------------------------------------------------------------------- accuracy


def test_trains_to_95_percent(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    code, out, _ = run_main(capsys, "--epochs", "4", "--out", str(tmp_path / "c.npz"))
    assert code == 0
    assert float(ACC_LINE.search(out).group(1)) >= 0.95


def test_defaults_reach_97_percent(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)  # the default --out is checkpoint.npz in the working directory
    code, out, _ = run_main(capsys)
    assert code == 0
    assert float(ACC_LINE.search(out).group(1)) >= 0.97
    assert ag.load(tmp_path / "checkpoint.npz")["epoch"] == train.DEFAULTS["epochs"]


def test_split_is_fixed_and_standardised() -> None:
    X_train, y_train, X_test, y_test, stats = train.digits_split()
    assert X_train.shape == (1437, 64) and X_test.shape == (360, 64)
    again = train.digits_split()
    np.testing.assert_array_equal(again[2], X_test)
    np.testing.assert_allclose(X_train.mean(0), 0, atol=1e-12)
    sd = X_train.std(0)
    assert np.all((np.abs(sd - 1) < 1e-12) | (sd == 0))
    # every digit appears in the held-out set
    assert set(np.unique(y_test)) == set(range(10))


# ---- found by mutation testing


@pytest.mark.parametrize(
    "name, make",
    [
        ("sgd", lambda p: ag.optim.SGD(p, lr=0.05, momentum=0.9)),
        ("adam", lambda p: ag.optim.Adam(p, lr=1e-3)),
        ("adamw", lambda p: ag.optim.AdamW(p, lr=1e-3)),
        ("rmsprop", lambda p: ag.optim.RMSprop(p, lr=1e-3)),
        ("adagrad", lambda p: ag.optim.Adagrad(p, lr=0.05)),
    ],
)
def test_one_epoch_matches_a_hand_written_loop(capsys, tmp_path: Path, name: str, make) -> None:  # noqa: ANN001
    # Each --optimizer is the documented optimizer with its default learning rate; the loss of
    # an epoch is the sample-weighted mean over unequal batches (500, 500, 437).
    ck = tmp_path / "ck.npz"
    args = ["--optimizer", name, "--epochs", "1", "--hidden", "8", "--batch-size", "500"]
    code, _, err = run_main(capsys, *args, "--seed", "2", "--out", str(ck))
    assert code == 0, err
    X_train, y_train, X_test, y_test, stats = train.digits_split()
    ag.manual_seed(2)
    model = ag.nn.MLP([64, 8, 10])
    opt = make(model.parameters())
    total = 0.0
    for xb, yb in ag.data.DataLoader(X_train, y_train, batch_size=500, seed=2):
        loss = ag.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(yb)
    ckpt = ag.load(ck)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(ckpt["model"][k].data, v.data, err_msg=k)
    assert ckpt["history"]["loss"] == [pytest.approx(total / len(y_train), rel=1e-12)]
    assert ckpt["history"]["test_accuracy"] == [train.accuracy(model, X_test, y_test)]
    assert ckpt["args"]["seed"] == 2 and ckpt["args"]["lr"] == opt.param_groups[0]["lr"]
    np.testing.assert_array_equal(ckpt["normalization"]["mean"], stats["mean"])
    np.testing.assert_array_equal(ckpt["normalization"]["std"], stats["std"])


def test_accuracy_scores_in_eval_mode_and_restores_the_mode() -> None:
    # Dropout with p=1 zeroes everything in training mode: only eval mode gives the true logits.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 3, size=50)
    ag.manual_seed(0)
    lin = ag.nn.Linear(4, 3)
    model = ag.nn.Sequential(lin, ag.nn.Dropout(1.0))
    expected = float(np.mean(lin(ag.Tensor(X)).data.argmax(axis=1) == y))
    assert expected != float(np.mean(y == 0))  # all-zero logits would predict class 0
    assert train.accuracy(model, X, y) == expected and model.training
    model.eval()
    assert train.accuracy(model, X, y) == expected and not model.training


def test_number_parsers_at_their_boundaries() -> None:
    import argparse

    from autograd_mini import cli

    assert train._positive_int("1") == 1
    assert train._hidden(" 16 , 4 ") == (16, 4) and train._hidden("1") == (1,)
    assert cli.seed_number("0") == 0 and cli.positive_number("1e-9") == 1e-9
    assert cli.non_negative_number("0") == 0.0 and cli.non_negative_number("inf") == math.inf
    for bad in ("-1e-9", "nan", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="non-negative number"):
            cli.non_negative_number(bad)
    for bad in ("0", "-1", "x"):
        with pytest.raises(argparse.ArgumentTypeError, match="positive integer"):
            train._positive_int(bad)
    for bad in ("x", "8,x", "8,,4", "-2"):
        with pytest.raises(argparse.ArgumentTypeError, match="layer sizes"):
            train._hidden(bad)


def test_cli_dispatch_help_and_unknown_command(capsys) -> None:  # noqa: ANN001
    import importlib

    from autograd_mini import cli

    assert cli._command("train") is train.main
    assert cli._command("gradcheck") is importlib.import_module("autograd_mini.gradcheck").main
    assert cli._command("bench") is importlib.import_module("autograd_mini.bench").main
    assert cli._command("fit") is None
    assert cli.main(["-h"]) == 0
    out, err = capsys.readouterr()
    assert "usage: autograd-mini" in out and err == ""
    assert cli.main(["fit"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown command 'fit'" in err and "usage: autograd-mini" in err
    assert cli.main(["train", "--batch-size", "0"]) == 2
    assert "--batch-size" in capsys.readouterr().err


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.__setitem__("format", "something.else"),
        lambda s: s.__setitem__("args", [1, 2]),
        lambda s: s.__setitem__("epoch", "1"),
        lambda s: s.__setitem__("epoch", True),
        lambda s: s.__setitem__("model", [1, 2]),
        lambda s: s.pop("optimizer"),
    ],
    ids=["format", "args", "epoch", "epoch-bool", "model", "optimizer"],
)
def test_checkpoints_missing_an_entry_are_rejected(capsys, tmp_path: Path, change) -> None:  # noqa: ANN001
    path = _write_variant(tmp_path, "v.npz", change)
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(path), "--epochs", "2")
    assert code == 1 and out == ""
    assert_one_line_error(err, "not a checkpoint written by autograd-mini train")


def test_a_saved_list_is_not_a_checkpoint(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "list.npz"
    ag.save([1, 2], path)
    code, _, err = run_main(capsys, "--resume", str(path))
    assert code == 1
    assert_one_line_error(err, "not a checkpoint written by")


@pytest.mark.parametrize(
    "key, value",
    [
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("epochs", 0),
        ("epochs", True),
        ("seed", -1),
        ("seed", 1.5),
        ("hidden", []),
        ("hidden", [0]),
        ("hidden", [8.0]),
        ("lr", 0.0),
        ("lr", math.nan),
        ("lr", math.inf),
        ("lr", "0.1"),
        ("lr", True),
    ],
)
def test_invalid_settings_in_a_checkpoint(capsys, tmp_path: Path, key: str, value) -> None:  # noqa: ANN001
    path = _write_variant(tmp_path, "v.npz", lambda s: s["args"].__setitem__(key, value))
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(path))
    assert code == 1 and out == ""
    assert_one_line_error(err, f"invalid {key}")


def test_resume_with_the_same_hidden_and_the_saved_lr(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    ck = tmp_path / "ck.npz"
    code, _, _ = run_main(
        capsys, "--epochs", "1", "--hidden", "8,4", "--lr", "0.02", "--out", str(ck)
    )
    assert code == 0
    # repeating the checkpoint's own --hidden and --optimizer is not a conflict
    code, out, err = run_main(
        capsys, "--resume", str(ck), "--hidden", "8,4", "--optimizer", "adam", "--epochs", "2"
    )
    assert code == 0, err
    assert "(lr 0.02)" in err and "MLP 64-8-4-10" in err
    ckpt = ag.load(ck)
    assert ckpt["args"]["lr"] == 0.02 and ckpt["args"]["hidden"] == [8, 4]
    assert f"checkpoint: {ck} (epoch 2)" in out
    code, _, err = run_main(capsys, "--resume", str(ck), "--hidden", "8", "--epochs", "3")
    assert code == 1
    assert_one_line_error(err, "trained with --hidden 8,4")


def test_resume_an_integer_lr_is_saved_as_a_float(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    path = _write_variant(tmp_path, "v.npz", lambda s: s["args"].__setitem__("lr", 1))
    capsys.readouterr()
    code, _, err = run_main(capsys, "--resume", str(path), "--epochs", "2")
    assert code == 0, err
    lr = ag.load(path)["args"]["lr"]
    assert lr == 1.0 and isinstance(lr, float)


def test_finished_checkpoint_writes_no_checkpoint_line(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    ck = tmp_path / "ck.npz"
    run_main(capsys, "--epochs", "2", "--hidden", "8", "--out", str(ck))
    code, out, err = run_main(capsys, "--resume", str(ck), "--epochs", "1")
    assert code == 0
    assert "checkpoint:" not in out and "already trained 2 epochs (--epochs 1)" in err
    code, out, err = run_main(capsys, "--resume", str(ck), "--epochs", "2")
    assert code == 0
    assert "checkpoint:" not in out and "already trained 2 epochs (--epochs 2)" in err


def test_resume_at_epoch_zero_and_without_history(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    def epoch0(s):  # noqa: ANN001, ANN202
        s["epoch"] = 0
        del s["history"]

    path = _write_variant(tmp_path, "v.npz", epoch0)
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(path), "--epochs", "1")
    assert code == 0, err
    assert "at epoch 0" in err and "epoch 1/1" in err
    ckpt = ag.load(path)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]["loss"]) == 1
    bad = _write_variant(tmp_path, "neg.npz", lambda s: s.__setitem__("epoch", -1))
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(bad), "--epochs", "1")
    assert code == 1 and out == ""
    assert_one_line_error(err, "invalid epoch -1")


def test_no_plot_when_no_epoch_was_ever_recorded(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("matplotlib")
    path = _write_variant(tmp_path, "v.npz", lambda s: s.pop("history"))
    capsys.readouterr()
    png = tmp_path / "p.png"
    code, out, err = run_main(capsys, "--resume", str(path), "--epochs", "1", "--plot", str(png))
    assert code == 0
    assert "no epochs recorded, so no plot written" in err and "plot:" not in out
    assert not png.exists()


def test_interrupt_in_the_first_epoch_saves_nothing(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    def interrupt(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "accuracy", interrupt)
    ck = tmp_path / "ck.npz"
    code, out, err = run_main(capsys, "--epochs", "2", "--hidden", "8", "--out", str(ck))
    assert code == 130 and out == ""
    assert err.strip().splitlines()[-1] == "autograd-mini train: interrupted"
    assert not ck.exists()


def test_os_error_while_saving_is_a_one_line_error(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    def full(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train, "save", full)
    args = ["--epochs", "1", "--hidden", "8", "--out", str(tmp_path / "c")]
    code, out, err = run_main(capsys, *args)
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1].startswith("autograd-mini train: error:")
    assert "No space left on device" in err and "Traceback" not in err


def test_epoch_numbers_are_right_aligned(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "tqdm", None)
    args = ["--epochs", "10", "--hidden", "4", "--batch-size", "2000", "--out", str(tmp_path / "c")]
    code, _, err = run_main(capsys, *args)
    assert code == 0
    lines = [ln for ln in err.splitlines() if "test accuracy" in ln]
    assert lines[0].startswith("epoch  1/10  loss ") and lines[9].startswith("epoch 10/10  loss ")


class _FakeTqdm:
    """Stands in for tqdm.tqdm (which need not be installed): records what the bar is told."""

    bars: list[_FakeTqdm] = []

    def __init__(self, total: int, **kw) -> None:  # noqa: ANN003
        self.total, self.kw, self.n, self.closed = total, kw, 0, False
        self.postfix: list[str] = []
        self.lines: list[str] = []
        _FakeTqdm.bars.append(self)

    def set_postfix_str(self, s: str, refresh: bool = True) -> None:
        self.postfix.append(s)

    def update(self, n: int = 1) -> None:
        self.n += n

    def write(self, line: str, file=None) -> None:  # noqa: ANN001
        self.lines.append(line)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch):  # noqa: ANN001, ANN201
    import types

    _FakeTqdm.bars = []
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=_FakeTqdm))
    return _FakeTqdm.bars


def test_progress_bar_counts_every_batch_and_is_closed(
    capsys,
    tmp_path: Path,
    monkeypatch,
    fake_tqdm,  # noqa: ANN001
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a terminal
    args = ["--epochs", "2", "--hidden", "4", "--batch-size", "500", "--out", str(tmp_path / "c")]
    code, _, err = run_main(capsys, *args)
    assert code == 0, err
    (bar,) = fake_tqdm
    assert bar.total == 6 and bar.n == 6 and bar.closed  # 2 epochs of 3 batches
    assert bar.kw["desc"] == "train" and bar.kw["unit"] == "batch"
    assert bar.postfix[0].startswith("epoch 1/2, loss ") and bar.postfix[-1].startswith("epoch 2/2")
    assert [ln[:9] for ln in bar.lines] == ["epoch 1/2", "epoch 2/2"]
    assert "epoch 1/2  loss" not in err  # the epoch lines go through the bar
    # a single batch in all still gets a bar
    args[1], args[5] = "1", "2000"
    code, _, _ = run_main(capsys, *args)
    assert code == 0 and fake_tqdm[1].total == 1 and fake_tqdm[1].n == 1


def test_progress_bar_counts_only_the_epochs_left(
    capsys,
    tmp_path: Path,
    monkeypatch,
    fake_tqdm,  # noqa: ANN001
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # a terminal
    ck = tmp_path / "ck.npz"
    args = ["--hidden", "4", "--batch-size", "500"]
    code, _, _ = run_main(capsys, *args, "--epochs", "1", "--out", str(ck))
    assert code == 0 and fake_tqdm[0].total == 3
    code, _, _ = run_main(capsys, "--resume", str(ck), "--epochs", "3")
    assert code == 0 and fake_tqdm[1].total == 6 and fake_tqdm[1].n == 6
    # nothing to train: no bar at all
    code, _, err = run_main(capsys, "--resume", str(ck), "--epochs", "2")
    assert code == 0 and "nothing to train" in err and len(fake_tqdm) == 2


def test_plot_file_names_without_or_with_upper_case_extension(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("matplotlib")
    ck = tmp_path / "ck.npz"
    run_main(capsys, "--epochs", "1", "--hidden", "4", "--batch-size", "2000", "--out", str(ck))
    for name in ("curves", "CURVES.PNG"):
        plot = tmp_path / name
        code, out, err = run_main(capsys, "--resume", str(ck), "--plot", str(plot))
        assert code == 0, err
        assert plot.read_bytes()[:8] == PNG_MAGIC and f"plot: {plot}" in out


def test_plot_gets_the_mode_of_a_plain_file(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("matplotlib")
    ck = tmp_path / "ck.npz"
    run_main(capsys, "--epochs", "1", "--hidden", "4", "--batch-size", "2000", "--out", str(ck))
    mask = os.umask(0o022)
    try:
        code, _, _ = run_main(capsys, "--resume", str(ck), "--plot", str(tmp_path / "p.png"))
    finally:
        os.umask(mask)
    assert code == 0
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o644


def test_failed_plot_leaves_no_temporary_file(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    figure = pytest.importorskip("matplotlib.figure")
    ck = tmp_path / "ck.npz"
    run_main(capsys, "--epochs", "1", "--hidden", "4", "--batch-size", "2000", "--out", str(ck))

    def broken(self, file, **kw):  # noqa: ANN001, ANN003, ANN202
        file.write(b"half")  # the temporary file the image is written to
        raise OSError("disk full")

    monkeypatch.setattr(figure.Figure, "savefig", broken)
    code, _, err = run_main(capsys, "--resume", str(ck), "--plot", str(tmp_path / "p.png"))
    assert code == 1 and "disk full" in err
    assert sorted(os.listdir(tmp_path)) == ["ck.npz"]


def test_plot_into_a_missing_directory_is_reported_before_training(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("matplotlib")
    ck = tmp_path / "ck.npz"
    plot = tmp_path / "missing" / "p.png"
    code, out, err = run_main(capsys, "--epochs", "1", "--out", str(ck), "--plot", str(plot))
    assert code == 1 and out == ""
    assert_one_line_error(err, "--plot", "does not exist")
    assert not ck.exists()


def test_resume_from_a_directory_is_a_one_line_error(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    code, out, err = run_main(capsys, "--resume", str(tmp_path), "--out", str(tmp_path / "c"))
    assert code == 1 and out == ""
    assert_one_line_error(err, "--resume", "cannot read the checkpoint")


@pytest.mark.parametrize("history", [[1.0, 2.0], {"loss": [None]}], ids=["list", "none"])
def test_a_malformed_history_does_not_fit(capsys, tmp_path: Path, history) -> None:  # noqa: ANN001
    # AttributeError / TypeError while applying the checkpoint: a one-line error all the same
    path = _write_variant(tmp_path, "v.npz", lambda s: s.__setitem__("history", history))
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(path), "--epochs", "2")
    assert code == 1 and out == ""
    assert_one_line_error(err, "the checkpoint does not fit")


def test_conflict_with_a_multi_line_saved_name_is_still_one_line(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    path = _write_variant(tmp_path, "v.npz", lambda s: s["args"].__setitem__("optimizer", "ad\nam"))
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(path), "--optimizer", "adam")
    assert code == 1 and out == ""
    assert_one_line_error(err, "--optimizer conflicts", "trained with --optimizer ad am")


def test_cli_exit_code_of_a_command_returning_none_is_zero(monkeypatch) -> None:  # noqa: ANN001
    from autograd_mini import cli

    seen = []
    monkeypatch.setattr(cli, "_command", lambda name: lambda argv: seen.append(argv))
    assert cli.main(["train", "--epochs", "1"]) == 0 and seen == [["--epochs", "1"]]


def _set_group(key: str, value: Any) -> Callable[[dict], None]:
    return lambda s: s["optimizer"]["param_groups"][0].__setitem__(key, value)


def _set_state(key: str, value: Any) -> Callable[[dict], None]:
    return lambda s: next(iter(s["optimizer"]["state"].values())).__setitem__(key, value)


def _nan_state(key: str) -> Callable[[dict], None]:
    return lambda s: next(iter(s["optimizer"]["state"].values()))[key].flat.__setitem__(0, np.nan)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (_set_group("betas", "xy"), "optimizer setting betas"),
        (_set_group("eps", -1.0), "optimizer setting eps"),
        (_set_group("weight_decay", 0.5), "optimizer setting weight_decay"),
        (_set_state("step", -1.0), "optimizer state step is invalid"),
        (_nan_state("exp_avg"), "optimizer state exp_avg is invalid"),
        (_set_state("exp_avg_sq", "x"), "optimizer state exp_avg_sq is invalid"),
    ],
)
def test_edited_optimizer_settings_or_state_in_a_checkpoint(
    capsys,
    tmp_path: Path,
    change,
    fragment: str,  # noqa: ANN001
) -> None:
    # The checkpoint is outside input: a setting the command does not train with, or state
    # that would crash mid-run, is refused in one line before training.
    path = _write_variant(tmp_path, "v.npz", change)
    capsys.readouterr()
    code, out, err = run_main(capsys, "--resume", str(path), "--epochs", "2")
    assert code == 1 and out == ""
    assert_one_line_error(err, "the checkpoint does not fit", fragment)


def test_resume_trains_with_the_lr_it_shows(capsys, tmp_path: Path) -> None:  # noqa: ANN001
    # An lr edited into the optimizer's group is not used behind the banner's back: the run
    # takes the checkpoint's recorded lr (or --lr), the one it prints and saves.
    path = _write_variant(tmp_path, "v.npz", _set_group("lr", -5.0))
    capsys.readouterr()
    code, _, err = run_main(capsys, "--resume", str(path), "--epochs", "2")
    assert code == 0, err
    assert "(lr 0.001)" in err
    saved = ag.load(path)
    assert saved["optimizer"]["param_groups"][0]["lr"] == saved["args"]["lr"] == 0.001
    acc = saved["history"]["test_accuracy"]
    assert acc[1] >= acc[0] - 0.02  # trained the right way (lr -5 would wreck it)


def test_output_paths_that_cannot_work_are_refused_before_training(
    capsys,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    same = str(tmp_path / "p.png")
    if importlib.util.find_spec("matplotlib") is not None:
        code, out, err = run_main(capsys, "--epochs", "1", "--out", same, "--plot", same)
        assert code == 1 and out == ""
        assert_one_line_error(err, "--plot", "is the checkpoint's path too")
    code, out, err = run_main(capsys, "--epochs", "1", "--out", "")
    assert code == 1 and out == ""
    assert_one_line_error(err, "--out: the file name is empty")
    assert os.listdir(tmp_path) == []


def test_a_reader_that_stops_early_ends_the_command_quietly() -> None:
    # `autograd-mini gradcheck | head -1`: no BrokenPipeError traceback, the shell's 141.
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograd_mini", "gradcheck"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline().startswith(b"op ")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_a_plain_bar_on_a_terminal_without_tqdm(capsys, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    code, _, err = run_main(capsys, "--epochs", "2", "--hidden", "8", "--out", str(tmp_path / "c"))
    assert code == 0
    n = -(-(1797 - train.N_TEST) // 32)  # batches per epoch
    assert f"train: 100%|{'#' * 24}| {2 * n}/{2 * n} batches, epoch 2/2, loss " in err
    lines = [ln.split("\r")[-1].rstrip() for ln in err.splitlines()]
    assert [ln[:9] for ln in lines if ln.startswith("epoch")] == ["epoch 1/2", "epoch 2/2"]
