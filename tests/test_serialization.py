"""Tests for autograd_mini.serialization: save/load round trips, refusals, atomicity, errors."""

import json
import math
import os
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_mini.serialization as ser
from autograd_mini.serialization import load, save
from autograd_mini.tensor import Tensor


def assert_same(a, b, path="state"):
    """Exact structural equality: same types, dtypes, shapes and values (NaN equals NaN)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, Tensor):
        assert_same(a.data, b.data, path + ".data")
        assert bool(getattr(a, "requires_grad", False)) == bool(getattr(b, "requires_grad", False))
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype, f"{path}: {a.dtype} != {b.dtype}"
        assert np.shape(a) == np.shape(b), f"{path}: {np.shape(a)} != {np.shape(b)}"
        # Byte equality is exact for every dtype and treats identical NaNs as equal.
        assert np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes(), path
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), path
        for k in a:
            assert type(k) is type(next(kk for kk in b if kk == k)), f"{path}: key type {k!r}"
            assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def roundtrip(state, directory):
    path = Path(directory) / "ckpt.npz"
    save(state, path)
    return load(path)


def _checkpoint_like_state():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    return {
        "model": OrderedDict(
            [
                ("0.weight", w),
                ("0.bias", np.zeros(4, dtype=np.float32)),
                ("2.weight", Tensor(rng.standard_normal((2, 4)))),
            ]
        ),
        "optim": {
            # torch.optim state dicts key their per-parameter state by int.
            "state": {
                0: {"step": 3, "exp_avg": np.ones((4, 3)), "exp_avg_sq": np.full((4, 3), 0.5)},
                1: {"step": 3, "momentum_buffer": None},
            },
            "param_groups": [
                {
                    "params": [0, 1, 2],
                    "lr": 1e-3,
                    "betas": (0.9, 0.999),
                    "eps": 1e-8,
                    "weight_decay": 0,
                    "amsgrad": False,
                    "name": "default",
                }
            ],
        },
        "epoch": 3,
        "best_loss": 0.1 + 0.2,
        "history": [1.5, float("inf"), float("-inf"), float("nan"), -0.0],
        "big": 2**100,
        "neg": -7,
        "note": 'héllo ✓ "quoted" \n newline',
        "flags": (True, False, None),
        "empty_dict": {},
        "empty_list": [],
        "empty_tuple": (),
        "nested_empty": [[], {}, ()],
        "np_scalars": [np.float32(1.5), np.int64(-3), np.bool_(True), np.float64(2.25)],
    }


def test_roundtrip_checkpoint_like_state(tmp_path):
    state = _checkpoint_like_state()
    back = roundtrip(state, tmp_path)
    assert_same(state, back)
    # Spot checks with plain asserts, so a bug in assert_same cannot hide a failure.
    assert type(back["model"]) is OrderedDict
    assert list(back["model"]) == ["0.weight", "0.bias", "2.weight"]
    assert back["model"]["0.weight"].dtype == np.float32
    np.testing.assert_array_equal(back["model"]["0.weight"], state["model"]["0.weight"])
    assert isinstance(back["model"]["2.weight"], Tensor)
    assert back["model"]["2.weight"].data.dtype == np.float64
    np.testing.assert_array_equal(back["model"]["2.weight"].data, state["model"]["2.weight"].data)
    assert set(back["optim"]["state"]) == {0, 1}
    assert back["optim"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert type(back["optim"]["param_groups"][0]["betas"]) is tuple
    assert back["epoch"] == 3 and type(back["epoch"]) is int
    assert back["best_loss"] == 0.30000000000000004 and type(back["best_loss"]) is float
    assert back["optim"]["param_groups"][0]["weight_decay"] == 0
    assert type(back["optim"]["param_groups"][0]["weight_decay"]) is int
    assert back["big"] == 2**100
    assert math.isnan(back["history"][3]) and back["history"][1] == math.inf
    assert math.copysign(1.0, back["history"][4]) == -1.0
    assert type(back["np_scalars"][0]) is np.float32 and back["np_scalars"][0] == 1.5
    assert type(back["np_scalars"][2]) is np.bool_


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.linspace(-1, 1, 7),
        np.arange(-5, 5, dtype=np.int64),
        np.array([True, False, True]),
        np.arange(256, dtype=np.uint8),
        np.array([1, -2], dtype=np.int8),
        np.array([1.5, np.nan], dtype=np.float16),
        np.array([1 + 2j, -3j], dtype=np.complex128),
        np.array(3.5),  # 0-d
        np.array(7, dtype=np.int64),  # 0-d int
        np.zeros((0,)),
        np.zeros((0, 3), dtype=np.float32),
        np.zeros((2, 0, 4), dtype=np.int64),
        np.arange(12.0).reshape(3, 4).T,  # non-contiguous view
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.array(["ab", "c"]),  # fixed-width unicode, no pickle needed
        np.array(["2024-01-01"], dtype="datetime64[D]"),
    ],
    ids=lambda a: f"{a.dtype}-{a.shape}",
)
def test_array_dtypes_and_shapes_are_exact(tmp_path, arr):
    back = roundtrip({"a": arr, "t": Tensor(arr)}, tmp_path)
    for got in (back["a"], back["t"].data):
        assert isinstance(got, np.ndarray)
        assert got.dtype == arr.dtype
        assert got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)
    assert isinstance(back["t"], Tensor)


def test_bare_array_and_bare_values_as_state(tmp_path):
    a = np.arange(5.0)
    np.testing.assert_array_equal(roundtrip(a, tmp_path), a)
    assert roundtrip(5, tmp_path) == 5
    assert roundtrip(None, tmp_path) is None
    assert roundtrip("x", tmp_path) == "x"
    t = roundtrip(Tensor(a), tmp_path)
    assert isinstance(t, Tensor)
    np.testing.assert_array_equal(t.data, a)


def test_loaded_arrays_are_writable_and_independent(tmp_path):
    back = roundtrip({"a": np.arange(3.0), "b": np.arange(3.0)}, tmp_path)
    back["a"][0] = 42.0
    assert back["b"][0] == 0.0
    assert back["a"].flags.writeable


def test_requires_grad_is_restored(tmp_path):
    t = Tensor(np.ones(3))
    t.requires_grad_()
    back = roundtrip({"t": t, "plain": Tensor(np.ones(3))}, tmp_path)
    assert back["t"].requires_grad is True
    assert back["plain"].requires_grad is False


# Hypothesis: random nesting of many dtypes and shapes.
_dtypes = st.sampled_from(
    [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_, np.int8, np.float16]
)
_arrays = hnp.arrays(
    dtype=_dtypes, shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
)
_leaves = st.one_of(
    _arrays,
    _arrays.map(Tensor),
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
)
_keys = st.one_of(st.text(max_size=8), st.integers(-5, 5))
_states = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_keys, children, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=_states)
def test_roundtrip_property(state):
    with tempfile.TemporaryDirectory() as d:
        back = roundtrip(state, d)
        assert_same(state, back)
        assert os.listdir(d) == ["ckpt.npz"]


def test_file_is_a_pickle_free_npz_with_a_json_structure(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.ones(2), "epoch": 1}, path)
    with np.load(path, allow_pickle=False) as npz:
        raw = npz["__structure__"]
        assert raw.dtype == np.uint8 and raw.ndim == 1
        header = json.loads(raw.tobytes().decode("utf-8"))
        assert header["format"] == "autograd_mini.checkpoint"
        assert header["version"] == 1
        assert all(npz[name].dtype != object for name in npz.files)


def test_path_is_used_exactly_without_adding_suffix(tmp_path):
    path = tmp_path / "model.ckpt"
    save({"a": 1}, str(path))
    assert os.listdir(tmp_path) == ["model.ckpt"]
    assert load(str(path)) == {"a": 1}


def test_overwrite_replaces_previous_content(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"v": 1}, path)
    save({"v": 2, "w": np.zeros(3)}, path)
    back = load(path)
    assert back["v"] == 2 and back["w"].shape == (3,)
    assert os.listdir(tmp_path) == ["ckpt.npz"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_new_file_gets_normal_permissions_not_tempfile_0600(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "ckpt.npz"
        save({"a": 1}, path)
        assert (path.stat().st_mode & 0o777) == 0o644
        os.chmod(path, 0o640)
        save({"a": 2}, path)  # overwriting keeps the existing file's mode
        assert (path.stat().st_mode & 0o777) == 0o640
    finally:
        os.umask(old)


# --------------------------------------------------------------------------- refusals


def test_object_array_is_refused_naming_the_key_path(tmp_path):
    path = tmp_path / "ckpt.npz"
    state = {"model": {"ok": np.ones(2), "bad": np.array([1, "x", None], dtype=object)}}
    with pytest.raises(TypeError, match=r"state\['model'\]\['bad'\].*object"):
        save(state, path)
    assert os.listdir(tmp_path) == []  # nothing written, no temp file left


def test_object_array_inside_tensor_and_list_is_refused(tmp_path):
    with pytest.raises(TypeError, match=r"state\['xs'\]\[1\]"):
        save({"xs": [np.ones(1), np.array([{}], dtype=object)]}, tmp_path / "c.npz")
    try:
        t = Tensor(np.array([object()], dtype=object))
    except TypeError:
        t = None  # the Tensor class itself refuses object arrays: nothing more to check
    if t is not None:
        with pytest.raises(TypeError, match=r"state\['t'\]"):
            save({"t": t}, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_unsupported_types_are_refused_naming_the_path(tmp_path):
    with pytest.raises(TypeError, match=r"set.*state\['s'\]"):
        save({"s": {1, 2}}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match=r"key .*1\.5"):
        save({1.5: 1}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="bytes"):
        save([b"raw"], tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []


def test_reference_cycle_is_refused(tmp_path):
    a = {"x": 1}
    a["self"] = a
    with pytest.raises(ValueError, match="cycle"):
        save(a, tmp_path / "c.npz")


def test_shared_subtrees_are_fine(tmp_path):
    shared = np.arange(3.0)
    back = roundtrip({"a": shared, "b": shared, "l": [shared, shared]}, tmp_path)
    np.testing.assert_array_equal(back["b"], shared)
    np.testing.assert_array_equal(back["l"][1], shared)


# --------------------------------------------------------------------------- atomicity

OLD_STATE = {"epoch": 1, "w": np.arange(4.0)}


def _fail_savez_mid_write(file, *args, **kwargs):
    # Write part of a zip, as a crash halfway through would, then fail.
    file.write(b"PK\x03\x04 partial garbage")
    raise OSError("disk full (planted)")


def _fail_replace(src, dst):
    raise OSError("rename failed (planted)")


def _fail_fsync(fd):
    raise OSError("fsync failed (planted)")


def _interrupt_savez(file, *args, **kwargs):
    file.write(b"PK")
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "target, replacement, exc",
    [
        ("savez", _fail_savez_mid_write, OSError),
        ("replace", _fail_replace, OSError),
        ("fsync", _fail_fsync, OSError),
        ("savez", _interrupt_savez, KeyboardInterrupt),
    ],
)
def test_failure_mid_write_keeps_old_file_and_leaves_no_temp(
    tmp_path, monkeypatch, target, replacement, exc
):
    path = tmp_path / "ckpt.npz"
    save(OLD_STATE, path)
    old_bytes = path.read_bytes()
    owner = np if target == "savez" else os
    monkeypatch.setattr(owner, target, replacement)
    with pytest.raises(exc):
        save({"epoch": 2, "w": np.zeros(100)}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    assert path.read_bytes() == old_bytes
    assert_same(load(path), OLD_STATE)


def test_failure_without_old_file_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", _fail_savez_mid_write)
    with pytest.raises(OSError, match="planted"):
        save(OLD_STATE, tmp_path / "ckpt.npz")
    assert os.listdir(tmp_path) == []


def test_save_into_missing_directory_names_the_path(tmp_path):
    path = tmp_path / "no" / "such" / "ckpt.npz"
    with pytest.raises(FileNotFoundError, match="ckpt.npz"):
        save({"a": 1}, path)


# --------------------------------------------------------------------------- corrupt files


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load(path)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.random.default_rng(0).standard_normal(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"ckpt\.npz.*(corrupt|not a valid)"):
        load(path)


def test_flipped_bytes_are_a_clear_error(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"w": np.arange(1000.0)}, path)
    data = bytearray(path.read_bytes())
    data[200:260] = b"\xff" * 60  # inside the array payload: CRC check must catch it
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"ckpt\.npz"):
        load(path)


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not a checkpoint at all" * 10)
    with pytest.raises(ValueError, match="garbage.npz"):
        load(path)


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.npz"):
        load(path)


def test_plain_npy_is_refused(tmp_path):
    path = tmp_path / "arr.npy"
    np.save(path, np.arange(3))
    with pytest.raises(ValueError, match=r"arr\.npy.*\.npy"):
        load(path)


def test_foreign_npz_without_structure_is_refused(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, a=np.arange(3))
    with pytest.raises(ValueError, match=r"foreign\.npz.*__structure__"):
        load(path)


def test_pickled_content_is_never_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    structure = json.dumps(
        {"format": "autograd_mini.checkpoint", "version": 1, "root": {"t": "ndarray", "k": "arr_0"}}
    ).encode()
    np.savez(
        path,
        arr_0=np.array([{"x": 1}], dtype=object),  # np.savez pickles object arrays
        __structure__=np.frombuffer(structure, dtype=np.uint8),
    )
    with pytest.raises(ValueError, match=r"evil\.npz.*pickle"):
        load(path)


def _write_with_structure(path, structure_bytes, **arrays):
    np.savez(path, __structure__=np.frombuffer(structure_bytes, dtype=np.uint8), **arrays)


@pytest.mark.parametrize(
    "structure, match",
    [
        (b"{not json", "corrupt"),
        (b"\xff\xfe", "corrupt"),
        (json.dumps({"format": "other", "version": 1, "root": {"t": "none"}}).encode(), "header"),
        (
            json.dumps(
                {"format": "autograd_mini.checkpoint", "version": 99, "root": {"t": "none"}}
            ).encode(),
            "version 99",
        ),
        (
            json.dumps(
                {"format": "autograd_mini.checkpoint", "version": 1, "root": {"t": "alien"}}
            ).encode(),
            "alien",
        ),
        (
            json.dumps(
                {
                    "format": "autograd_mini.checkpoint",
                    "version": 1,
                    "root": {"t": "ndarray", "k": "arr_7"},
                }
            ).encode(),
            "arr_7",
        ),
    ],
)
def test_bad_structure_entry_is_a_clear_error(tmp_path, structure, match):
    path = tmp_path / "bad.npz"
    _write_with_structure(path, structure)
    with pytest.raises(ValueError, match=rf"bad\.npz.*{match}"):
        load(path)


def test_load_of_directory_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        load(tmp_path)


def test_checkpoint_is_a_zip_with_one_entry_per_array(tmp_path):
    path = tmp_path / "ckpt.npz"
    save({"a": np.ones(2), "b": [np.zeros(1), 3]}, path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["__structure__.npy", "arr_0.npy", "arr_1.npy"]


def test_module_exports():
    assert ser.__all__ == ["save", "load"]
