"""Checkpoints: ``save``/``load`` nested state (arrays, Tensors, numbers, strings) as one .npz.

Layout of the file: every array is an entry ``arr_<i>``; the entry ``__structure__`` is UTF-8
JSON (stored as a uint8 array) describing the nesting, with each node tagged by its type so
that tuples stay tuples, ints stay ints, OrderedDicts stay OrderedDicts and Tensors come back
as Tensors. Nothing is pickled, and files are always read with ``allow_pickle=False``, so
loading an untrusted checkpoint cannot run code.

The file is written to exactly ``path`` (no ``.npz`` suffix is added, unlike ``np.savez``);
when ``path`` is a symlink, its target is replaced and the link kept, as ``open()`` would do.
``load`` checks each entry's declared size against the zip before reading it, reads only
the entries the structure refers to, and refuses the zip compressions ``np.savez`` never
writes (bzip2, LZMA), so what a crafted file can make it allocate is bounded by deflate's
ratio: about a thousand times the file's size.
"""

from __future__ import annotations

import ast
import errno
import json
import math
import os
import stat
import struct
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from .tensor import Tensor

__all__ = ["save", "load"]

_STRUCTURE_KEY = "__structure__"
_FORMAT = "autograd_mini.checkpoint"
_VERSION = 1
# Containers nested deeper than this are refused by save and by load alike. Real checkpoints
# nest a handful of levels; the limit keeps both directions well inside Python's recursion
# limit, so the same state always loads back on the machine that saved it.
_MAX_DEPTH = 200
# The temp file's name repeats at most this much of the target's name: with the dot, the
# random part and ".tmp" it stays under NAME_MAX (255) for any name that open() accepts.
_TMP_PREFIX_CHARS = 64
# .npy headers larger than this are refused (NumPy's own default for np.load).
_MAX_HEADER_SIZE = 10000


def _parameter_type() -> type:
    from .nn.modules import Parameter  # (nn imports this module: resolved on first use)

    return Parameter


def _encode_key(key: Any, path: str) -> list[Any]:
    # JSON objects only have string keys, but optimizer state dicts (as in PyTorch) are keyed
    # by parameter index, so keys are stored as tagged pairs.
    if isinstance(key, str):
        return ["str", key]
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        return ["int", _checked_int(int(key), f"dict key in {path}")]
    raise TypeError(
        f"save: dict key {key!r} of type {type(key).__name__} at {path} is not supported "
        f"(only str and int keys)"
    )


def _checked_int(value: int, where: str) -> int:
    # JSON stores ints as decimal text, and Python refuses to convert ints of more than
    # sys.get_int_max_str_digits() digits (4300 by default) to text; json.dumps would then
    # fail with a message that names neither save nor the value's place in the state.
    try:
        str(value)
    except ValueError as e:
        raise ValueError(
            f"save: the int {where} is too large to store ({value.bit_length()} bits): {e}"
        ) from None
    return value


def _key_repr(key: Any) -> str:
    return f"[{key!r}]"


