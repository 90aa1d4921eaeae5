"""Tests for autograd_mini.serialization: save/load round trips, refusals, atomicity, errors."""

import io
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
    numeric = arr.dtype.kind in "biufc"  # a Tensor holds numbers; a plain array anything
    state = {"a": arr, "t": Tensor(arr)} if numeric else {"a": arr}
    back = roundtrip(state, tmp_path)
    for got in (back["a"], back["t"].data) if numeric else (back["a"],):
        assert isinstance(got, np.ndarray)
        assert got.dtype == arr.dtype
        assert got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)
    if numeric:
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


def test_a_parameter_loads_back_as_a_parameter(tmp_path):
    from autograd_mini.nn import Parameter

    state = {"w": Parameter(np.arange(3.0)), "frozen": Parameter(np.arange(2), requires_grad=False)}
    back = roundtrip({**state, "t": Tensor(np.ones(2))}, tmp_path)
    assert type(back["w"]) is Parameter and back["w"].requires_grad is True
    assert type(back["frozen"]) is Parameter and back["frozen"].requires_grad is False
    np.testing.assert_array_equal(back["frozen"].data, [0, 1])
    assert type(back["t"]) is Tensor


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


# --------------------------------------------------------------------------- crafted entries

_HEADER_OF = {"format": "autograd_mini.checkpoint", "version": 1}


