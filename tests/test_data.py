"""Tests for autograd_mini.data: DataLoader, make_moons, load_digits."""

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograd_mini import data as data_mod
from autograd_mini.data import DataLoader, load_digits, make_moons
from autograd_mini.tensor import Tensor


def _indexed(n, d=3, dtype=np.float64):
    """X whose row i is all i, and y = i: a batch reveals which samples it holds."""
    X = np.repeat(np.arange(n, dtype=dtype)[:, None], d, axis=1)
    y = np.arange(n, dtype=np.int64)
    return X, y


def _epoch(loader):
    return [(xb.data.copy(), yb.data.copy()) for xb, yb in loader]


def _epoch_ids(loader):
    return np.concatenate([yb.data for _, yb in loader])


# --------------------------------------------------------------------------- DataLoader


def test_full_batch_is_one_batch_of_everything():
    X, y = _indexed(10)
    loader = DataLoader(X, y, batch_size=None, shuffle=False)
    batches = list(loader)
    assert len(loader) == 1 and len(batches) == 1
    xb, yb = batches[0]
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.shape == (10, 3) and yb.shape == (10,)
    np.testing.assert_array_equal(xb.data, X)
    np.testing.assert_array_equal(yb.data, y)
    assert not xb.requires_grad and not yb.requires_grad


def test_full_batch_shuffled_is_a_permutation_with_rows_kept_together():
    X, y = _indexed(50)
    loader = DataLoader(X, y, seed=0)
    ((xb, yb),) = list(loader)
    assert sorted(yb.data.tolist()) == list(range(50))
    assert not np.array_equal(yb.data, y)  # shuffled (a fixed seed, so not flaky)
    np.testing.assert_array_equal(xb.data[:, 0], yb.data.astype(np.float64))


def test_stochastic_mode_one_sample_per_batch_keeps_batch_axis():
    X, y = _indexed(7, d=4)
    loader = DataLoader(X, y, batch_size=1, seed=1)
    batches = list(loader)
    assert len(loader) == 7 and len(batches) == 7
    for xb, yb in batches:
        assert xb.shape == (1, 4)
        assert yb.shape == (1,)
        assert xb.data[0, 0] == yb.data[0]
    assert sorted(int(yb.data[0]) for _, yb in batches) == list(range(7))


