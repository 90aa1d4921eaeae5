"""Data utilities: a mini-batch DataLoader, the two-moons toy set and the shipped digits."""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

from .tensor import Tensor, get_rng

__all__ = ["DataLoader", "make_moons", "load_digits"]


def _as_array(a: Any, name: str) -> np.ndarray:
    """Return the ndarray behind a Tensor, or ``np.asarray(a)`` for anything else."""
    if a is None:
        # np.asarray(None) is a 0-d object array, which would be reported as a shape problem.
        raise TypeError(f"DataLoader: {name} is required (one entry per sample), got None")
    arr = a.data if isinstance(a, Tensor) else np.asarray(a)
    if arr.ndim == 0:
        raise ValueError(f"DataLoader: {name} must have a sample axis, got a 0-d array")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"DataLoader: {name} must hold numbers, got dtype {arr.dtype}")
    return arr


def _generator(name: str, seed: Any) -> np.random.Generator:
    """A NumPy generator from an int seed, a Generator or None (fresh entropy)."""
    if not (seed is None or isinstance(seed, np.random.Generator)):
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"{name}: seed must be an int, a numpy Generator or None, got {seed!r}")
        if seed < 0:
            raise ValueError(f"{name}: seed must be non-negative, got {seed}")
    return np.random.default_rng(seed)


class DataLoader:
    """Iterate over ``(X, y)`` in batches: full batch, stochastic (1) or mini-batch (k)."""

    def __init__(
        self,
        X: Any,
        y: Any,
        batch_size: int | None = None,
        shuffle: bool = True,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        self.X = _as_array(X, "X")
        self.y = _as_array(y, "y")
        n = self.X.shape[0]
        if self.y.shape[0] != n:
            raise ValueError(
                f"DataLoader: X and y have different numbers of samples: "
                f"X.shape={self.X.shape}, y.shape={self.y.shape}"
            )
        if n == 0:
            raise ValueError(f"DataLoader: empty data, X.shape={self.X.shape}")
        if batch_size is not None:
            # bool is an int subclass, but batch_size=True is surely a mistake.
            if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
                raise TypeError(
                    f"DataLoader: batch_size must be an int or None, got {batch_size!r}"
                )
            if batch_size < 1:
                raise ValueError(
                    f"DataLoader: batch_size must be a positive integer, got {batch_size}"
                )
            batch_size = int(batch_size)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        # One generator for the loader's lifetime: a seeded loader replays the same sequence
        # of epochs, and consecutive epochs get different orders. Without a seed, each epoch
        # draws from the global generator, so ag.manual_seed makes it reproducible (as
        # torch.manual_seed does for a shuffling torch DataLoader).
        self._rng = None if seed is None else _generator("DataLoader", seed)

    @property
    def n_samples(self) -> int:
        """Number of samples in one epoch."""
        return int(self.X.shape[0])

    def _step(self) -> int:
        return self.n_samples if self.batch_size is None else self.batch_size

    def __len__(self) -> int:
        """Number of batches per epoch (the last one may be smaller)."""
        return math.ceil(self.n_samples / self._step())

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Start an epoch: yield ``(xb, yb)`` Tensors covering every sample exactly once."""
        n = self.n_samples
        # Draw the order now rather than on the first next(), so creating an iterator is
        # what consumes randomness, as with torch's RandomSampler.
        if not self.shuffle:
            return self._batches(np.arange(n))
        rng = self._rng if self._rng is not None else get_rng()
        return self._batches(rng.permutation(n))

    def _batches(self, order: np.ndarray) -> Iterator[tuple[Tensor, Tensor]]:
        step = self._step()
        for start in range(0, len(order), step):
            idx = order[start : start + step]
            # Fancy indexing copies, so a training loop cannot alter the dataset through a batch.
            yield Tensor(self.X[idx]), Tensor(self.y[idx])

    def __repr__(self) -> str:
        return (
            f"DataLoader(n_samples={self.n_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, batches={len(self)})"
        )


def make_moons(
    n: int = 100, noise: float | None = 0.0, seed: int | np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, built as ``sklearn.datasets.make_moons`` builds them."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"make_moons: n must be an int, got {n!r}")
    if n < 1:
        raise ValueError(f"make_moons: n must be at least 1, got {n}")
    noise = 0.0 if noise is None else float(noise)
    if not noise >= 0.0:  # also rejects NaN
        raise ValueError(f"make_moons: noise must be a non-negative number, got {noise}")
    n_out = int(n) // 2
    n_in = int(n) - n_out
    rng = _generator("make_moons", seed)

    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.empty((n_out + n_in, 2), dtype=np.float64)
    X[:n_out, 0] = np.cos(t_out)
    X[:n_out, 1] = np.sin(t_out)
    X[n_out:, 0] = 1.0 - np.cos(t_in)
    # Written as scikit-learn writes it (not 0.5 - sin) so the points agree to the last bit.
    X[n_out:, 1] = 1.0 - np.sin(t_in) - 0.5
    y = np.concatenate([np.zeros(n_out, dtype=np.int64), np.ones(n_in, dtype=np.int64)])

    # scikit-learn shuffles first and adds the noise afterwards; keep that order.
    perm = rng.permutation(n_out + n_in)
    X, y = X[perm], y[perm]
    if noise > 0.0:
        X += rng.normal(scale=noise, size=X.shape)
    return X, y


@lru_cache(maxsize=1)
def _digits_uint8() -> tuple[np.ndarray, np.ndarray]:
    ref = resources.files(__package__ or "autograd_mini") / "datasets" / "digits.npz"
    # Read the bytes first: works whether the package is a directory or inside a zip.
    with ref.open("rb") as f:
        buf = io.BytesIO(f.read())
    with np.load(buf, allow_pickle=False) as npz:
        images, labels = npz["images"], npz["labels"]
    # The cached arrays are shared between calls, so forbid writes to them.
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 8x8 handwritten digits: X (1797, 64) float64 in 0..16, y (1797,) int64."""
    images, labels = _digits_uint8()
    # astype copies, so callers may modify what they get back.
    return images.astype(np.float64), labels.astype(np.int64)