def _short(path: str) -> str:
    # Paths into deeply nested states get long; the start and the end locate the spot.
    return path if len(path) <= 120 else f"{path[:60]}...{path[-40:]}"


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

    def encode(self, obj: Any, path: str, depth: int = 0) -> dict[str, Any]:
        # Order matters: np.float64 is a float subclass and np.bool_ is not a bool, so NumPy
        # scalars are recognised before Python numbers; bool before int (bool subclasses int).
        if isinstance(obj, Tensor):
            node: dict[str, Any] = {"t": "tensor", "k": self._add_array(np.asarray(obj.data), path)}
            if getattr(obj, "requires_grad", False):
                node["requires_grad"] = True
            if isinstance(obj, _parameter_type()):
                node["parameter"] = True
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
            return {"t": "int", "v": _checked_int(int(obj), f"at {path}")}
        if isinstance(obj, float):
            # repr round-trips every float exactly, including nan and +-inf, which strict
            # JSON cannot hold as numbers.
            return {"t": "float", "v": repr(float(obj))}
        if isinstance(obj, str):
            return {"t": "str", "v": obj}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"save: the state contains a reference cycle at {_short(path)}")
            if depth >= _MAX_DEPTH:
                raise ValueError(
                    f"save: the state nests containers more than {_MAX_DEPTH} deep "
                    f"(at {_short(path)}); flatten it"
                )
            self._active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    items = [
                        [_encode_key(k, path), self.encode(v, path + _key_repr(k), depth + 1)]
                        for k, v in obj.items()
                    ]
                    kind = "odict" if isinstance(obj, OrderedDict) else "dict"
                    return {"t": kind, "items": items}
                kind = "tuple" if isinstance(obj, tuple) else "list"
                return {
                    "t": kind,
                    "items": [self.encode(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(obj)],
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


def _save_path(path: Any) -> str:
    # bytes names are refused as np.savez and torch.save refuse them (both fail on them with
    # an unrelated error); anything else that is not a file name gets a message naming `path`.
    if isinstance(path, (str, os.PathLike)):
        name = os.fspath(path)
        if isinstance(name, str):
            return name
    raise TypeError(
        f"save: path must be a str or os.PathLike file name, got {type(path).__name__} {path!r:.80}"
    )


def save(state: Any, path: str | os.PathLike[str]) -> None:
    """Atomically write ``state`` (nested containers of arrays, Tensors, scalars) to ``path``."""
    path = _save_path(path)
    # Encode everything before touching the disk: an unsupported value fails without side effects.
    encoder = _Encoder()
    try:
        tree = encoder.encode(state, "state")
        header = {"format": _FORMAT, "version": _VERSION, "root": tree}
        structure = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except RecursionError:
        # Only reachable when save is called with most of the stack already used: the depth
        # limit above stops ordinary deep states first.
        raise ValueError(
            "save: the state is nested too deeply to store (Python's recursion limit was hit)"
        ) from None
    entries = dict(encoder.arrays)
    entries[_STRUCTURE_KEY] = np.frombuffer(structure, dtype=np.uint8)

    write_atomic(path, lambda f: np.savez(f, **entries), "save")


def output_problem(path: str, flag: str) -> str | None:
    """Why `path` cannot take a file (named after the option `flag`), or None if it can."""
    # For commands to check before work that takes minutes, not when they write at the end.
    if not path:
        return f"{flag}: the file name is empty"
    if os.path.isdir(path):
        return f"{flag} {path!r} is a directory, not a file name"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"{flag} {path!r}: the directory {parent!r} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{flag} {path!r}: the directory {parent!r} is not writable"
    return None


def plot_problem(path: str, flag: str) -> str | None:
    """Why matplotlib cannot write the image `path`, or None if it can."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return f"{flag} needs matplotlib, which is not installed (pip install matplotlib)"
    problem = output_problem(path, flag)
    if problem:
        return problem
    ext = _image_format(path)
    supported = Figure().canvas.get_supported_filetypes()
    if ext not in supported:
        return (
            f"{flag} {path!r}: matplotlib cannot write .{ext} files (use one of "
            f"{', '.join(sorted(supported))})"
        )
    return None


def _image_format(path: str) -> str:
    """The image format a file name asks for: its extension, PNG without one."""
    return os.path.splitext(path)[1].lstrip(".").lower() or "png"


def write_figure(fig: Any, path: str, name: str, **savefig: Any) -> None:
    """Save a matplotlib figure atomically, in the format its file name asks for."""
    write_atomic(path, lambda f: fig.savefig(f, format=_image_format(path), **savefig), name)


def write_atomic(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any], name: str
) -> None:
    """Write a file by `write(binary file)`, atomically: `path` ends up old or new, never half."""
    path = os.fspath(path)
    if not path:
        raise FileNotFoundError(f"{name}: cannot write '': the file name is empty")
    # Write through symlinks, as open(), np.savez and torch.save do: the temp file goes next to
    # the real file and is renamed onto it, so the link stays a link and its target changes.
    target = os.path.realpath(path)
    if os.path.islink(target):  # realpath stops at a symlink loop
        raise OSError(
            errno.ELOOP, f"{name}: cannot write {path!r}: too many levels of symbolic links"
        )
    if os.path.isdir(target):
        raise IsADirectoryError(f"{name}: cannot write {path!r}: it is a directory")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"{name}: cannot write {path!r}: directory {directory!r} does not exist"
        )
    try:
        mode = os.stat(target).st_mode & 0o7777  # overwriting keeps the old file's permissions
    except OSError:
        mode = 0o666 & ~_umask()  # what a plain open() would give, not mkstemp's 0600

    # Write to a temp file in the same directory (so os.replace is an atomic rename on the same
    # file system), make it durable, then swap it in. A crash or error at any point leaves
    # either the old file or the new one at `path`, never a partial file.
    prefix = f".{os.path.basename(target)[:_TMP_PREFIX_CHARS]}."
    try:
        tmp = tempfile.NamedTemporaryFile(dir=directory, prefix=prefix, suffix=".tmp", delete=False)
    except OSError as e:  # named after the user's path, not the hidden temp file's
        raise type(e)(e.errno, f"{name}: cannot write {path!r}: {e.strerror}") from None
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp.name, mode)
        os.replace(tmp.name, target)
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


def _read_npy_header(f: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from the .npy header at the start of ``f``, which is left after it."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_HEADER_SIZE)
        return shape, dtype
    if version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_HEADER_SIZE)
        return shape, dtype
    if version != (3, 0):
        raise _CorruptError(f".npy format version {version} is not supported")
    # Version 3.0 is 2.0 with a UTF-8 header (np.save writes it for non-Latin-1 field names);
    # NumPy has no public reader for it, so parse the dict literal here.
    (length,) = struct.unpack("<I", f.read(4))
    if length > _MAX_HEADER_SIZE:
        raise _CorruptError(f".npy header of {length} bytes is too large")
    d = ast.literal_eval(f.read(length).decode("utf-8"))
    if (
        not isinstance(d, dict)
        or set(d) != {"descr", "fortran_order", "shape"}
        or not isinstance(d["fortran_order"], bool)
        or not isinstance(d["shape"], tuple)
        or not all(type(n) is int and n >= 0 for n in d["shape"])
    ):
        raise _CorruptError(f"malformed .npy header {d!r:.80}")
    return d["shape"], np.lib.format.descr_to_dtype(d["descr"])


class _Entries:
    """Reads the checkpoint's .npy entries one at a time, checking each before allocating it."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self._used: set[str] = set()

    def read(self, key: Any) -> np.ndarray:
        if not isinstance(key, str):
            raise _CorruptError(f"array entry name {key!r:.80} is not a string")
        # save writes one entry per array, so a second reference to an entry is not ours, and
        # refusing it bounds what a load can allocate by the size of the file's entries.
        if key in self._used:
            raise _CorruptError(f"array entry {key!r} is referenced twice")
        self._used.add(key)
        try:
            info = self.zf.getinfo(f"{key}.npy")
        except KeyError:
            raise _CorruptError(f"missing array entry {key!r}") from None
        # np.savez writes entries stored or deflated. bzip2 and LZMA can expand a kilobyte
        # into a gigabyte; deflate at most ~1032-fold, which bounds what a load allocates.
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _CorruptError(
                f"array entry {key!r} uses zip compression method {info.compress_type}; "
                "checkpoints are stored or deflated"
            )
        with self.zf.open(info) as f:
            shape, dtype = _read_npy_header(f)
            if dtype.hasobject:
                raise _CorruptError(
                    f"array entry {key!r} holds Python objects, which only a pickle can "
                    f"restore; pickled data is never loaded"
                )
            # A header may declare any shape, and NumPy allocates what it declares before it
            # reads a byte: a 300-byte file could ask for terabytes. The data must be exactly
            # what the zip says the entry holds once uncompressed.
            declared = math.prod(shape) * dtype.itemsize
            stored = info.file_size - f.tell()
            if declared != stored:
                raise _CorruptError(
                    f"array entry {key!r} declares shape {shape} of {dtype} ({declared} bytes) "
                    f"but holds {stored} bytes of data"
                )
        with self.zf.open(info) as f:
            return np.lib.format.read_array(f, allow_pickle=False, max_header_size=_MAX_HEADER_SIZE)


def _check(ok: bool, node: dict[str, Any]) -> None:
    if not ok:
        raise _CorruptError(f"malformed {node.get('t')!r} node {node!r:.80}")


class _Decoder:
    def __init__(self, entries: _Entries) -> None:
        self.entries = entries

    def decode(self, node: Any, depth: int = 0) -> Any:
        # Each node type accepts exactly the payload save writes for it: anything looser
        # would turn a damaged or crafted file into plausible wrong values.
        if not isinstance(node, dict) or "t" not in node:
            raise _CorruptError(f"malformed structure node {node!r:.80}")
        t = node["t"]
        if t == "ndarray":
            return self.entries.read(node.get("k"))
        if t == "tensor":
            requires_grad = node.get("requires_grad", False)
            parameter = node.get("parameter", False)
            _check(type(requires_grad) is bool and type(parameter) is bool, node)
            arr = self.entries.read(node.get("k"))
            if parameter:  # an nn.Parameter comes back as one, as in torch.load
                return _parameter_type()(arr, requires_grad=requires_grad)
            tensor = Tensor(arr)
            if requires_grad:
                tensor.requires_grad_()
            return tensor
        if t == "npscalar":
            arr = self.entries.read(node.get("k"))
            if arr.ndim != 0:
                raise _CorruptError(f"npscalar entry {node['k']!r} has shape {arr.shape}")
            return arr[()]
        if t == "none":
            return None
        v = node.get("v")
        if t == "bool":
            _check(type(v) is bool, node)
            return v
        if t == "int":
            _check(type(v) is int, node)  # JSON true/false are bools, not ints
            return v
        if t == "float":
            # save writes repr(float), which round-trips exactly; accept nothing else.
            _check(type(v) is str, node)
            f = float(v)
            _check(repr(f) == v, node)
            return f
        if t == "str":
            _check(type(v) is str, node)
            return v
        if t not in ("list", "tuple", "dict", "odict"):
            raise _CorruptError(f"unknown node type {t!r:.80}")
        if depth >= _MAX_DEPTH:
            raise _CorruptError(f"containers nested more than {_MAX_DEPTH} deep")
        items = node.get("items")
        _check(type(items) is list, node)
        if t in ("list", "tuple"):
            out_seq = [self.decode(v, depth + 1) for v in items]
            return tuple(out_seq) if t == "tuple" else out_seq
        out: dict[Any, Any] = OrderedDict() if t == "odict" else {}
        for item in items:
            _check(type(item) is list and len(item) == 2, node)
            key, v = item
            _check(type(key) is list and len(key) == 2, node)
            ktype, k = key
            if not (ktype == "str" and type(k) is str) and not (ktype == "int" and type(k) is int):
                raise _CorruptError(f"bad dict key {key!r:.80}")
            if k in out:
                raise _CorruptError(f"dict key {k!r:.80} appears twice")
            out[k] = self.decode(v, depth + 1)
        return out


def _load_path(path: Any) -> str | bytes:
    if isinstance(path, (str, bytes, os.PathLike)):
        return os.fspath(path)
    raise TypeError(
        f"load: path must be a str, bytes or os.PathLike file name, got {type(path).__name__} "
        f"{path!r:.80}"
    )


def load(path: str | bytes | os.PathLike[str]) -> Any:
    """Read a checkpoint written by :func:`save` and return the same structure."""
    path = _load_path(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such checkpoint file: {path!r}")
    # One open file for the whole load: the checks below and the reads see the same file even
    # if `path` is replaced meanwhile, and zipfile takes a file object where it refuses bytes.
    with open(path, "rb") as f:  # a directory or an unreadable file fails here, as OSError
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):  # /dev/zero would never end
            raise ValueError(f"load: {path!r} is not a regular file")
        if f.read(len(np.lib.format.MAGIC_PREFIX)) == np.lib.format.MAGIC_PREFIX:
            raise ValueError(
                f"load: {path!r} is a plain .npy array, not an autograd_mini checkpoint"
            )
        f.seek(0)
        try:
            zf = zipfile.ZipFile(f)
        except Exception as e:  # zipfile raises several types for bad files; report them alike
            raise ValueError(f"load: {path!r} is not a valid checkpoint (.npz) file: {e}") from e
        with zf:
            return _load_zip(zf, path)


def _load_zip(zf: zipfile.ZipFile, path: str | bytes) -> Any:
    try:
        # Entries are read as the structure refers to them, and only those: an entry nothing
        # refers to is never decompressed.
        entries = _Entries(zf)
        if f"{_STRUCTURE_KEY}.npy" not in zf.namelist():
            raise _CorruptError(f"no {_STRUCTURE_KEY!r} entry (not written by autograd_mini.save)")
        raw = entries.read(_STRUCTURE_KEY)
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
        if "root" not in header:
            raise _CorruptError("the structure entry has no 'root'")
        return _Decoder(entries).decode(header["root"])
    except (
        _CorruptError,
        zipfile.BadZipFile,
        json.JSONDecodeError,
        UnicodeDecodeError,
        KeyError,
        TypeError,
        ValueError,
        SyntaxError,  # from the version 3.0 header parse
        OSError,
        EOFError,
        struct.error,
        # An encrypted entry, a compression method zipfile lacks, or JSON nested past the
        # recursion limit: zipfile and json raise RuntimeError subclasses for all three.
        RuntimeError,
        MemoryError,
    ) as e:
        raise ValueError(
            f"load: {path!r} is corrupt or not an autograd_mini checkpoint: {e}"
        ) from e
