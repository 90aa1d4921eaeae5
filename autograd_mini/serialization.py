"""Checkpoints: ``save``/``load`` nested state (arrays, Tensors, numbers, strings) as one .npz.

Layout of the file: every array is an entry ``arr_<i>``; the entry ``__structure__`` is UTF-8
JSON (stored as a uint8 array) describing the nesting, with each node tagged by its type so
that tuples stay tuples, ints stay ints, OrderedDicts stay OrderedDicts and Tensors come back
as Tensors. Nothing is pickled, and files are always read with ``allow_pickle=False``, so
loading an untrusted checkpoint cannot run code.

The file is written to exactly ``path`` (no ``.npz`` suffix is added, unlike ``np.savez``).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load"]

_STRUCTURE_KEY = "__structure__"
_FORMAT = "autograd_mini.checkpoint"
_VERSION = 1


def _encode_key(key: Any, path: str) -> list[Any]:
    # JSON objects only have string keys, but optimizer state dicts (as in PyTorch) are keyed
    # by parameter index, so keys are stored as tagged pairs.
    if isinstance(key, str):
        return ["str", key]
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        return ["int", int(key)]
    raise TypeError(
        f"save: dict key {key!r} of type {type(key).__name__} at {path} is not supported "
        f"(only str and int keys)"
    )


def _key_repr(key: Any) -> str:
    return f"[{key!r}]"


class _Encoder:
    """Turns a state into a JSON-able tree plus a dict of arrays to store."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._active: set[int] = set()  # ids of containers on the current path (cycle check)

    def _add_array(self, arr: np.ndarray, path: str) -> str:
        if arr.dtype.hasobject:
            raise TypeError(
                f"save: the array at {path} has dtype {arr.dtype}, which holds Python objects "
                f"and could only be stored by pickling; convert it to a numeric dtype"
            )
        name = f"arr_{len(self.arrays)}"
        self.arrays[name] = arr
        return name

    def encode(self, obj: Any, path: str) -> dict[str, Any]:
        # Order matters: np.float64 is a float subclass and np.bool_ is not a bool, so NumPy
        # scalars are recognised before Python numbers; bool before int (bool subclasses int).
        if isinstance(obj, Tensor):
            node: dict[str, Any] = {"t": "tensor", "k": self._add_array(np.asarray(obj.data), path)}
            if getattr(obj, "requires_grad", False):
                node["requires_grad"] = True
            return node
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "k": self._add_array(obj, path)}
        if isinstance(obj, np.generic):
            return {"t": "npscalar", "k": self._add_array(np.asarray(obj), path)}
        if obj is None:
            return {"t": "none"}
        if isinstance(obj, bool):
            return {"t": "bool", "v": obj}
        if isinstance(obj, int):
            return {"t": "int", "v": int(obj)}
        if isinstance(obj, float):
            # repr round-trips every float exactly, including nan and +-inf, which strict
            # JSON cannot hold as numbers.
            return {"t": "float", "v": repr(float(obj))}
        if isinstance(obj, str):
            return {"t": "str", "v": obj}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"save: the state contains a reference cycle at {path}")
            self._active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    items = [
                        [_encode_key(k, path), self.encode(v, path + _key_repr(k))]
                        for k, v in obj.items()
                    ]
                    kind = "odict" if isinstance(obj, OrderedDict) else "dict"
                    return {"t": kind, "items": items}
                kind = "tuple" if isinstance(obj, tuple) else "list"
                return {
                    "t": kind,
                    "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)],
                }
            finally:
                self._active.discard(id(obj))
        raise TypeError(
            f"save: cannot store an object of type {type(obj).__module__}.{type(obj).__name__} "
            f"at {path}; supported are dict, list, tuple, np.ndarray, Tensor, NumPy scalars, "
            f"int, float, bool, str and None"
        )


def _umask() -> int:
    # NamedTemporaryFile creates files with mode 0600; give the checkpoint the mode a plain
    # open() would. /proc avoids the set-and-restore dance of os.umask, which would briefly
    # change the umask for every thread.
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return _UMASK_AT_IMPORT


def _read_umask_once() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


_UMASK_AT_IMPORT = _read_umask_once()