def _npy_header(shape, descr="<f8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def _zip_with(path, root, entries, compression=zipfile.ZIP_DEFLATED):
    """A checkpoint zip whose structure has ``root`` and whose other entries are raw bytes."""
    structure = io.BytesIO()
    raw = json.dumps({**_HEADER_OF, "root": root}).encode()
    np.save(structure, np.frombuffer(raw, dtype=np.uint8))
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        zf.writestr("__structure__.npy", structure.getvalue())
        for name, data in entries.items():
            zf.writestr(name, data)


@pytest.mark.parametrize(
    "shape, n_bytes",
    [
        ((10**12,), 16),  # 7.28 TiB declared in a file of a few hundred bytes
        ((3,), 16),  # fewer bytes than declared
        ((1,), 16),  # more bytes than declared
    ],
)
def test_entry_whose_header_disagrees_with_its_size_is_corrupt(tmp_path, shape, n_bytes):
    path = tmp_path / "huge.npz"
    _zip_with(
        path, {"t": "ndarray", "k": "arr_0"}, {"arr_0.npy": _npy_header(shape) + b"\0" * n_bytes}
    )
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError, match=r"huge\.npz.*corrupt.*arr_0.*declares shape"):
        load(path)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_compressions_savez_never_writes_are_refused(tmp_path, method):
    # bzip2 packs 100 MB of zeros into ~100 bytes (LZMA into ~15 kB): such a file could make
    # a load allocate a million times its size. Deflate, which np.savez uses, tops at ~1032x.
    path = tmp_path / "bomb.npz"
    n = 10**7
    _zip_with(
        path,
        {"t": "ndarray", "k": "arr_0"},
        {"arr_0.npy": _npy_header((n,)) + bytes(8 * n)},
        compression=method,
    )
    assert path.stat().st_size < 100_000
    with pytest.raises(ValueError, match=f"bomb.npz.*compression method {method}"):
        load(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_file_is_refused_before_it_is_read():
    with pytest.raises(ValueError, match="not a regular file"):
        load("/dev/zero")  # zipfile would read it for ever, looking for the directory


def test_unreferenced_entries_are_never_read(tmp_path, monkeypatch):
    path = tmp_path / "extra.npz"
    good = io.BytesIO()
    np.save(good, np.arange(3.0))
    # Ten million zeros compress to a few kB; a loader that reads every entry inflates them.
    bomb = _npy_header((10**7,)) + bytes(8 * 10**7)
    _zip_with(
        path,
        {"t": "list", "items": [{"t": "ndarray", "k": "arr_0"}]},
        {"arr_0.npy": good.getvalue(), "bomb.npy": bomb, "huge.npy": _npy_header((10**12,))},
    )
    assert path.stat().st_size < 200_000
    opened = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    back = load(path)
    assert len(back) == 1
    np.testing.assert_array_equal(back[0], np.arange(3.0))
    assert set(opened) == {"__structure__.npy", "arr_0.npy"}


def test_memory_error_while_reading_is_a_corrupt_file_error(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    save({"w": np.ones(4)}, path)

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 7.28 TiB (planted)")

    monkeypatch.setattr(np.lib.format, "read_array", out_of_memory)
    with pytest.raises(ValueError, match=r"ckpt\.npz.*corrupt.*7\.28 TiB"):
        load(path)


def test_entry_referenced_twice_is_corrupt(tmp_path):
    path = tmp_path / "twice.npz"
    arr = io.BytesIO()
    np.save(arr, np.ones(2))
    root = {"t": "list", "items": [{"t": "ndarray", "k": "arr_0"}, {"t": "ndarray", "k": "arr_0"}]}
    _zip_with(path, root, {"arr_0.npy": arr.getvalue()})
    with pytest.raises(ValueError, match=r"twice\.npz.*arr_0.*referenced twice"):
        load(path)


def test_npy_format_3_entries_load(tmp_path):
    # np.save writes .npy version 3.0 (UTF-8 header) for non-Latin-1 field names.
    arr = np.array([(1, 2.5), (3, -1.0)], dtype=[("🙂", "<i4"), ("x", "<f8")])
    path = tmp_path / "v3.npz"
    with pytest.warns(UserWarning, match="3.0"):
        save({"a": arr}, path)
    with zipfile.ZipFile(path) as zf:
        assert zf.read("arr_0.npy")[6:8] == b"\x03\x00"
    back = load(path)
    assert back["a"].dtype == arr.dtype
    np.testing.assert_array_equal(back["a"], arr)


def test_npy_format_3_header_is_size_checked(tmp_path):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    header += b" " * (-(12 + len(header) + 1) % 64) + b"\n"
    entry = b"\x93NUMPY\x03\x00" + len(header).to_bytes(4, "little") + header + b"\0" * 16
    path = tmp_path / "v3huge.npz"
    _zip_with(path, {"t": "ndarray", "k": "arr_0"}, {"arr_0.npy": entry})
    with pytest.raises(ValueError, match=r"v3huge\.npz.*corrupt.*declares shape"):
        load(path)


_ARR = {"t": "ndarray", "k": "arr_0"}


@pytest.mark.parametrize(
    "root",
    [
        {"t": "bool", "v": "false"},
        {"t": "bool", "v": 0},
        {"t": "int", "v": 1.7},
        {"t": "int", "v": True},
        {"t": "int", "v": "3"},
        {"t": "float", "v": 1.5},
        {"t": "float", "v": "1_0"},
        {"t": "float", "v": " 1.5"},
        {"t": "float", "v": "1e400"},
        {"t": "str", "v": 5},
        {"t": "str"},
        {"t": "npscalar", "k": "arr_0"},  # arr_0 is 1-d
        {"t": "ndarray", "k": 0},
        {"t": "tensor", "k": "arr_0", "requires_grad": "yes"},
        {"t": "tensor", "k": "arr_0", "parameter": 1},
        {"t": "tensor", "k": "arr_0", "parameter": True, "requires_grad": True},  # int data
        {"t": "list", "items": 5},
        {"t": "list", "items": {"a": 1}},
        {"t": "tuple"},
        {"t": "dict", "items": [[["int", "1"], {"t": "none"}]]},
        {"t": "dict", "items": [[["str", 1], {"t": "none"}]]},
        {"t": "dict", "items": [[["float", 1.5], {"t": "none"}]]},
        {"t": "dict", "items": [[["str", "a"], {"t": "none"}], [["str", "a"], {"t": "none"}]]},
        {"t": "dict", "items": [["x"]]},
        {"t": "odict", "items": [[["str", "a"], {"t": "none"}, 1]]},
        {"t": "__class__"},
        5,
    ],
    ids=lambda r: json.dumps(r)[:50],
)
def test_node_payload_of_the_wrong_type_is_corrupt(tmp_path, root):
    path = tmp_path / "crafted.npz"
    _write_with_structure(
        path, json.dumps({**_HEADER_OF, "root": root}).encode(), arr_0=np.array([1, 2])
    )
    with pytest.raises(ValueError, match=r"crafted\.npz.*corrupt"):
        load(path)


def test_well_typed_nodes_load_to_their_exact_values(tmp_path):
    path = tmp_path / "crafted.npz"
    root = {
        "t": "list",
        "items": [
            {"t": "bool", "v": False},
            {"t": "int", "v": 7},
            {"t": "float", "v": "-0.0"},
            {"t": "float", "v": "nan"},
            {"t": "str", "v": "s"},
            {"t": "npscalar", "k": "arr_0"},
        ],
    }
    _write_with_structure(
        path, json.dumps({**_HEADER_OF, "root": root}).encode(), arr_0=np.array(3, np.int16)
    )
    b, i, f, nan, s, scalar = load(path)
    assert b is False and type(i) is int and i == 7 and s == "s"
    assert f == 0.0 and math.copysign(1.0, f) == -1.0 and math.isnan(nan)
    assert type(scalar) is np.int16 and scalar == 3


# --------------------------------------------------------------------------- paths


def test_file_name_of_255_characters_can_be_saved(tmp_path):
    name = "a" * 251 + ".npz"
    with open(tmp_path / "probe", "w"):  # open() accepts such a name; so must save
        pass
    save({"w": np.arange(3.0)}, tmp_path / name)
    assert sorted(os.listdir(tmp_path)) == sorted([name, "probe"])
    np.testing.assert_array_equal(load(tmp_path / name)["w"], np.arange(3.0))


def test_temp_file_name_is_short_for_long_targets(tmp_path, monkeypatch):
    names = []
    real = tempfile.NamedTemporaryFile

    def spy(*args, **kwargs):
        f = real(*args, **kwargs)
        names.append(os.path.basename(f.name))
        return f

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", spy)
    save({}, tmp_path / ("b" * 200 + ".npz"))
    assert len(names) == 1 and names[0].startswith("." + "b" * 64 + ".")
    assert len(names[0]) < 100


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_save_writes_through_a_symlink(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "ckpt.npz"
    save({"v": 1}, target)
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    save({"v": 2}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load(target) == {"v": 2}
    assert load(link) == {"v": 2}
    assert sorted(os.listdir(tmp_path)) == ["latest.npz", "real"]
    assert os.listdir(real_dir) == ["ckpt.npz"]  # the temp file was made beside the target


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_save_through_a_dangling_symlink_creates_the_target(tmp_path):
    link = tmp_path / "latest.npz"
    link.symlink_to(tmp_path / "new.npz")
    save({"v": 3}, link)
    assert link.is_symlink()
    assert load(tmp_path / "new.npz") == {"v": 3}


def test_bytes_path_is_a_clear_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"save: path must be a str or os\.PathLike.*bytes"):
        save({}, os.fsencode(tmp_path / "x.npz"))
    with pytest.raises(TypeError, match=r"save: path must be .*int"):
        save({}, 3)
    with pytest.raises(TypeError, match=r"load: path must be .*NoneType"):
        load(None)
    assert os.listdir(tmp_path) == []


def test_load_accepts_bytes_paths_as_np_load_does(tmp_path):
    save({"v": 1}, tmp_path / "x.npz")
    assert load(os.fsencode(tmp_path / "x.npz")) == {"v": 1}


def test_save_onto_a_directory_names_the_users_path(tmp_path):
    target = tmp_path / "somedir"
    target.mkdir()
    with pytest.raises(IsADirectoryError, match=r"save: cannot write '.*somedir'.*directory") as e:
        save({}, target)
    assert ".tmp" not in str(e.value)
    assert os.listdir(tmp_path) == ["somedir"] and os.listdir(target) == []


MAX_DEPTH = 200  # the nesting limit save and load share


def _nested(depth):
    state = leaf = []
    for _ in range(depth - 1):
        leaf.append([])
        leaf = leaf[0]
    return state


def test_deep_nesting_up_to_the_limit_round_trips(tmp_path):
    back = roundtrip(_nested(MAX_DEPTH), tmp_path)
    for _ in range(MAX_DEPTH - 1):
        assert type(back) is list and len(back) == 1
        back = back[0]
    assert back == []


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000])
def test_too_deep_nesting_is_a_clear_value_error_from_save(tmp_path, depth):
    with pytest.raises(ValueError, match=r"save: the state nests containers more than 200 deep"):
        save(_nested(depth), tmp_path / "deep.npz")
    assert os.listdir(tmp_path) == []


def test_too_deep_structure_in_a_file_is_corrupt(tmp_path):
    depth = MAX_DEPTH + 1
    root = '{"t":"list","items":[' * depth + "]}" * depth
    header = f'{{"format":"autograd_mini.checkpoint","version":1,"root":{root}}}'
    _write_with_structure(tmp_path / "deep.npz", header.encode())
    with pytest.raises(ValueError, match=r"deep\.npz.*corrupt.*200 deep"):
        load(tmp_path / "deep.npz")


def test_int_too_large_for_json_names_save_and_the_key_path(tmp_path):
    with pytest.raises(ValueError, match=r"save: the int at state\['opt'\]\['big'\] is too large"):
        save({"opt": {"big": 10**5000}}, tmp_path / "c.npz")
    with pytest.raises(ValueError, match=r"save: the int dict key in state\['m'\] is too large"):
        save({"m": {10**5000: 1}}, tmp_path / "c.npz")
    assert os.listdir(tmp_path) == []
    assert roundtrip({"big": 10**4000}, tmp_path) == {"big": 10**4000}


# ------------------------------------------------------------------ found by mutation testing


@pytest.mark.parametrize("reshape, dtype", [((1, -1), np.uint8), ((-1,), np.int8)])
def test_structure_entry_of_the_wrong_shape_or_dtype_is_corrupt(tmp_path, reshape, dtype):
    path = tmp_path / "odd.npz"
    structure = json.dumps(
        {"format": "autograd_mini.checkpoint", "version": 1, "root": {"t": "none"}}
    ).encode()
    np.savez(path, __structure__=np.frombuffer(structure, dtype=dtype).reshape(reshape))
    with pytest.raises(ValueError, match=r"odd\.npz.*__structure__"):
        load(path)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux's /proc")
def test_a_directory_that_takes_no_files_is_named_in_the_error_not_the_temp_file():
    # /proc exists but no file can be made in it (not even by root).
    with pytest.raises(OSError, match=r"save: cannot write '/proc/x\.npz': ") as info:
        save({"a": np.zeros(2)}, "/proc/x.npz")
    assert ".tmp" not in str(info.value)
    with pytest.raises(FileNotFoundError, match="save: cannot write '': the file name is empty"):
        save({}, "")