def test_mini_batch_sizes_and_last_partial_batch():
    X, y = _indexed(10)
    loader = DataLoader(X, y, batch_size=3, shuffle=False)
    batches = list(loader)
    assert len(loader) == 4
    assert [xb.shape for xb, _ in batches] == [(3, 3), (3, 3), (3, 3), (1, 3)]
    assert [yb.data.tolist() for _, yb in batches] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_batch_size_larger_than_data_gives_one_batch():
    X, y = _indexed(5)
    loader = DataLoader(X, y, batch_size=64, shuffle=False)
    assert len(loader) == 1
    ((xb, yb),) = list(loader)
    assert xb.shape == (5, 3)
    np.testing.assert_array_equal(yb.data, y)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 60),
    batch_size=st.one_of(st.none(), st.integers(1, 70)),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_sample_exactly_once_per_epoch(n, batch_size, shuffle, seed):
    X, y = _indexed(n, d=2)
    loader = DataLoader(X, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
    step = n if batch_size is None else batch_size
    expected_len = -(-n // step)
    assert len(loader) == expected_len
    for _ in range(2):  # two epochs
        batches = list(loader)
        assert len(batches) == expected_len
        sizes = [yb.shape[0] for _, yb in batches]
        assert all(s == step for s in sizes[:-1]) and 1 <= sizes[-1] <= step
        ids = np.concatenate([yb.data for _, yb in batches])
        assert sorted(ids.tolist()) == list(range(n))
        if not shuffle:
            assert ids.tolist() == list(range(n))
        for xb, yb in batches:
            assert xb.shape == (yb.shape[0], 2)
            np.testing.assert_array_equal(xb.data[:, 0], yb.data.astype(np.float64))


@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_reshuffles_every_epoch(batch_size):
    X, y = _indexed(40)
    loader = DataLoader(X, y, batch_size=batch_size, seed=123)
    orders = [_epoch_ids(loader).tolist() for _ in range(4)]
    # With 40! orders, equal consecutive epochs would mean the rng is not advancing.
    for a, b in zip(orders, orders[1:], strict=False):
        assert a != b
        assert sorted(a) == sorted(b) == list(range(40))


@pytest.mark.parametrize("batch_size", [None, 1, 7])
def test_seeded_loaders_are_reproducible(batch_size):
    X, y = _indexed(30)
    a = DataLoader(X, y, batch_size=batch_size, seed=7)
    b = DataLoader(X, y, batch_size=batch_size, seed=7)
    c = DataLoader(X, y, batch_size=batch_size, seed=8)
    epochs_a = [_epoch_ids(a).tolist() for _ in range(3)]
    epochs_b = [_epoch_ids(b).tolist() for _ in range(3)]
    epochs_c = [_epoch_ids(c).tolist() for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a != epochs_c


def test_an_unseeded_loader_follows_manual_seed():
    # As a shuffling torch DataLoader follows torch.manual_seed: each epoch's order comes
    # from the global generator, so seeding it replays the epochs.
    import autograd_mini as ag

    X, y = _indexed(30)

    def epochs():
        ag.manual_seed(0)
        loader = DataLoader(X, y, batch_size=4)
        return [_epoch_ids(loader).tolist() for _ in range(3)]

    first, again = epochs(), epochs()
    assert first == again
    assert first[0] != first[1]  # still a new order every epoch
    ag.manual_seed(1)
    assert _epoch_ids(DataLoader(X, y, batch_size=4)).tolist() != first[0]


def test_loader_and_moons_reject_bad_data_and_seeds():
    X, y = _indexed(4)
    with pytest.raises(TypeError, match="DataLoader: X must hold numbers, got dtype <U1"):
        DataLoader(np.array([["a"], ["b"]]), [0, 1])
    with pytest.raises(TypeError, match="DataLoader: seed must be an int, a numpy Generator"):
        DataLoader(X, y, seed="a")
    with pytest.raises(TypeError, match="make_moons: seed must be an int"):
        make_moons(10, 0.1, 1.5)
    with pytest.raises(ValueError, match="make_moons: seed must be non-negative, got -1"):
        make_moons(10, 0.1, -1)


def test_unshuffled_loader_ignores_seed_and_repeats():
    X, y = _indexed(9)
    loader = DataLoader(X, y, batch_size=4, shuffle=False, seed=3)
    assert _epoch_ids(loader).tolist() == list(range(9))
    assert _epoch_ids(loader).tolist() == list(range(9))


def test_accepts_tensors_and_keeps_dtypes_and_trailing_shapes():
    X = np.arange(24, dtype=np.float32).reshape(6, 2, 2)
    y = np.eye(6, 3, dtype=np.float32)  # 2-d targets, e.g. one-hot
    loader = DataLoader(Tensor(X), Tensor(y), batch_size=4, shuffle=False)
    (xb1, yb1), (xb2, yb2) = list(loader)
    assert xb1.shape == (4, 2, 2) and xb2.shape == (2, 2, 2)
    assert yb1.shape == (4, 3) and yb2.shape == (2, 3)
    assert xb1.dtype == np.float32 and yb1.dtype == np.float32
    np.testing.assert_array_equal(np.concatenate([xb1.data, xb2.data]), X)
    np.testing.assert_array_equal(np.concatenate([yb1.data, yb2.data]), y)


def test_batches_are_copies_of_the_dataset():
    X, y = _indexed(4)
    loader = DataLoader(X, y, shuffle=False)
    ((xb, yb),) = list(loader)
    xb.data[...] = -1
    yb.data[...] = -1
    np.testing.assert_array_equal(X[:, 0], [0, 1, 2, 3])
    np.testing.assert_array_equal(y, [0, 1, 2, 3])


def test_len_matches_number_of_batches():
    X, y = _indexed(100)
    assert len(DataLoader(X, y)) == 1
    assert len(DataLoader(X, y, batch_size=1)) == 100
    assert len(DataLoader(X, y, batch_size=32)) == 4
    assert len(DataLoader(X, y, batch_size=25)) == 4
    assert len(DataLoader(X, y, batch_size=100)) == 1


def test_length_mismatch_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(4,\)"):
        DataLoader(np.zeros((5, 3)), np.zeros(4))


@pytest.mark.parametrize("bad", [0, -1, -10])
def test_non_positive_batch_size_is_an_error(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.zeros((5, 3)), np.zeros(5), batch_size=bad)


@pytest.mark.parametrize("bad", [2.5, "4", True])
def test_non_integer_batch_size_is_a_type_error(bad):
    with pytest.raises(TypeError, match="batch_size"):
        DataLoader(np.zeros((5, 3)), np.zeros(5), batch_size=bad)


def test_numpy_integer_batch_size_is_accepted():
    loader = DataLoader(np.zeros((5, 3)), np.zeros(5), batch_size=np.int64(2))
    assert len(loader) == 3


def test_empty_data_is_an_error():
    with pytest.raises(ValueError, match=r"empty.*\(0, 3\)"):
        DataLoader(np.zeros((0, 3)), np.zeros(0))


def test_zero_dim_data_is_an_error():
    with pytest.raises(ValueError, match="0-d"):
        DataLoader(np.float64(1.0), np.zeros(1))


@pytest.mark.parametrize("missing", ["X", "y"])
def test_missing_x_or_y_says_it_is_required(missing):
    X, y = _indexed(4)
    args = {"X": X, "y": y, missing: None}
    with pytest.raises(TypeError, match=rf"DataLoader: {missing} is required.*None"):
        DataLoader(args["X"], args["y"])


# --------------------------------------------------------------------------- make_moons


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 101])
def test_make_moons_shapes_dtypes_and_split(n):
    X, y = make_moons(n, noise=0.1, seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert set(np.unique(y).tolist()) <= {0, 1}
    # scikit-learn's split: n // 2 on the outer moon (label 0), the rest on the inner one.
    assert int((y == 0).sum()) == n // 2
    assert int((y == 1).sum()) == n - n // 2


def test_make_moons_defaults():
    X, y = make_moons()
    assert X.shape == (100, 2) and y.shape == (100,)
    assert int(y.sum()) == 50


def test_make_moons_noiseless_points_lie_on_the_two_half_circles():
    X, y = make_moons(200, noise=0.0, seed=0)
    outer, inner = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, atol=1e-12)
    assert (outer[:, 1] >= -1e-12).all()
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, atol=1e-12)
    assert (inner[:, 1] <= 0.5 + 1e-12).all()