def save(state: Any, path: str | os.PathLike[str]) -> None:
    """Atomically write ``state`` (nested containers of arrays, Tensors, scalars) to ``path``."""
    path = os.fspath(path)
    # Encode everything before touching the disk: an unsupported value fails without side effects.
    encoder = _Encoder()
    tree = encoder.encode(state, "state")
    header = {"format": _FORMAT, "version": _VERSION, "root": tree}
    structure = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    entries = dict(encoder.arrays)
    entries[_STRUCTURE_KEY] = np.frombuffer(structure, dtype=np.uint8)

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"save: cannot write {path!r}: directory {directory!r} does not exist"
        )
    try:
        mode = os.stat(path).st_mode & 0o7777  # overwriting keeps the old file's permissions
    except OSError:
        mode = 0o666 & ~_umask()

    # Write to a temp file in the same directory (so os.replace is an atomic rename on the same
    # file system), make it durable, then swap it in. A crash or error at any point leaves
    # either the old file or the new one at `path`, never a partial file.
    tmp = tempfile.NamedTemporaryFile(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp", delete=False
    )
    try:
        with tmp:
            np.savez(tmp, **entries)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)
        os.replace(tmp.name, path)
    except BaseException:
        try:
            os.unlink(tmp.name)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    # Persist the rename itself; best effort, as not every platform can open a directory.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _CorruptError(Exception):
    pass


class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays

    def _array(self, node: dict[str, Any]) -> np.ndarray:
        key = node.get("k")
        if key not in self.arrays:
            raise _CorruptError(f"missing array entry {key!r}")
        return self.arrays[key]

    def decode(self, node: Any) -> Any:
        if not isinstance(node, dict) or "t" not in node:
            raise _CorruptError(f"malformed structure node {node!r:.80}")
        t = node["t"]
        if t == "ndarray":
            return self._array(node)
        if t == "tensor":
            tensor = Tensor(self._array(node))
            if node.get("requires_grad"):
                tensor.requires_grad_()
            return tensor
        if t == "npscalar":
            return self._array(node)[()]
        if t == "none":
            return None
        if t == "bool":
            return bool(node["v"])
        if t == "int":
            return int(node["v"])
        if t == "float":
            return float(node["v"])
        if t == "str":
            return str(node["v"])
        if t in ("list", "tuple"):
            items = [self.decode(v) for v in node["items"]]
            return tuple(items) if t == "tuple" else items
        if t in ("dict", "odict"):
            out: dict[Any, Any] = OrderedDict() if t == "odict" else {}
            for (ktype, k), v in node["items"]:
                if ktype == "int":
                    k = int(k)
                elif ktype != "str":
                    raise _CorruptError(f"unknown key type {ktype!r}")
                out[k] = self.decode(v)
            return out
        raise _CorruptError(f"unknown node type {t!r}")


def load(path: str | os.PathLike[str]) -> Any:
    """Read a checkpoint written by :func:`save` and return the same structure."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such checkpoint file: {path!r}")
    try:
        # allow_pickle=False: a checkpoint can never execute code when loaded.
        npz = np.load(path, allow_pickle=False)
    except (IsADirectoryError, PermissionError):
        raise
    except Exception as e:  # np.load raises several types for bad files; report them all alike
        raise ValueError(f"load: {path!r} is not a valid checkpoint (.npz) file: {e}") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"load: {path!r} is a plain .npy array, not an autograd_mini checkpoint")
    try:
        with npz:
            if _STRUCTURE_KEY not in npz.files:
                raise _CorruptError(
                    f"no {_STRUCTURE_KEY!r} entry (not written by autograd_mini.save)"
                )
            # Read every entry now, so the file is closed before returning; CRC and
            # decompression errors of a damaged file surface here.
            arrays = {name: npz[name] for name in npz.files}
        raw = arrays.pop(_STRUCTURE_KEY)
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise _CorruptError(
                f"{_STRUCTURE_KEY!r} entry has dtype {raw.dtype}, shape {raw.shape}"
            )
        header = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(header, dict) or header.get("format") != _FORMAT:
            raise _CorruptError("the structure entry is not an autograd_mini checkpoint header")
        if header.get("version") != _VERSION:
            raise _CorruptError(
                f"checkpoint format version {header.get('version')!r} is not supported "
                f"(this autograd_mini reads version {_VERSION})"
            )
        return _Decoder(arrays).decode(header["root"])
    except (
        _CorruptError,
        zipfile.BadZipFile,
        json.JSONDecodeError,
        UnicodeDecodeError,
        KeyError,
        TypeError,
        ValueError,
        OSError,
        EOFError,
        RecursionError,
    ) as e:
        raise ValueError(
            f"load: {path!r} is corrupt or not an autograd_mini checkpoint: {e}"
        ) from e
