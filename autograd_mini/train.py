"""`autograd-mini train`: train an MLP on the shipped handwritten digits and save a checkpoint.

The 1797 digits are split once, by a fixed seed, into 1437 training and 360 test images, so
every run (whatever its --seed) is scored on the same held-out set. Pixels are standardised
with the training set's per-pixel mean and standard deviation. A checkpoint, written after
every epoch, holds the model's and the optimizer's state dicts, the epoch, the arguments and
the loss/accuracy history; ``--resume`` continues from it exactly as if the run had never
stopped (the shuffles of the epochs already done are replayed and discarded).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import numpy as np

from . import nn, optim
from .cli import positive_number, seed_number
from .data import DataLoader, load_digits
from .engine import no_grad
from .serialization import load, output_problem, plot_problem, save, write_figure
from .tensor import Tensor, manual_seed

PROG = "autograd-mini train"
CHECKPOINT_FORMAT = "autograd_mini.train"
CHECKPOINT_VERSION = 1
SPLIT_SEED = 0
N_TEST = 360
DEFAULTS: dict[str, Any] = {
    "optimizer": "adam",
    "batch_size": 32,
    "epochs": 20,
    "hidden": (128,),
    "seed": 0,
    "out": "checkpoint.npz",
}
# A learning rate that works for each optimizer on this task when --lr is not given.
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 0.05}
OPTIMIZERS: dict[str, Callable[..., optim.Optimizer]] = {
    "sgd": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9),
    "adam": lambda params, lr: optim.Adam(params, lr=lr),
    "adamw": lambda params, lr: optim.AdamW(params, lr=lr),
    "rmsprop": lambda params, lr: optim.RMSprop(params, lr=lr),
    "adagrad": lambda params, lr: optim.Adagrad(params, lr=lr),
}


class TrainError(Exception):
    """A problem to report to the user in one line (bad arguments, unusable checkpoint)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, not a usage block (and never exits)."""

    def error(self, message: str) -> NoReturn:
        raise TrainError(message)


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def _hidden(s: str) -> tuple[int, ...]:
    parts = [p.strip() for p in s.split(",")]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes such as 128 or 128,64, got {s!r}"
        )
    return sizes


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `autograd-mini train`."""
    p = _Parser(
        prog=PROG,
        description="Train an MLP on the shipped 8x8 handwritten digits (1437 for training, "
        "360 held out), print the test accuracy and save a checkpoint.",
    )
    # Defaults are None so that, on --resume, we can tell a flag given on the command line
    # from one to take from the checkpoint.
    p.add_argument(
        "--optimizer",
        choices=sorted(OPTIMIZERS),
        help=f"optimizer (default {DEFAULTS['optimizer']}; sgd uses momentum 0.9)",
    )
    p.add_argument(
        "--lr",
        type=positive_number,
        help="learning rate (default: "
        + ", ".join(f"{k} {v:g}" for k, v in sorted(DEFAULT_LR.items()))
        + "; or the checkpoint's)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        help=f"mini-batch size (default {DEFAULTS['batch_size']}, or the checkpoint's)",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        help=f"total number of epochs, counting those of a resumed checkpoint "
        f"(default {DEFAULTS['epochs']}, or the checkpoint's: raise it to train more)",
    )
    p.add_argument(
        "--hidden",
        type=_hidden,
        help="hidden layer sizes, comma-separated (default 128; e.g. 128,64)",
    )
    p.add_argument(
        "--seed",
        type=seed_number,
        help=f"seed of the initialisation and the shuffles (default {DEFAULTS['seed']}, or "
        f"the checkpoint's)",
    )
    p.add_argument(
        "--out",
        help=f"checkpoint to write after every epoch (default {DEFAULTS['out']}, or the "
        f"--resume file when resuming)",
    )
    p.add_argument("--resume", metavar="PATH", help="continue training from this checkpoint")
    p.add_argument(
        "--plot", metavar="PNG", help="write loss and accuracy curves here (needs matplotlib)"
    )
    return p


# --------------------------------------------------------------------------- data


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(X_train, y_train, X_test, y_test, stats): the fixed split, standardised by train stats."""
    X, y = load_digits()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    test, train = order[:N_TEST], order[N_TEST:]
    mean = X[train].mean(axis=0)
    std = X[train].std(axis=0)
    std[std == 0] = 1.0  # pixels that are blank in every training image stay 0
    Xs = (X - mean) / std
    return Xs[train], y[train], Xs[test], y[test], {"mean": mean, "std": std}


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples whose largest logit is the label."""
    was_training = model.training
    model.eval()
    with no_grad():
        pred = model(Tensor(X)).data.argmax(axis=1)
    model.train(was_training)
    return float(np.mean(pred == y))


# --------------------------------------------------------------------------- checkpoints


def _check_output(problem: str | None) -> None:
    # Checked before training: a path that cannot be written would otherwise fail only after
    # the first epoch (or the whole run).
    if problem:
        raise TrainError(problem)


def _read_checkpoint(path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise TrainError(f"--resume {path!r}: no such file")
    try:
        ckpt = load(path)
    except (OSError, ValueError) as e:
        msg = str(e).replace("\n", " ")
        raise TrainError(f"--resume {path!r}: cannot read the checkpoint: {msg}") from None
    ok = (
        isinstance(ckpt, dict)
        and ckpt.get("format") == CHECKPOINT_FORMAT
        and isinstance(ckpt.get("args"), dict)
        and _is_int(ckpt.get("epoch"))
        and isinstance(ckpt.get("model"), dict)
        and isinstance(ckpt.get("optimizer"), dict)
    )
    if not ok:
        raise TrainError(
            f"--resume {path!r}: not a checkpoint written by {PROG} (expected model, "
            f"optimizer, epoch and args entries)"
        )
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise TrainError(
            f"--resume {path!r}: checkpoint version {ckpt.get('version')!r} is not supported "
            f"(expected {CHECKPOINT_VERSION})"
        )
    return ckpt


def _resolve(ns: argparse.Namespace, ckpt: dict[str, Any] | None) -> dict[str, Any]:
    """The run's settings: flags given, else the checkpoint's, else the defaults."""
    saved = dict(ckpt["args"]) if ckpt is not None else {}
    if ckpt is not None:
        for key, flag in (("hidden", "--hidden"), ("optimizer", "--optimizer")):
            given = getattr(ns, key)
            have = saved.get(key)
            if key == "hidden" and isinstance(have, list | tuple):
                have = tuple(have)
            if given is not None and given != have:
                shown = ",".join(map(str, have)) if isinstance(have, tuple) else have
                raise TrainError(
                    f"{flag} conflicts with the checkpoint being resumed, which was trained "
                    f"with {flag} {shown}"
                )
    cfg: dict[str, Any] = {}
    for key in ("optimizer", "batch_size", "epochs", "hidden", "seed"):
        given = getattr(ns, key)
        cfg[key] = given if given is not None else saved.get(key, DEFAULTS[key])
    if not isinstance(cfg["hidden"], list | tuple):
        raise TrainError(f"--resume: the checkpoint has an invalid hidden {cfg['hidden']!r}")
    cfg["hidden"] = tuple(cfg["hidden"])
    if cfg["optimizer"] not in OPTIMIZERS:
        raise TrainError(
            f"--resume: the checkpoint names an unknown optimizer {cfg['optimizer']!r}"
        )
    cfg["lr"] = ns.lr if ns.lr is not None else saved.get("lr", DEFAULT_LR[cfg["optimizer"]])
    # Settings read from a checkpoint are untrusted: check them as the flags are checked.
    checks = {
        "batch_size": lambda v: _is_int(v) and v >= 1,
        "epochs": lambda v: _is_int(v) and v >= 1,
        "seed": lambda v: _is_int(v) and v >= 0,
        "hidden": lambda v: len(v) > 0 and all(_is_int(h) and h >= 1 for h in v),
        "lr": lambda v: (
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0
        ),
    }
    for key, ok in checks.items():
        if not ok(cfg[key]):
            raise TrainError(f"--resume: the checkpoint has an invalid {key} {cfg[key]!r}")
    return cfg


def _check_optimizer(opt: optim.Optimizer, settings: list[dict]) -> None:
    """Raise ValueError unless the loaded optimizer has the settings this command trains with
    (the lr is set afterwards) and sound state: a hand-edited or damaged checkpoint must not
    train with other settings, or crash mid-run."""
    for group, expected in zip(opt.param_groups, settings):
        for key, value in expected.items():
            if key != "lr" and group.get(key) != value:
                raise ValueError(f"optimizer setting {key} is {group.get(key)!r}, not {value!r}")
    for p, state in opt.state.items():
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                ok = value.shape == p.shape and value.dtype == p.dtype
                ok = ok and bool(np.isfinite(value).all())
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                ok = ok and math.isfinite(value) and value >= 0
            if not ok:
                raise ValueError(f"optimizer state {key} is invalid for a parameter of shape "
                                 f"{p.shape}")  # fmt: skip


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _save_plot(path: str, history: dict[str, list[float]]) -> None:
    from matplotlib.figure import Figure

    epochs = np.arange(1, len(history["loss"]) + 1)
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(epochs, history["loss"], marker="o", markersize=3)
    ax1.set(xlabel="epoch", ylabel="training loss (cross-entropy)", title="loss")
    ax2.plot(epochs, history["test_accuracy"], marker="o", markersize=3, color="tab:green")
    ax2.set(xlabel="epoch", ylabel="test accuracy", title="held-out accuracy")
    write_figure(fig, path, "--plot")


# --------------------------------------------------------------------------- progress


class _Progress:
    """A bar over the batches when stderr is a terminal (tqdm's if installed, else a plain
    one), and a line per epoch."""

    WIDTH = 24

    def __init__(self, total: int) -> None:
        self.bar = None
        self.total, self.done, self.drawn_at, self.shown = total, 0, 0.0, ""
        tty = total > 0 and sys.stderr.isatty()
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None and tty:
            self.bar = tqdm(total=total, desc="train", unit="batch", dynamic_ncols=True)
        self.plain = tty and self.bar is None

    def step(self, epoch: int, epochs: int, running_loss: float) -> None:
        note = f"epoch {epoch}/{epochs}, loss {running_loss:.4f}"
        if self.bar is not None:
            self.bar.set_postfix_str(note, False)
            self.bar.update(1)
        elif self.plain:
            self.done += 1
            now = time.perf_counter()
            if now - self.drawn_at >= 0.1 or self.done == self.total:  # ~10 redraws a second
                self.drawn_at = now
                filled = self.WIDTH * self.done // self.total
                bar = "#" * filled + " " * (self.WIDTH - filled)
                pct = 100 * self.done // self.total
                self._show(f"train: {pct:3d}%|{bar}| {self.done}/{self.total} batches, {note}")

    def _show(self, text: str) -> None:
        # \r returns to the start of the line; spaces cover what a longer text left.
        sys.stderr.write("\r" + text.ljust(len(self.shown)))
        sys.stderr.flush()
        self.shown = text

    def epoch(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        elif self.shown:  # the line above the bar, the bar drawn again below it
            bar, self.shown = self.shown, line
            self._show(line)
            sys.stderr.write("\n")
            self.shown = ""
            self._show(bar)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


# --------------------------------------------------------------------------- main


def run(ns: argparse.Namespace) -> int:
    """Train (or resume) as `ns` says; returns the exit code."""
    ckpt = _read_checkpoint(ns.resume) if ns.resume is not None else None
    cfg = _resolve(ns, ckpt)
    out = ns.out if ns.out is not None else (ns.resume or DEFAULTS["out"])
    _check_output(output_problem(out, "--out"))
    if ns.plot is not None:
        _check_output(plot_problem(ns.plot, "--plot"))
        if os.path.abspath(ns.plot) == os.path.abspath(out):
            raise TrainError(f"--plot {ns.plot!r} is the checkpoint's path too (--out)")

    X_train, y_train, X_test, y_test, stats = digits_split()
    manual_seed(cfg["seed"])
    model = nn.MLP([X_train.shape[1], *cfg["hidden"], 10])
    opt = OPTIMIZERS[cfg["optimizer"]](model.parameters(), cfg["lr"])
    settings = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    loader = DataLoader(X_train, y_train, batch_size=cfg["batch_size"], seed=cfg["seed"])
    start = 0
    history: dict[str, list[float]] = {"loss": [], "test_accuracy": []}
    if ckpt is not None:
        start = ckpt["epoch"]
        if start < 0:
            raise TrainError(f"--resume {ns.resume!r}: invalid epoch {start}")
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            _check_optimizer(opt, settings)
            saved = ckpt.get("history", {})
            history = {k: [float(v) for v in saved.get(k, [])] for k in history}
        # The checkpoint is outside input: whatever fails while applying it is its fault,
        # reported in one line like any other bad input.
        except Exception as e:  # noqa: BLE001
            msg = str(e).replace("\n", " ")
            raise TrainError(
                f"--resume {ns.resume!r}: the checkpoint does not fit: {msg}"
            ) from None
        for group in opt.param_groups:  # the lr the banner shows: --lr, else the saved one
            group["lr"] = cfg["lr"]
        # Replay the shuffles of the epochs already done, so the run continues exactly.
        for _ in range(start):
            iter(loader)

    epochs = cfg["epochs"]
    sizes = "-".join(map(str, [X_train.shape[1], *cfg["hidden"], 10]))
    resuming = f"resuming {ns.resume} at epoch {start}: " if ckpt is not None else ""
    print(
        f"{resuming}MLP {sizes}, {cfg['optimizer']} (lr {cfg['lr']:g}), batch size "
        f"{cfg['batch_size']}, {epochs} epochs; {len(X_train)} training and {len(X_test)} "
        f"test digits",
        file=sys.stderr,
    )
    if start >= epochs:
        print(
            f"the checkpoint has already trained {start} epochs (--epochs {epochs}): "
            "nothing to train",
            file=sys.stderr,
        )

    def checkpoint(epoch: int) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "epoch": epoch,
            "args": {
                "optimizer": cfg["optimizer"],
                "lr": float(cfg["lr"]),
                "batch_size": cfg["batch_size"],
                "epochs": epochs,
                "hidden": list(cfg["hidden"]),
                "seed": cfg["seed"],
            },
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "history": history,
            "normalization": stats,
        }
        save(state, out)

    progress = _Progress(len(loader) * max(epochs - start, 0))
    t0 = time.perf_counter()
    epoch = start
    try:
        model.train()
        for epoch in range(start + 1, epochs + 1):
            total, count = 0.0, 0
            for xb, yb in loader:
                loss = nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(yb)
                count += len(yb)
                progress.step(epoch, epochs, total / count)
            acc = accuracy(model, X_test, y_test)
            history["loss"].append(total / count)
            history["test_accuracy"].append(acc)
            checkpoint(epoch)
            progress.epoch(
                f"epoch {epoch:>{len(str(epochs))}}/{epochs}  loss {total / count:.4f}  "
                f"test accuracy {acc:.4f}  ({time.perf_counter() - t0:.1f}s)"
            )
    except KeyboardInterrupt:
        progress.close()
        done = epoch - 1
        where = f"; epoch {done} is saved in {out}" if done > start else ""
        print(f"{PROG}: interrupted{where}", file=sys.stderr)
        return 130
    progress.close()

    acc = accuracy(model, X_test, y_test)
    print(f"test accuracy: {acc:.4f}")
    if epochs > start:
        print(f"checkpoint: {out} (epoch {epochs})")
    if ns.plot is not None:
        if history["loss"]:
            _save_plot(ns.plot, history)
            print(f"plot: {ns.plot}")
        else:
            print(f"{PROG}: no epochs recorded, so no plot written", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `autograd-mini train`; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        ns = build_parser().parse_args(argv)
    except TrainError as e:
        print(f"{PROG}: error: {e} (see {PROG} --help)", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help
        return int(e.code or 0)
    try:
        return run(ns)
    except TrainError as e:
        print(f"{PROG}: error: {str(e).replace(chr(10), ' ')}", file=sys.stderr)
        return 1
    except OSError as e:  # e.g. the disk filled up while writing the checkpoint
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except MemoryError as e:  # e.g. --hidden 100000000: a 48 GiB weight matrix
        print(f"{PROG}: error: out of memory ({e}); try a smaller --hidden", file=sys.stderr)
        return 1