def test_make_moons_matches_sklearn_construction_for_n6():
    # sklearn.datasets.make_moons(6, shuffle=False): 3 outer points at angles 0, pi/2, pi,
    # then 3 inner points (1 - cos t, 1 - sin t - 0.5).
    X, y = make_moons(6, noise=0.0, seed=0)
    expected = {
        (1.0, 0.0, 0),
        (0.0, 1.0, 0),
        (-1.0, 0.0, 0),
        (0.0, 0.5, 1),
        (1.0, -0.5, 1),
        (2.0, 0.5, 1),
    }
    got = {(round(a, 12) + 0.0, round(b, 12) + 0.0, int(c)) for (a, b), c in zip(X, y, strict=True)}
    assert got == expected


def test_make_moons_is_shuffled_and_deterministic():
    X1, y1 = make_moons(100, noise=0.2, seed=42)
    X2, y2 = make_moons(100, noise=0.2, seed=42)
    X3, _ = make_moons(100, noise=0.2, seed=43)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert not np.array_equal(y1, np.sort(y1))  # labels are interleaved, not in two blocks


def test_make_moons_noise_has_the_requested_scale():
    clean, yc = make_moons(4000, noise=0.0, seed=5)
    noisy, yn = make_moons(4000, noise=0.1, seed=5)
    # Same seed => same shuffle, so the difference is exactly the added noise.
    np.testing.assert_array_equal(yc, yn)
    diff = noisy - clean
    assert abs(diff.std() - 0.1) < 0.005
    assert abs(diff.mean()) < 0.01


def test_make_moons_noise_none_means_no_noise():
    X0, y0 = make_moons(50, noise=None, seed=1)
    X1, y1 = make_moons(50, noise=0.0, seed=1)
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(y0, y1)


def test_make_moons_errors():
    with pytest.raises(ValueError, match="n must be at least 1"):
        make_moons(0)
    with pytest.raises(TypeError, match="n must be an int"):
        make_moons(10.0)
    with pytest.raises(ValueError, match="noise"):
        make_moons(10, noise=-0.1)
    with pytest.raises(ValueError, match="noise"):
        make_moons(10, noise=float("nan"))


# --------------------------------------------------------------------------- load_digits

# Known values of scikit-learn's load_digits() (sklearn 1.9.1), hard-coded so the tests do not
# need scikit-learn.
DIGITS_X0 = [
    0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0,
    0, 4, 12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0,
    0, 2, 14, 5, 10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0,
]  # fmt: skip
DIGITS_XLAST = [
    0, 0, 10, 14, 8, 1, 0, 0, 0, 2, 16, 14, 6, 1, 0, 0, 0, 0, 15, 15, 8, 15, 0, 0,
    0, 0, 5, 16, 16, 10, 0, 0, 0, 0, 12, 15, 15, 12, 0, 0, 0, 4, 16, 6, 4, 16, 6, 0,
    0, 8, 16, 10, 8, 16, 8, 0, 0, 1, 8, 12, 14, 12, 1, 0,
]  # fmt: skip
DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
DIGITS_SHA256_X_UINT8 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"
DIGITS_SHA256_Y_UINT8 = "8ba4f891220f5e4c9c819638d1602d74b83618f167043c6da52a2a247841ddf0"


def test_load_digits_shapes_dtypes_and_ranges():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 16.0
    np.testing.assert_array_equal(X, np.round(X))  # integer pixel counts
    assert y.min() == 0 and y.max() == 9


def test_load_digits_known_values():
    X, y = load_digits()
    assert X[0].tolist() == DIGITS_X0
    assert X[-1].tolist() == DIGITS_XLAST
    assert y[:10].tolist() == list(range(10))
    assert y[-5:].tolist() == [9, 0, 8, 9, 8]
    assert X.sum() == 561718.0
    assert (X**2).sum() == 6907012.0
    assert int(y.sum()) == 8070
    assert np.bincount(y).tolist() == DIGITS_CLASS_COUNTS
    # Every value, not only the summaries.
    assert hashlib.sha256(X.astype(np.uint8).tobytes()).hexdigest() == DIGITS_SHA256_X_UINT8
    assert hashlib.sha256(y.astype(np.uint8).tobytes()).hexdigest() == DIGITS_SHA256_Y_UINT8


def test_load_digits_returns_fresh_writable_arrays():
    X, y = load_digits()
    X[0, 0] = 99.0
    y[0] = 7
    X2, y2 = load_digits()
    assert X2[0, 0] == 0.0 and y2[0] == 0


def test_load_digits_without_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    data_mod._digits_uint8.cache_clear()  # force a real read from the package
    X, y = load_digits()
    assert X.shape == (1797, 64)
    assert X[0].tolist() == DIGITS_X0


def test_load_digits_without_network_in_a_fresh_interpreter():
    # Networking is cut before autograd_mini is even imported.
    code = (
        "import socket\n"
        "def boom(*a, **k):\n"
        "    raise OSError('network disabled')\n"
        "socket.socket = socket.create_connection = socket.getaddrinfo = boom\n"
        "from autograd_mini.data import load_digits\n"
        "X, y = load_digits()\n"
        "print(X.shape, y.shape, int(X.sum()), int(y.sum()))\n"
    )
    root = str(Path(data_mod.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1797, 64) (1797,) 561718 8070"


def test_digits_file_is_small_and_pickle_free():
    path = Path(data_mod.__file__).parent / "datasets" / "digits.npz"
    assert path.stat().st_size < 100_000
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == ["images", "labels"]
        assert npz["images"].dtype == np.uint8
    assert (path.parent / "LICENSE_digits.txt").is_file()


# ------------------------------------------------------------------ found by mutation testing


def test_a_bool_seed_is_refused():
    X, y = _indexed(4)
    with pytest.raises(TypeError, match="DataLoader: seed must be an int"):
        DataLoader(X, y, seed=True)
    with pytest.raises(TypeError, match="make_moons: seed must be an int"):
        make_moons(10, 0.1, True)


def test_loader_options_are_plain_python_values():
    X, y = _indexed(8)
    loader = DataLoader(X, y, batch_size=np.int64(4), shuffle=0)
    assert type(loader.batch_size) is int and loader.batch_size == 4
    assert loader.shuffle is False
    assert repr(loader) == "DataLoader(n_samples=8, batch_size=4, shuffle=False, batches=2)"


def test_make_moons_agrees_with_sklearn_to_the_last_bit():
    # sklearn computes the inner moon's y as 1 - sin(t) - 0.5; 0.5 - sin(t) differs in the
    # last bit for some t (6 of the 50 here).
    X, y = make_moons(100, noise=0.0, seed=0)
    t = np.linspace(0.0, np.pi, 50)
    outer = np.stack([np.cos(t), np.sin(t)], axis=1)
    inner = np.stack([1.0 - np.cos(t), 1.0 - np.sin(t) - 0.5], axis=1)
    assert sorted(map(tuple, X[y == 0])) == sorted(map(tuple, outer))
    assert sorted(map(tuple, X[y == 1])) == sorted(map(tuple, inner))
