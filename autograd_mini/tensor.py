"""`Tensor`: an n-d NumPy array that records the operations applied to it.

This module holds the Tensor class, the `Op` type every primitive is an instance of (its
forward and its vector-Jacobian products, declared together in `ops.py`), the one function
that applies an op and records it, and the creation functions (`tensor`, `zeros`, ...).
"""

from __future__ import annotations

import copy
import numbers
import operator
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import engine
from .engine import _UNWRITTEN, UNCHECKED, Node, _Anomaly, _nonfinite, _state

DTypeLike = Any
ShapeLike = int | Sequence[int]

# --------------------------------------------------------------------------- dtype & rng

_F64 = np.dtype(np.float64)
_NDARRAY, _GENERIC = np.ndarray, np.generic  # module globals: one lookup on the per-op path
_default_dtype = _F64


def set_default_dtype(dtype: DTypeLike) -> None:
    """Set the dtype that Python floats and `nn` parameters get (float32 or float64)."""
    global _default_dtype
    d = np.dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes are allowed, got {d}")
    _default_dtype = d


def get_default_dtype() -> np.dtype:
    """The dtype that Python floats and `nn` parameters get."""
    return _default_dtype


_rng = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Seed the generator behind `rand`, `randn` and `nn` initialisation."""
    global _rng
    _rng = np.random.default_rng(seed)
    return _rng


def get_rng() -> np.random.Generator:
    """The generator behind `rand`, `randn` and `nn` initialisation."""
    return _rng


def _check_grad_dtype(dtype: np.dtype, where: str = "requires_grad") -> None:
    if dtype.kind != "f":
        raise TypeError(
            f"{where}: only real floating point tensors can require gradients, got dtype "
            f"{dtype}" + (" (complex gradients are not supported)" if dtype.kind == "c" else "")
        )


def _complex_error(name: str, datas: Any) -> TypeError:
    """A complex result of inputs that require grad: no gradient convention is implemented,
    and a real-arithmetic one would be silently wrong (PyTorch conjugates)."""
    return TypeError(
        f"{name}: gives a complex result from inputs that require grad (inputs: "
        + ", ".join(_describe_arg(d) for d in datas)
        + "); complex gradients are not supported: compute it on detached tensors or under "
        "no_grad"
    )


def _to_array(
    data: Any, dtype: DTypeLike = None, copy: bool = False, name: str = "tensor"
) -> np.ndarray:
    """Turn user data into an ndarray; Python floats get the default dtype."""
    if isinstance(data, Tensor):
        data = data.data
    try:
        if dtype is not None:
            dtype = np.dtype(dtype)
            arr = np.array(data, dtype=dtype, copy=True) if copy else np.asarray(data, dtype=dtype)
        elif isinstance(data, np.ndarray | np.generic):
            arr = np.array(data, copy=True) if copy else np.asarray(data)
        else:
            arr = np.array(data)
            if arr.dtype == np.float64 and _default_dtype != np.float64:
                arr = arr.astype(_default_dtype)
    except (ValueError, TypeError) as e:  # ragged lists, unknown dtypes: named, not NumPy's
        raise _renamed(
            e, f"{name}: cannot make a tensor from {type(data).__name__} data: {e}"
        ) from None
    if arr.dtype.kind not in "biufc":  # strings, objects, dates: not numbers
        raise TypeError(
            f"{name}: cannot make a tensor from {type(data).__name__} data of dtype {arr.dtype}"
        )
    return arr


# --------------------------------------------------------------------------- Tensor


class Tensor:
    """An n-d array (`.data`) with an optional gradient (`.grad`) and recorded history."""

    __slots__ = ("data", "_grad", "_rg", "_node", "_vcell", "_base", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operators
    __hash__ = object.__hash__  # == is elementwise, so identity is the hash

    def __init__(self, data: Any, requires_grad: bool = False, dtype: DTypeLike = None) -> None:
        arr = _to_array(data, dtype)
        if requires_grad:
            _check_grad_dtype(arr.dtype)
        self.data = arr
        self._grad: Tensor | None = None
        self._rg = bool(requires_grad)
        self._node: Node | None = None
        self._vcell: list | tuple = _UNWRITTEN  # the version counter, made when needed
        self._base: Tensor | None = None

    # -- attributes
    @property
    def _version(self) -> list:
        """The version counter, `[n]`: bumped by each in-place change, shared by views."""
        # Made when first asked for: an intermediate that is never viewed, changed in place or
        # saved for backward goes without one, and a long graph holds one object fewer per
        # op for the cyclic garbage collector to walk (half of a 10^5-op chain's time).
        # Two threads cannot both make one: between the test and the store there is no call
        # or backward jump, where the interpreter could switch threads.
        cell = self._vcell
        if cell is _UNWRITTEN:
            cell = self._vcell = [0]
        return cell

    @_version.setter
    def _version(self, cell: list) -> None:
        self._vcell = cell

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to (and, for a leaf, accumulate in) this tensor."""
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set `requires_grad` on a leaf in place; returns self."""
        if self._node is not None:
            if not requires_grad:
                raise RuntimeError(
                    "requires_grad_: you can only change requires_grad of leaf tensors; "
                    "use detach() to get a tensor without history"
                )
            return self
        if requires_grad:
            _check_grad_dtype(self.data.dtype, "requires_grad_")
        self._rg = bool(requires_grad)
        return self

    @property
    def grad(self) -> Tensor | None:
        """The gradient backward accumulated here (None until one arrives)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        # Checked here, as PyTorch checks it: a wrong .grad would otherwise fail far away,
        # in the next backward or optimizer step.
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"grad: assigned grad must be a Tensor or None, got {type(value).__name__}"
                )
            if value is self:
                raise ValueError("grad: a tensor cannot be its own gradient")
            if value.data.shape != self.data.shape:
                raise ValueError(
                    f"grad: assigned grad has shape {value.data.shape}, the tensor has shape "
                    f"{self.data.shape}"
                )
            if value.data.dtype != self.data.dtype:
                raise TypeError(
                    f"grad: assigned grad has dtype {value.data.dtype}, the tensor has dtype "
                    f"{self.data.dtype}"
                )
        self._grad = value

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self) -> Node | None:
        """The node that produced this tensor (None for a leaf)."""
        return self._node

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Number of elements (NumPy's `size`)."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """The array's NumPy dtype."""
        return self.data.dtype

    @property
    def T(self) -> Tensor:  # noqa: N802
        """The tensor with its axes reversed."""
        return ops.transpose(self, axes=tuple(range(self.data.ndim - 1, -1, -1)))

    @property
    def mT(self) -> Tensor:  # noqa: N802
        """The tensor with its last two axes swapped."""
        return self.swapaxes(-1, -2)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        if self._rg:
            raise RuntimeError(
                "numpy: can't call numpy() on a tensor that requires grad; "
                "use tensor.detach().numpy()"
            )
        return self.data

    def item(self) -> float | int | bool:
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item: only a tensor with one element can be converted to a Python "
                f"number, got shape {self.shape}"
            )
        return self.data.item()

    def tolist(self) -> Any:
        """The data as nested Python lists."""
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A tensor sharing this data (and version counter) with no history."""
        t = Tensor.__new__(Tensor)
        t.data, t._grad, t._rg, t._node, t._version, t._base = (
            self.data,
            None,
            False,
            None,
            self._version,
            None,
        )
        return t

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph (gradient passes through)."""
        return ops.copy(self)

    def astype(self, dtype: DTypeLike) -> Tensor:
        """The tensor converted to `dtype` (differentiable between float dtypes)."""
        dtype = np.dtype(dtype)
        if dtype == self.data.dtype:
            return self
        return ops.astype(self, dtype=dtype)

    to = astype

    def float(self) -> Tensor:
        """The tensor as float32."""
        return self.astype(np.float32)

    def double(self) -> Tensor:
        """The tensor as float64."""
        return self.astype(np.float64)

    def long(self) -> Tensor:
        """The tensor as int64."""
        return self.astype(np.int64)

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward."""
        if not self._rg:
            raise RuntimeError(
                f"retain_grad: the tensor (shape {self.shape}) does not require grad, so it "
                "will never have one"
            )
        if self._node is not None:
            self._node.retain = weakref.ref(self)

    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (chain rule, reverse mode)."""
        if not self._rg:
            raise RuntimeError(
                f"backward: the tensor (shape {self.shape}) does not require grad and has no "
                "history: no leaf it depends on has requires_grad=True"
            )
        if gradient is None:
            if self.data.size != 1:
                raise BackwardShapeError(
                    f"backward: grad can be implicitly created only for a single-element "
                    f"output, but the output has shape {self.shape}; pass gradient= shaped "
                    f"like the output"
                )
            g = np.empty(self.data.shape, self.data.dtype)
            g.fill(1)  # np.ones' Python layer costs as much as a small node's backward
        else:
            g = gradient.data if isinstance(gradient, Tensor) else gradient
            if not isinstance(g, np.ndarray | np.generic | numbers.Number | list | tuple):
                raise TypeError(
                    f"backward: gradient must be a Tensor, ndarray or number, got "
                    f"{type(gradient).__name__}"
                )
            try:
                g = np.asarray(g)
            except ValueError as e:  # a ragged list
                raise ValueError(f"backward: gradient is not an array: {e}") from None
            if g.dtype.kind not in "biuf":  # complex would lose its imaginary part in the cast
                raise TypeError(
                    f"backward: gradient of dtype {g.dtype} for an output of dtype "
                    f"{self.data.dtype}"
                )
            if g.shape != self.shape:
                raise ValueError(
                    f"backward: gradient has shape {g.shape} but the output has shape {self.shape}"
                )
            if g.dtype != self.data.dtype:
                g = g.astype(self.data.dtype)
            if create_graph and isinstance(gradient, Tensor):  # its own history, cast as above
                g = gradient if gradient.dtype == self.dtype else gradient.astype(self.dtype)
        if retain_graph is None:
            retain_graph = create_graph
        engine.backward([self], [g], retain_graph, create_graph)

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with `value` (a number or a 0-d tensor) in place."""
        self._check_inplace("fill_")
        is_tensor = isinstance(value, Tensor)
        if is_tensor and value.ndim:
            raise ValueError(
                f"fill_: the value must be a number or a 0-d tensor, got a tensor of shape "
                f"{value.shape}"
            )
        if _state.enabled and (self._rg or (is_tensor and value._rg)):
            # Recorded as x[...] = value: no gradient to the old x, Σg to the value.
            self._record_write(
                "fill_", ops.index_put, value, {"idx": Ellipsis}, "fill_ of a view",
                "fill the base tensor instead",
            )  # fmt: skip
            return self
        self.data[...] = value.data if is_tensor else value
        self._version[0] += 1
        return self

    def _bump_version(self) -> None:
        """Record that `data` was changed in place (optimizers call this)."""
        self._version[0] += 1

    # -- representation
    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (_default_dtype, np.int64, np.bool_):  # as PyTorch shows it
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.op.name}>"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):  # noqa: ANN204
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is ambiguous"
            )
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "biu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.data.reshape(()))

    def __format__(self, spec: str) -> str:
        if self.data.ndim == 0:  # f"{loss:.4f}", as for a number (as in PyTorch)
            return format(self.data.item(), spec)
        if spec:
            raise TypeError(
                f"unsupported format string {spec!r} for a tensor of shape {self.data.shape} "
                "(only 0-d tensors format as numbers)"
            )
        return str(self)

    def __contains__(self, element: Any) -> bool:
        """Whether any element equals `element` (as PyTorch: (self == element).any())."""
        other = element.data if isinstance(element, Tensor) else element
        return bool(np.any(self.data == other))

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self._node is not None:  # the copy could not share the graph: a new leaf would
            raise RuntimeError(  # silently cut the gradient's path (as PyTorch refuses)
                "deepcopy: only leaf tensors (made by the user, not by a recorded op) can be "
                "deep-copied; use .detach() first for a copy without history"
            )
        t = Tensor.__new__(type(self))
        memo[id(self)] = t
        t.data = self.data.copy()
        t._rg, t._node, t._version, t._base = self._rg, None, [0], None
        t._grad = None if self._grad is None else copy.deepcopy(self._grad, memo)
        return t

    def __array__(self, dtype: DTypeLike = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    # -- arithmetic (the primitives live in ops.py)
    def __add__(self, other: Any) -> Tensor:
        return apply(ops.add, (self, other))

    def __radd__(self, other: Any) -> Tensor:
        return apply(ops.add, (other, self))

    def __sub__(self, other: Any) -> Tensor:
        return apply(ops.sub, (self, other))

    def __rsub__(self, other: Any) -> Tensor:
        return apply(ops.sub, (other, self))

    def __mul__(self, other: Any) -> Tensor:
        return apply(ops.mul, (self, other))

    def __rmul__(self, other: Any) -> Tensor:
        return apply(ops.mul, (other, self))

    def __truediv__(self, other: Any) -> Tensor:
        return apply(ops.div, (self, other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return apply(ops.div, (other, self))

    def __pow__(self, other: Any) -> Tensor:
        return apply(ops.pow, (self, other))

    def __rpow__(self, other: Any) -> Tensor:
        return apply(ops.pow, (other, self))

    def __matmul__(self, other: Any) -> Tensor:
        return apply(ops.matmul, (self, other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return apply(ops.matmul, (other, self))

    def __neg__(self) -> Tensor:
        return apply(ops.neg, (self,))

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return apply(ops.abs, (self,))

    def __lt__(self, other: Any) -> Tensor:
        return apply(ops.less, (self, other))

    def __le__(self, other: Any) -> Tensor:
        return apply(ops.less_equal, (self, other))

    def __gt__(self, other: Any) -> Tensor:
        return apply(ops.greater, (self, other))

    def __ge__(self, other: Any) -> Tensor:
        return apply(ops.greater_equal, (self, other))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(ops.equal, (self, other))

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return apply(ops.not_equal, (self, other))

    def __and__(self, other: Any) -> Tensor:
        return apply(ops.bitwise_and, (self, other))

    def __rand__(self, other: Any) -> Tensor:
        return apply(ops.bitwise_and, (other, self))

    def __or__(self, other: Any) -> Tensor:
        return apply(ops.bitwise_or, (self, other))

    def __ror__(self, other: Any) -> Tensor:
        return apply(ops.bitwise_or, (other, self))

    def __xor__(self, other: Any) -> Tensor:
        return apply(ops.bitwise_xor, (self, other))

    def __rxor__(self, other: Any) -> Tensor:
        return apply(ops.bitwise_xor, (other, self))

    def __invert__(self) -> Tensor:
        return apply(ops.bitwise_not, (self,))

    # -- in place
    def _check_inplace(self, name: str) -> None:
        if not _state.enabled:
            return
        if self._node is None and self._rg:
            raise RuntimeError(
                f"{name}: a leaf tensor that requires grad (shape {self.shape}) is being used "
                "in an in-place operation; wrap it in ag.no_grad() or use an out-of-place op"
            )
        if not self._rg:
            # A view that does not require grad of a base that does (made under no_grad, or
            # before the base was given requires_grad): a write through it would change the
            # base behind the graph's back.
            base = self._base
            while base is not None:
                if base._rg:
                    raise RuntimeError(
                        f"{name}: this view (shape {self.shape}) does not require grad, but the "
                        f"tensor it views (shape {base.shape}) does: the graph would not see an "
                        f"in-place change through it (PyTorch forbids this too). Make the view "
                        f"again now, with grad enabled, or change it under no_grad"
                    )
                base = base._base

    def _record_write(
        self, name: str, op: Op, other: Any, attrs: dict | None, what: str, instead: str
    ) -> None:
        """self = op(self, other), recorded: out of place on a snapshot of the old value,
        then written into this tensor's memory, which becomes the op's output."""
        if not self.data.flags.writeable:
            raise ValueError(_read_only(name, self.shape))
        views = _views_of(self)
        for _, v, _, _, _, with_grad in views:
            if not with_grad:
                raise RuntimeError(
                    f"{name}: a view of this tensor (shape {v.shape}) was made under no_grad "
                    f"and would not see the history this write records (PyTorch forbids this "
                    f"too); make the view with grad enabled, or after the write"
                )
        if self._base is not None:
            if _memory_shared(self, len(views)):
                # Others see this memory through the base: the write goes into the base, over
                # the region this view covers (PyTorch rebases the base's history the same
                # way), and the base's views, this one too, are redone from it.
                root = self._base
                while root._base is not None:
                    root = root._base
                if root._rg and root._node is None:
                    raise RuntimeError(
                        f"{name}: a view (shape {self.shape}) of a leaf tensor that requires "
                        f"grad (shape {root.shape}) is being used in an in-place operation; "
                        f"wrap it in ag.no_grad() or use an out-of-place op"
                    )
                into = _into_base(self)
                if into is None:
                    raise RuntimeError(
                        f"{name}: {what} (shape {self.shape}) is not supported when the view "
                        f"or the value requires grad and another tensor sees its memory (that "
                        f"tensor would not record the write); {instead}"
                    )
                value, idx = into(self._written(name, op, other, attrs))
                self._base._record_write(name, ops.index_put, value, {"idx": idx}, what, instead)
                return
            self._base = None  # nothing else sees this memory: the view stands alone
        res = self._written(name, op, other, attrs)
        np.copyto(self.data, res.data, casting="same_kind")
        _take_history(self, res)
        self._version[0] += 1
        if self._rg:
            # Views made earlier see the new values; give them the history too, each redone
            # from its base (parents first), as PyTorch regenerates a view's grad_fn.
            for base, v, view_op, rest, view_attrs, _ in views:
                _take_history(v, apply(view_op, (base, *rest), view_attrs))

    def _written(self, name: str, op: Op, other: Any, attrs: dict | None) -> Tensor:
        """op(self, other), recorded on a snapshot of self (the value a write would store)."""
        snap = Tensor.__new__(Tensor)
        snap.data, snap._grad, snap._rg, snap._node = self.data.copy(), None, self._rg, self._node
        snap._version, snap._base = [0], None
        res = apply(op, (snap, other), attrs)
        _check_cast(name, res.data, self.data)
        return res

    def _inplace(self, op: Op, other: Any, name: str) -> Tensor:
        self._check_inplace(name)
        o = other.data if isinstance(other, Tensor) else other
        other_rg = isinstance(other, Tensor) and other._rg
        if _state.enabled and (self._rg or other_rg):
            self._record_write(
                name, op, other, None, "in-place change of a view", "use an out-of-place op"
            )
            return self
        out = self.data
        try:
            op.fwd(out, o, out=out, casting="same_kind")
        except TypeError as e:
            raise TypeError(
                f"{name}: cannot update a tensor of dtype {out.dtype} in place with an operand "
                f"of dtype {np.result_type(o)}: {e}"
            ) from None
        except ValueError:
            if not out.flags.writeable:
                raise ValueError(_read_only(name, out.shape)) from None
            raise ValueError(
                f"{name}: cannot update a tensor of shape {out.shape} in place with an operand "
                f"of shape {np.shape(o)} (the result must keep the tensor's shape)"
            ) from None
        self._version[0] += 1
        return self

    def __iadd__(self, other: Any) -> Tensor:
        return self._inplace(ops.add, other, "add_ (+=)")

    def __isub__(self, other: Any) -> Tensor:
        return self._inplace(ops.sub, other, "sub_ (-=)")

    def __imul__(self, other: Any) -> Tensor:
        return self._inplace(ops.mul, other, "mul_ (*=)")

    def __itruediv__(self, other: Any) -> Tensor:
        return self._inplace(ops.div, other, "div_ (/=)")

    def add_(self, other: Any) -> Tensor:
        """In-place `self += other`."""
        return self.__iadd__(other)

    def sub_(self, other: Any) -> Tensor:
        """In-place `self -= other`."""
        return self.__isub__(other)

    def mul_(self, other: Any) -> Tensor:
        """In-place `self *= other`."""
        return self.__imul__(other)

    def div_(self, other: Any) -> Tensor:
        """In-place `self /= other`."""
        return self.__itruediv__(other)

    def __getitem__(self, idx: Any) -> Tensor:
        idx = _raw_index(idx)
        op = ops.getitem if ops._is_basic_index(idx) else ops.take
        return apply(op, (self,), {"idx": idx})

    def __setitem__(self, idx: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        idx = _raw_index(idx)
        if type(value) is list or type(value) is tuple:
            _check_no_grad_inside("__setitem__", value)
        v_rg = isinstance(value, Tensor) and value._rg
        if _state.enabled and (self._rg or v_rg):
            if v_rg and value.ndim and value.shape[0] == 1:
                # Leading 1s broadcast away in the assignment; without them the value's
                # gradient has the shape the indexed region has.
                lead = 0
                while lead < value.ndim and value.shape[lead] == 1:
                    lead += 1
                value = value.reshape(value.shape[lead:])
            self._record_write(
                "__setitem__", ops.index_put, value, {"idx": idx}, "assignment into a view",
                "index the base tensor instead, e.g. x[0, 1] = v rather than x[0][1] = v",
            )  # fmt: skip
            return
        v = value.data if isinstance(value, Tensor) else value
        try:
            self.data[idx] = v
        except (ValueError, IndexError, TypeError) as e:
            raise type(e)(
                f"__setitem__: cannot assign {_describe_arg(v)} into index {idx!r} of a "
                f"tensor of shape {self.shape}, dtype {self.dtype}: {e}"
            ) from None
        self._version[0] += 1

    # -- elementwise
    def exp(self) -> Tensor:
        """e ** x, elementwise."""
        return apply(ops.exp, (self,))

    def log(self) -> Tensor:
        """Natural logarithm, elementwise."""
        return apply(ops.log, (self,))

    def sqrt(self) -> Tensor:
        """Square root, elementwise."""
        return apply(ops.sqrt, (self,))

    def sin(self) -> Tensor:
        """Sine, elementwise."""
        return apply(ops.sin, (self,))

    def cos(self) -> Tensor:
        """Cosine, elementwise."""
        return apply(ops.cos, (self,))

    def tanh(self) -> Tensor:
        """Hyperbolic tangent, elementwise."""
        return apply(ops.tanh, (self,))

    def sigmoid(self) -> Tensor:
        """Logistic sigmoid 1 / (1 + e^-x), elementwise."""
        return apply(ops.sigmoid, (self,))

    def relu(self) -> Tensor:
        """max(x, 0), elementwise (relu'(0) = 0)."""
        return apply(ops.relu, (self,))

    def abs(self) -> Tensor:
        """|x|, elementwise (abs'(0) = 0)."""
        return apply(ops.abs, (self,))

    def sign(self) -> Tensor:
        """-1, 0 or 1 by the sign of x (no gradient)."""
        return apply(ops.sign, (self,))

    def clip(self, lo: Any = None, hi: Any = None) -> Tensor:
        """x limited to [lo, hi] (numbers or tensors); x's gradient passes only strictly inside."""
        return ops.clip_bounds(self, lo, hi)

    clamp = clip

    def square(self) -> Tensor:
        """x ** 2, elementwise."""
        return apply(ops.pow, (self, 2))

    # -- reductions
    def sum(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        """Sum over `axis` (all axes by default)."""
        axis, keepdims = _axis_args("sum", self, axis, keepdims, kw)
        return apply(ops.sum, (self,), {"axis": axis, "keepdims": keepdims})

    def mean(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        """Arithmetic mean over `axis`."""
        axis, keepdims = _axis_args("mean", self, axis, keepdims, kw)
        return apply(ops.mean, (self,), {"axis": axis, "keepdims": keepdims})

    def max(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        """Largest value over `axis` (values only; ties share the gradient)."""
        axis, keepdims = _axis_args("max", self, axis, keepdims, kw)
        _check_nonempty("max", self, axis)
        return apply(ops.max, (self,), {"axis": axis, "keepdims": keepdims})

    def min(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        """Smallest value over `axis` (values only; ties share the gradient)."""
        axis, keepdims = _axis_args("min", self, axis, keepdims, kw)
        _check_nonempty("min", self, axis)
        return apply(ops.min, (self,), {"axis": axis, "keepdims": keepdims})

    def var(self, axis: Any = None, ddof: int = 0, keepdims: bool = False, **kw: Any) -> Tensor:
        """Variance over `axis` with `ddof` delta degrees of freedom (NumPy's default 0)."""
        if self.dtype == np.float16:
            # Squared deviations overflow float16 (65 504) long before the variance does:
            # worked in float32, as PyTorch's float16 kernels accumulate.
            return self.astype(np.float32).var(axis, ddof, keepdims, **kw).astype(np.float16)
        axis, keepdims = _axis_args("var", self, axis, keepdims, kw)
        if isinstance(ddof, bool) or not isinstance(ddof, numbers.Real):
            raise TypeError(f"var: ddof must be a number, got {type(ddof).__name__}")
        return ops.variance(self, axis, ddof, keepdims)

    def std(self, axis: Any = None, ddof: int = 0, keepdims: bool = False, **kw: Any) -> Tensor:
        """Standard deviation over `axis` with `ddof` (NumPy's default 0)."""
        if self.dtype == np.float16:  # see var: the variance may not fit float16, its root does
            return self.astype(np.float32).std(axis, ddof, keepdims, **kw).astype(np.float16)
        v = self.var(axis, ddof, keepdims, **kw)
        return apply(ops.std_sqrt, (v,))

    def logsumexp(self, axis: Any = None, keepdims: bool = False, **kw: Any) -> Tensor:
        """log(sum(exp(x))) over `axis`, computed stably."""
        axis, keepdims = _axis_args("logsumexp", self, axis, keepdims, kw)
        return apply(ops.logsumexp, (self,), {"axis": axis, "keepdims": keepdims})

    def argmax(self, axis: int | None = None, keepdims: bool = False, **kw: Any) -> Tensor:
        """Index of the largest value (no gradient)."""
        axis, keepdims = _axis_args("argmax", self, axis, keepdims, kw, single=True)
        _check_nonempty("argmax", self, axis)
        return Tensor(np.argmax(self.data, axis=axis, keepdims=keepdims))

    def argmin(self, axis: int | None = None, keepdims: bool = False, **kw: Any) -> Tensor:
        """Index of the smallest value (no gradient)."""
        axis, keepdims = _axis_args("argmin", self, axis, keepdims, kw, single=True)
        _check_nonempty("argmin", self, axis)
        return Tensor(np.argmin(self.data, axis=axis, keepdims=keepdims))

    # -- shape
    def reshape(self, *shape: Any) -> Tensor:
        """The same data viewed with another shape (one entry may be -1)."""
        shape = _shape_arg(shape, "reshape")
        try:
            new = _resolve_shape(self, shape)
        except ValueError as e:
            raise ValueError(f"reshape: {e}") from None
        if new == self.data.shape:
            return self
        return apply(ops.reshape, (self,), {"shape": new})

    view = reshape

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes as NumPy's transpose does (no axes: reverse them)."""
        nd = self.data.ndim
        if not axes or (len(axes) == 1 and axes[0] is None):
            perm = tuple(range(nd - 1, -1, -1))
        else:
            perm = _shape_arg(axes, "transpose")
            if sorted(_norm_axis("transpose", a, nd) for a in perm) != list(range(nd)):
                raise ValueError(
                    f"transpose: axes {perm} are not a permutation of the {nd} axes of a "
                    f"tensor of shape {self.shape}"
                )
            perm = tuple(_norm_axis("transpose", a, nd) for a in perm)
        return apply(ops.transpose, (self,), {"axes": perm})

    permute = transpose

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Swap two axes."""
        nd = self.data.ndim
        a, b = _norm_axis("swapaxes", axis1, nd), _norm_axis("swapaxes", axis2, nd)
        perm = list(range(nd))
        if nd:  # a 0-d tensor takes axis 0 or -1 (as torch) and has nothing to swap
            perm[a], perm[b] = perm[b], perm[a]
        return apply(ops.transpose, (self,), {"axes": tuple(perm)})

    swapdims = swapaxes

    def expand(self, *shape: Any) -> Tensor:
        """Broadcast to `shape` without copying (-1 keeps a dimension)."""
        shape = _shape_arg(shape, "expand")
        lead = len(shape) - self.data.ndim
        if lead < 0:
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}")
        full = tuple(
            self.data.shape[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(shape)
        )
        try:
            np.broadcast_shapes(self.data.shape, full)
            if np.broadcast_shapes(self.data.shape, full) != full:
                raise ValueError
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {self.shape} to {shape}") from None
        return apply(ops.expand, (self,), {"shape": full})

    broadcast_to = expand

    def squeeze(self, axis: Any = None, **kw: Any) -> Tensor:
        """Remove axes of length 1 (all of them, or those in `axis`)."""
        axis = _dim_alias("squeeze", axis, kw)
        shape = self.data.shape
        if axis is None:
            new = tuple(s for s in shape if s != 1)
        else:
            axes = {_norm_axis("squeeze", a, len(shape)) for a in _as_tuple(axis)}
            # Like PyTorch, an axis that is not of length 1 is left alone.
            new = tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1))
        return self.reshape(new)

    def unsqueeze(self, axis: int | None = None, **kw: Any) -> Tensor:
        """Insert an axis of length 1 at position `axis`."""
        axis = _dim_alias("unsqueeze", axis, kw)
        if axis is None:
            raise TypeError("unsqueeze: missing the axis argument")
        nd = self.data.ndim + 1
        a = _norm_axis("unsqueeze", axis, nd)
        shape = list(self.data.shape)
        shape.insert(a, 1)
        return self.reshape(tuple(shape))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge axes start_dim..end_dim into one (all of them by default)."""
        shape = self.data.shape
        if not shape:
            return self.reshape((1,))
        s = _norm_axis("flatten", start_dim, len(shape))
        e = _norm_axis("flatten", end_dim, len(shape))
        if s > e:
            raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
        n = 1
        for d in shape[s : e + 1]:
            n *= d
        return self.reshape(shape[:s] + (n,) + shape[e + 1 :])

    def ravel(self) -> Tensor:
        """All elements as a 1-d tensor."""
        return self.reshape(-1)


# Backward of a non-scalar output without `gradient`: a shape problem (ValueError, as the
# API classes errors) that PyTorch reports as a RuntimeError; either `except` catches it.
engine.set_tensor_type(Tensor)


class BackwardShapeError(ValueError, RuntimeError):
    """backward() without `gradient` on an output with more than one element."""


# --------------------------------------------------------------------------- ops


class Op:
    """A primitive: its forward (NumPy in, NumPy out) and one vjp rule per input.

    A rule is `rule(g, ans, *inputs, **attrs) -> gradient for that input`, written with the
    library's own ops so it works on arrays (ordinary backward) and on Tensors (when
    `create_graph=True` records the backward pass). A rule of None means "no gradient".
    Called on raw arrays, an op just computes (this is what makes the rules work on
    arrays); called with a Tensor among its arguments it records itself.

    `ans` is the output when `saves_ans`. An op with `saving` instead keeps an intermediate
    of its forward for the rules: `saving(*inputs)` returns (output, intermediate), and the
    rules get the intermediate as `ans` — or None when the backward is recorded, where they
    recompute it with differentiable ops.
    """

    __slots__ = (
        "name", "fwd", "rules", "saves_ans", "saving", "view", "differentiable", "owns_grads",
        "reads", "reads2", "own_dtype", "floats",
    )  # fmt: skip
    keeps_state = False  # built-in ops keep nothing beyond the Node (see Function)

    def __init__(
        self,
        name: str,
        fwd: Callable,
        rules: Sequence[Callable | None] | Callable | None,
        saves_ans: bool = False,
        view: bool = False,
        saving: Callable | None = None,
        reads: bool | tuple = True,
        own_dtype: bool = False,
        floats: bool = False,
    ) -> None:
        self.name = name
        # Whether the rules read input values (or only their shapes); given per rule, as the
        # indices of the inputs each reads, it becomes a table: for each set of inputs that
        # need a gradient (a bit mask), which inputs no needed rule reads.
        self.reads = reads if isinstance(reads, bool) else _reads_table(reads)
        # The same for a call with two inputs, nested for the per-op path: reads2[rb][ra].
        self.reads2 = tuple(
            tuple(
                (reads, reads)
                if isinstance(reads, bool)
                else (0 not in self.reads[ra + 2 * rb][0], 1 not in self.reads[ra + 2 * rb][0])
                for ra in (0, 1)
            )
            for rb in (0, 1)
        )
        self.own_dtype = own_dtype  # the output dtype is an argument (astype), not promoted
        self.floats = floats  # a float function of one input (exp, ...): ints computed as floats
        self.fwd = fwd
        self.rules = tuple(rules) if isinstance(rules, list | tuple) else rules
        self.saves_ans = saves_ans
        self.saving = saving
        self.view = view
        self.differentiable = rules is not None
        self.owns_grads = True

    def __call__(self, *args: Any, **attrs: Any) -> Any:
        for a in args:
            if isinstance(a, Tensor):
                return apply(self, args, attrs or None)
        return self.fwd(*args, **attrs)

    def vjp(self, g: Any, ans: Any, args: tuple, attrs: dict | None, edges: tuple) -> Sequence:
        """One gradient per input (None where `edges` says none is needed)."""
        rules = self.rules
        if type(rules) is not tuple:  # variadic ops: one rule taking the input's index first
            kw = attrs or {}
            return [
                rules(i, g, ans, *args, **kw) if e is not None else None
                for i, e in enumerate(edges)
            ]
        if attrs:
            return [
                rule(g, ans, *args, **attrs) if (e is not None and rule is not None) else None
                for rule, e in zip(rules, edges)
            ]
        if len(rules) == 1:  # the common unary case, without the loop
            return (rules[0](g, ans, args[0]),)
        return [
            rule(g, ans, *args) if (e is not None and rule is not None) else None
            for rule, e in zip(rules, edges)
        ]

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def _take_history(t: Tensor, made: Tensor) -> None:
    """Give `t` the history of `made` (same values), keeping a retain_grad() request."""
    retain = None
    if t._node is not None:  # the request moves to the new history, as in PyTorch
        retain, t._node.retain = t._node.retain, None
    t._node, t._rg = made._node, made._rg  # (an int tensor takes no gradient)
    if retain is not None and t._node is not None:
        t._node.retain = retain


def _reads_table(per_rule: tuple) -> tuple:
    """For each bit mask of inputs that need grad: (the inputs none of their rules reads,
    whether any input is read)."""
    k = len(per_rule)
    table = []
    for mask in range(1 << k):
        read = [any(mask >> j & 1 and i in per_rule[j] for j in range(k)) for i in range(k)]
        table.append((tuple(i for i in range(k) if not read[i]), any(read)))
    return tuple(table)


def _describe_arg(a: Any) -> str:
    if isinstance(a, Tensor | np.ndarray):
        return f"shape {a.shape} {a.dtype}"
    if isinstance(a, np.generic):
        return f"{a.dtype} scalar"
    return type(a).__name__


def _op_error(op: Op, args: tuple, e: Exception) -> Exception:
    text = str(e).removeprefix(f"{op.name}: ")  # NumPy's own message may name the op
    msg = f"{op.name}: {text} (inputs: " + ", ".join(_describe_arg(a) for a in args) + ")"
    for cls in (IndexError, TypeError, ValueError, OverflowError):
        if isinstance(e, cls):
            return cls(msg)
    return e


def apply(op: Op, args: tuple, attrs: dict | None = None) -> Tensor:
    """Run `op` forward on the arrays inside `args` and record it if a gradient is needed."""
    # The per-op path: one- and two-argument calls (nearly all of them) are unrolled.
    n = len(args)
    if n == 2:
        a, b = args
        if isinstance(a, Tensor):
            da, ra = a.data, a._rg
        else:
            if isinstance(a, _GENERIC):
                # A NumPy scalar counts as the Python number it holds, as in PyTorch: a
                # float32 tensor times np.float64(2) stays float32, int32 times np.int64(2)
                # int32 (a constant that does not fit the tensor's dtype is an OverflowError
                # naming the op, where PyTorch would wrap it around silently).
                a = a.item()
                args = (a, b)
            elif type(a) is list or type(a) is tuple:
                a = _sequence_operand(op, a, args)
                args = (a, b)
            da, ra = a, False
        if isinstance(b, Tensor):
            db, rb = b.data, b._rg
        else:
            if isinstance(b, _GENERIC):
                b = b.item()
                args = (args[0], b)
            elif type(b) is list or type(b) is tuple:
                b = _sequence_operand(op, b, args)
                args = (args[0], b)
            db, rb = b, False
        datas: tuple = (da, db)
        if (
            type(da) is _NDARRAY
            and type(db) is _NDARRAY
            and da.dtype is not db.dtype
            and (da.ndim == 0) != (db.ndim == 0)
        ):
            datas = _zero_dims_as_numbers(datas)
        record = ra or rb
    elif n == 1:
        a = args[0]
        if isinstance(a, Tensor):
            datas, record = (a.data,), a._rg
        else:
            datas, record = (a,), False
        # As PyTorch: an int or bool input is computed in the default float dtype. NumPy would
        # use the smallest float that holds the ints: exp of int8 12 is inf in float16. (Such
        # an input never requires grad, so a recorded call need not look.)
        if op.floats and not record and type(datas[0]) is _NDARRAY:
            if datas[0].dtype.kind in "biu":
                datas = (datas[0].astype(_default_dtype),)
    else:  # any number of arguments: one pass collects what recording needs, too
        data_list: list = []
        edge_list: list = []
        version_list: list = []
        record = raw = scalars = zero_d = False
        needs = 0  # bit i: input i needs a gradient
        for i, x in enumerate(args):
            if isinstance(x, Tensor):
                d = x.data
                data_list.append(d)
                zero_d = zero_d or not d.ndim
                edge_list.append(x._node or (x if x._rg else None))
                version_list.append(x._vcell[0])
                if x._rg:
                    record = True
                    needs |= 1 << i
            else:
                if isinstance(x, _GENERIC):  # a Python number (see the 2-argument path)
                    x = x.item()
                    scalars = True
                elif type(x) is list or type(x) is tuple:
                    x = _sequence_operand(op, x, args)
                    scalars = True
                    args = args[:i] + (x,) + args[i + 1 :]
                data_list.append(x)
                edge_list.append(None)
                version_list.append(None)
                raw = raw or isinstance(x, np.ndarray)
        datas = tuple(data_list)
        if zero_d:
            datas = _zero_dims_as_numbers(datas)
        if scalars:
            args = tuple(x.item() if isinstance(x, _GENERIC) else x for x in args)
    saved = None
    try:
        if op.saving is not None and record and _state.enabled:
            out, saved = op.saving(*datas, **attrs) if attrs else op.saving(*datas)
        else:
            out = op.fwd(*datas, **attrs) if attrs else op.fwd(*datas)
    except (ValueError, TypeError, IndexError, OverflowError) as e:
        raise _op_error(op, args, e) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)  # ufuncs return NumPy scalars for 0-d inputs
    od = out.dtype
    if od is _F64 and not op.own_dtype:
        for d in datas:
            if type(d) is _NDARRAY and (d.dtype is _F64 or d.dtype.itemsize >= 16):
                break  # a float64 (or complex128) input: float64 is its own
        else:
            out = _torch_float(out, datas)
            od = out.dtype
    t = Tensor.__new__(Tensor)
    t.data = out
    t._grad = None
    if _Anomaly.enabled:
        _check_forward(op, datas, out)
    # Integer and bool results (comparisons, casts to int) never carry a gradient; complex
    # ones cannot (see _complex_error).
    recording = record and _state.enabled and op.differentiable
    if recording and od.kind == "f":
        # Node.__init__, inlined: this is the per-op path.
        node = _new_node(Node)
        node.op = op
        node.n = n
        # An op whose rules read no input values (only shapes) neither checks its inputs'
        # versions nor keeps its own copy of array arguments: changing them in place before
        # backward cannot change its gradients (`c += 1` after `z = w + c` is fine).
        # With per-rule reads (mul: d/dx reads y, d/dy reads x), only the inputs that the
        # rules of the inputs needing a gradient read: `y = x * 2; x += 1` is fine.
        reads = op.reads
        if n == 2:
            reads_a, reads_b = op.reads2[rb][ra]
            if isinstance(a, Tensor):
                node.e0 = a._node or (a if ra else None)
                node.v0 = a._vcell[0] if reads_a else UNCHECKED
            else:
                node.e0 = node.v0 = None
                if reads_a and isinstance(a, np.ndarray):  # see _own_arrays
                    args = (a.copy(), b)
            if isinstance(b, Tensor):
                node.e1 = b._node or (b if rb else None)
                node.v1 = b._vcell[0] if reads_b else UNCHECKED
            else:
                node.e1 = node.v1 = None
                if reads_b and isinstance(b, np.ndarray):
                    args = (args[0], b.copy())
            node.x0, node.x1 = args
        elif n == 1:
            node.x0 = a
            node.e0 = a._node or a
            node.v0 = a._vcell[0] if reads else UNCHECKED
        else:
            if type(reads) is tuple:
                unread, reads = reads[needs]
                for i in unread:
                    if i < n and version_list[i] is not None:
                        version_list[i] = UNCHECKED
                versions = tuple(version_list)
            elif reads:
                versions = tuple(version_list)
            else:
                versions = tuple([v if v is None else UNCHECKED for v in version_list])
            if raw and reads:
                args = _own_arrays(args)
            node.x0, node.e0, node.v0 = args, tuple(edge_list), versions
        if op.view and _is_view_of(out, datas[0]):
            base = args[0]
            t._version = cell = base._version
            t._base = base
            if base._node is not None:  # not a leaf: a recorded write may still change it
                _register_view(base, t, op, args[1:], attrs)
        else:
            t._vcell = cell = _UNWRITTEN
            t._base = None
        node.attrs = attrs
        node.retain = None
        node.seq = _next_seq()
        if op.saves_ans:
            node.ans = out
            if cell is _UNWRITTEN:
                cell = t._vcell = [0]
            node.ans_cell = cell
            node.ans_version = cell[0]
        elif saved is not None:  # private to the node: nothing can change it in place
            node.ans = saved
            node.ans_cell = _UNCHANGING
            node.ans_version = 0
        else:
            node.ans = node.ans_cell = None
            node.ans_version = 0
        if _Anomaly.enabled:
            engine.record_trace(node)
        t._node = node
        t._rg = True
    else:
        if recording and od.kind == "c":
            raise _complex_error(op.name, datas)
        t._node = None
        t._rg = False
        if op.view and isinstance(args[0], Tensor) and _is_view_of(out, datas[0]):
            # A view even when nothing is recorded: writing a value that requires grad into
            # it later would change the base behind the graph's back (see __setitem__).
            base = t._base = args[0]
            t._version = base._version
            if not base._rg:
                _register_view(base, t, op, args[1:], attrs)
        else:
            t._base = None
            t._vcell = _UNWRITTEN
    return t


_KIND = {"b": "b", "i": "i", "u": "i", "f": "f", "c": "c"}  # PyTorch's categories


def _zero_dims_as_numbers(datas: tuple) -> tuple:
    """The forward's operands when some are 0-d: PyTorch lets the operands with dimensions
    keep their dtype against a 0-d one of the same kind (float32 times a float64 0-d tensor
    is float32, int32 plus an int64 one int32), where NumPy would widen. Such a 0-d operand
    enters as the number it holds; the node keeps the array, so the rules see its dtype."""
    kinds = {_KIND.get(d.dtype.kind) for d in datas if type(d) is _NDARRAY and d.ndim}
    return tuple(
        d.item() if type(d) is _NDARRAY and not d.ndim and _KIND.get(d.dtype.kind) in kinds else d
        for d in datas
    )


def _torch_float(out: np.ndarray, datas: tuple) -> np.ndarray:
    """A float64 result NumPy made without a float64 input, in PyTorch's dtype instead: the
    widest floating input's (int64 × float32 is float32), else the default dtype (ints,
    bools and Python numbers only: int / 2, where(mask, 1.0, 0.0))."""
    widths = [
        d.dtype.itemsize // (2 if d.dtype.kind == "c" else 1)
        for d in datas
        if type(d) is np.ndarray and d.dtype.kind in "fc"
    ]
    dtype = np.dtype(f"f{max(widths)}") if widths else _default_dtype
    return out if dtype is _F64 else out.astype(dtype)


def _read_only(name: str, shape: tuple) -> str:
    return (
        f"{name}: the tensor (shape {shape}) is read-only, e.g. a broadcast view made by "
        "expand; update a copy instead"
    )


# Views of tensors that can still get a recorded write (plain tensors, and non-leaf ones),
# by id of their base: how each was made, so that such a write can give them the
# base's new history (see _record_write). Weak both ways, so the registry keeps no tensor
# alive; dead entries are dropped as it grows.
_VIEWS: dict[int, tuple[weakref.ref, list]] = {}
_VIEWS_LIMIT = [64]
_VIEWS_LOCK = threading.Lock()


def _is_view_of(out: np.ndarray, data: np.ndarray) -> bool:
    """Whether a view op's result really shares `data`'s memory. NumPy points a view's `base`
    at the owner of the memory; a reshape that had to copy, or an integer index (a scalar,
    copied), owns its own, and is then an ordinary tensor: later writes do not reach it."""
    owner = out.base
    return owner is not None and (owner is data or owner is data.base)


def _register_view(base: Tensor, view: Tensor, op: Op, rest: tuple, attrs: Any) -> None:
    """Remember that `view` is op(base, *rest, **attrs) (recorded or not)."""
    record = (weakref.ref(view), op, rest, attrs, _state.enabled)
    with _VIEWS_LOCK:  # threads share the registry: no registration may be lost to a prune
        entry = _VIEWS.get(id(base))
        if entry is None or entry[0]() is not base:
            if len(_VIEWS) >= _VIEWS_LIMIT[0]:
                for key in [k for k, (ref, _) in _VIEWS.items() if ref() is None]:
                    del _VIEWS[key]
                _VIEWS_LIMIT[0] = max(64, 2 * len(_VIEWS))
            entry = _VIEWS[id(base)] = (weakref.ref(base), [])
        views = entry[1]
        n = len(views)
        if n >= 16 and not n & (n - 1):  # at each power of two: forget the dead
            views[:] = [v for v in views if v[0]() is not None]
        views.append(record)


def _registered(base: Tensor) -> list:
    """A copy of the registry's entries for views of `base` (dead ones included)."""
    with _VIEWS_LOCK:
        entry = _VIEWS.get(id(base))
        return list(entry[1]) if entry is not None and entry[0]() is base else []


def _into_base(view: Tensor) -> Callable | None:
    """For a view made by indexing, transposing or reshaping its base: a function from the
    view's new value to (value, index) to write into the base. None for other views."""
    base = view._base
    for ref, op, _, attrs, _ in _registered(base):
        if ref() is view:
            if op is ops.getitem:
                return lambda new: (new, attrs["idx"])
            if op is ops.transpose:
                inverse = tuple(int(i) for i in np.argsort(attrs["axes"]))
                return lambda new: (new.transpose(inverse), Ellipsis)
            if op is ops.reshape:
                return lambda new: (new.reshape(base.shape), Ellipsis)
            return None
    return None


def _views_of(t: Tensor) -> list:
    """(base, view, op, rest, attrs, made with grad) for every live view registered on `t`
    or, through views of views, below it; each view after the view it was made from."""
    out: list = []
    stack = [t]
    while stack:
        base = stack.pop()
        for ref, op, rest, attrs, with_grad in _registered(base):
            v = ref()
            if v is not None:
                out.append((base, v, op, rest, attrs, with_grad))
                stack.append(v)
    return out


def _memory_shared(view: Tensor, n_views: int = 0) -> bool:
    """Whether a tensor other than `view` can see the memory `view` shares with its bases
    (beyond the `n_views` registered views made from `view`, which the write redoes).

    If one can, a recorded write through the view must go into the base (and redo the base's
    views), or that tensor — a variable, another view, a recorded op — would miss it. A base
    only views hold, as in `x = zeros(6).reshape(2, 3); x[0] = w`, is unobservable: the view
    can then stand alone, and the write stays on it. CPython's reference count tells which
    case this is.
    """
    chain = 0
    b = view._base
    while b is not None:
        # References: the _base slot of the tensor made from b, the local b, the argument.
        if sys.getrefcount(b) > 3:
            return True
        chain += 1
        b = b._base
    # Every tensor over this memory shares the version counter: the view, each base, and any
    # view made from the view itself (which the walk up the chain does not see).
    return sys.getrefcount(view._version) > 2 + chain + n_views


def _sequence_operand(op: Op, x: list | tuple, args: tuple) -> np.ndarray:
    """A list or tuple operand as the array `tensor(x)` would hold (a constant)."""
    _check_no_grad_inside(op.name, x)
    try:
        return _to_array(x, name=op.name)
    except (ValueError, TypeError) as e:
        raise _op_error(op, args, e) from None


def _check_no_grad_inside(name: str, x: list | tuple) -> None:
    """Raise if the list or tuple `x` holds a Tensor that requires grad: made a constant, it
    would lose its gradient without a word (PyTorch refuses list operands altogether)."""
    if not _state.enabled:
        return
    stack = list(x)
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            if item._rg:
                raise TypeError(
                    f"{name}: a list or tuple operand holds a tensor that requires grad "
                    f"(shape {item.shape}); as a constant it would get no gradient. Make one "
                    f"tensor of them with ag.stack (or ag.tensor, to drop the gradient on purpose)"
                )
        elif type(item) is list or type(item) is tuple:
            stack.extend(item)


def _own_arrays(args: tuple) -> tuple:
    """`args` with each plain NumPy array copied: the node keeps its arguments for backward,
    and a caller who changes an array it passed (which has no version counter) must not
    change the gradient silently."""
    return tuple([x.copy() if isinstance(x, np.ndarray) else x for x in args])


_new_node = object.__new__
_UNCHANGING = (0,)  # the version "counter" of an intermediate only its node holds
_next_seq = engine._sequence.__next__


def _make(data: np.ndarray, node: Node) -> Tensor:
    """A Tensor standing for `node`'s output (used when the backward pass is recorded)."""
    t = Tensor.__new__(Tensor)
    t.data, t._grad, t._rg, t._node = data, None, True, node
    t._version, t._base = node.ans_cell if node.ans is not None else [0], None
    return t


def _check_forward(op: Op, datas: list, out: np.ndarray) -> None:
    if _nonfinite(out) and not any(_nonfinite(d) for d in datas):
        raise RuntimeError(
            f"detect_anomaly: '{op.name}' produced nan or inf in its output (inputs: "
            + ", ".join(_describe_arg(d) for d in datas)
            + ")"
        )


def _check_cast(name: str, res: np.ndarray, dst: np.ndarray) -> None:
    if res.shape != dst.shape:
        raise ValueError(
            f"{name}: the result would have shape {res.shape}, but the tensor updated in place "
            f"has shape {dst.shape}"
        )
    if not np.can_cast(res.dtype, dst.dtype, casting="same_kind"):
        raise TypeError(
            f"{name}: result of dtype {res.dtype} cannot be stored in place in a tensor of "
            f"dtype {dst.dtype}"
        )


# --------------------------------------------------------------------------- argument helpers


def _as_tuple(axis: Any) -> tuple:
    if isinstance(axis, tuple | list):
        return tuple(axis)
    return (axis,)


def _norm_axis(name: str, axis: Any, ndim: int) -> int:
    try:
        a = operator.index(axis)  # as NumPy: 0.7 is not an axis (int() would make it 0)
    except TypeError:
        raise TypeError(f"{name}: axis must be an integer, got {axis!r}") from None
    if not -max(ndim, 1) <= a < max(ndim, 1):
        raise ValueError(f"{name}: axis {axis} is out of range for a tensor with {ndim} dims")
    return a % max(ndim, 1)


def _dim_alias(name: str, axis: Any, kw: dict) -> Any:
    if "dim" in kw:
        if axis is not None:
            raise TypeError(f"{name}: give axis or dim, not both")
        axis = kw.pop("dim")
    if kw:
        raise TypeError(f"{name}: unexpected keyword arguments {sorted(kw)}")
    return axis


def _axis_args(
    name: str, t: Tensor, axis: Any, keepdims: bool, kw: dict, single: bool = False
) -> tuple[Any, bool]:
    if "keepdim" in kw:
        keepdims = kw.pop("keepdim")
    axis = _dim_alias(name, axis, kw)
    nd = t.data.ndim
    if axis is None:
        return None, bool(keepdims)
    if single:
        if isinstance(axis, tuple | list):
            raise TypeError(f"{name}: axis must be a single integer, got {axis!r}")
        return _norm_axis(name, axis, nd) if nd else None, bool(keepdims)
    axes = tuple(_norm_axis(name, a, nd) for a in _as_tuple(axis))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{name}: repeated axis in {axis!r}")
    if nd == 0:
        return None, bool(keepdims)
    return axes, bool(keepdims)


def _check_nonempty(name: str, t: Tensor, axis: Any) -> None:
    shape = t.data.shape
    if t.data.size == 0:
        axes = range(len(shape)) if axis is None else _as_tuple(axis)
        if any(shape[a] == 0 for a in axes) or axis is None:
            raise ValueError(
                f"{name}: cannot reduce over an empty axis (tensor of shape {shape}); "
                "the reduction has no identity"
            )


def _shape_arg(shape: tuple, name: str, sizes: bool = False) -> tuple:
    """A shape given as ints or one tuple/list of them; `sizes`: none may be negative."""
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if isinstance(s, Tensor):
            s = s.item()
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{name}: shape entries must be integers, got {s!r}")
        out.append(int(s))
    if sizes and any(s < 0 for s in out):
        raise ValueError(f"{name}: negative dimension in shape {tuple(out)}")
    return tuple(out)


def _resolve_shape(t: Tensor, shape: tuple) -> tuple:
    n = t.data.size
    if shape.count(-1) > 1:
        raise ValueError(f"only one dimension can be -1, got {shape}")
    if -1 in shape:
        rest = 1
        for s in shape:
            if s != -1:
                rest *= s
        if rest == 0 or n % rest:
            raise ValueError(f"cannot reshape a tensor of shape {t.shape} into {shape}")
        shape = tuple(n // rest if s == -1 else s for s in shape)
    total = 1
    for s in shape:
        if s < 0:
            raise ValueError(f"invalid shape {shape}")
        total *= s
    if total != n:
        raise ValueError(f"cannot reshape a tensor of shape {t.shape} into {shape}")
    return shape


def _raw_index(idx: Any) -> Any:
    """`idx` with every advanced index in it as an ndarray of its own (a copy)."""
    # Index arrays are copied: the graph keeps them for backward, and a caller who reuses
    # the array before then must not change the gradient silently. Inside an index NumPy reads
    # any sequence (a tuple item too) and a bool as an index array; made one here, an index
    # holds only arrays, slices, ints, None and Ellipsis for the code that reads it (the
    # batched rules of transforms).
    if isinstance(idx, tuple):
        return tuple(_raw_index_item(i) for i in idx)
    return _raw_index_item(idx)


def _raw_index_item(i: Any) -> Any:
    if isinstance(i, Tensor):
        return i.data.copy()
    if isinstance(i, np.ndarray):
        return i.copy()
    if isinstance(i, list | tuple | bool | np.bool_):
        seq = isinstance(i, list | tuple)
        arr = np.asarray([v.data if isinstance(v, Tensor) else v for v in i] if seq else i)
        # NumPy reads an empty list as an empty integer index, not a float array.
        return arr.astype(np.intp) if arr.size == 0 else arr
    return i


# --------------------------------------------------------------------------- creation


def tensor(data: Any, requires_grad: bool = False, dtype: DTypeLike = None) -> Tensor:
    """A new leaf tensor holding a copy of `data`."""
    return Tensor(_to_array(data, dtype, copy=True), requires_grad=requires_grad)


def _dtype_or_default(dtype: DTypeLike) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else _default_dtype


def _made(name: str, make: Callable[[], np.ndarray], requires_grad: bool) -> Tensor:
    """Tensor(make()), with NumPy's complaints about the arguments raised under `name`."""
    try:
        arr = make()
    except (ValueError, TypeError) as e:
        raise _renamed(e, f"{name}: {e}") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name}: a tensor holds numbers, not dtype {arr.dtype}")
    return Tensor(arr, requires_grad)


def _renamed(e: Exception, message: str) -> Exception:
    """NumPy's complaint `e` under our message, as TypeError or ValueError."""
    # The base class: a subclass (UnicodeError, ...) takes other arguments.
    return (TypeError if isinstance(e, TypeError) else ValueError)(message)


def _count(name: str, n: Any) -> int:
    """A non-negative integer argument (a number of rows or steps)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name}: expected an integer, got {n!r}")
    if n < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {n}")
    return int(n)


def zeros(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros."""
    shape = _shape_arg(shape, "zeros", sizes=True)
    return _made("zeros", lambda: np.zeros(shape, _dtype_or_default(dtype)), requires_grad)


def ones(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones."""
    shape = _shape_arg(shape, "ones", sizes=True)
    return _made("ones", lambda: np.ones(shape, _dtype_or_default(dtype)), requires_grad)


def empty(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor."""
    shape = _shape_arg(shape, "empty", sizes=True)
    return _made("empty", lambda: np.empty(shape, _dtype_or_default(dtype)), requires_grad)


def full(
    shape: Any, fill_value: Any, dtype: DTypeLike = None, requires_grad: bool = False
) -> Tensor:
    """A tensor filled with `fill_value` (its dtype follows the value, as in PyTorch)."""
    if dtype is None:
        if isinstance(fill_value, bool):
            dtype = np.bool_
        elif isinstance(fill_value, numbers.Integral):
            dtype = np.int64
        elif isinstance(fill_value, numbers.Real):
            dtype = _default_dtype
    shape = _shape_arg((shape,) if not isinstance(shape, tuple | list) else (tuple(shape),),
                       "full", sizes=True)  # fmt: skip
    return _made("full", lambda: np.full(shape, fill_value, dtype), requires_grad)


def zeros_like(t: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Zeros shaped (and typed) like `t`."""
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _made("zeros_like", lambda: np.zeros(a.shape, dtype or a.dtype), requires_grad)


def ones_like(t: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Ones shaped (and typed) like `t`."""
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _made("ones_like", lambda: np.ones(a.shape, dtype or a.dtype), requires_grad)


def full_like(
    t: Any, fill_value: Any, dtype: DTypeLike = None, requires_grad: bool = False
) -> Tensor:
    """`fill_value` shaped (and typed) like `t`."""
    a = t.data if isinstance(t, Tensor) else np.asarray(t)
    return _made("full_like", lambda: np.full(a.shape, fill_value, dtype or a.dtype), requires_grad)


def arange(
    start: float,
    end: float | None = None,
    step: float = 1,
    dtype: DTypeLike = None,
    requires_grad: bool = False,
) -> Tensor:
    """Evenly spaced values in [start, end); integers give int64, floats the default dtype."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = np.int64 if ints else _default_dtype
    try:
        if np.dtype(dtype).kind in "iu":
            # As torch: start, end and step become integers first (NumPy counts the elements
            # in floats and casts the values: arange(0, 2.5) would end at 2, step 0.5 give 0s).
            start, end, step = (int(v) for v in (start, end, step))
    except (TypeError, ValueError, OverflowError) as e:
        raise _renamed(e, f"arange: {e}") from None
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    return _made("arange", lambda: np.arange(start, end, step, dtype=dtype), requires_grad)


def linspace(
    start: float, end: float, steps: int, dtype: DTypeLike = None, requires_grad: bool = False
) -> Tensor:
    """`steps` evenly spaced values from start to end inclusive."""
    steps = _count("linspace", steps)
    return _made(
        "linspace", lambda: np.linspace(start, end, steps, dtype=_dtype_or_default(dtype)),
        requires_grad,
    )  # fmt: skip


def eye(
    n: int, m: int | None = None, dtype: DTypeLike = None, requires_grad: bool = False
) -> Tensor:
    """The identity matrix (n x m)."""
    n, m = _count("eye", n), None if m is None else _count("eye", m)
    return _made("eye", lambda: np.eye(n, m, dtype=_dtype_or_default(dtype)), requires_grad)


def rand(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from the seeded generator."""
    d = _dtype_or_default(dtype)
    if d.kind != "f":
        raise TypeError(f"rand: samples need a floating dtype, got {d}")
    shape = _shape_arg(shape, "rand", sizes=True)
    if d.itemsize >= 4:
        return _made("rand", lambda: _rng.random(shape, dtype=d), requires_grad)
    # NumPy's generator makes float32 and float64 only. float16 is drawn as float32 and
    # rounded, and the few samples that round up to 1 are kept below it: [0, 1) still.
    below_one = np.nextafter(d.type(1), d.type(0))
    return _made(
        "rand",
        lambda: np.minimum(_rng.random(shape, dtype=np.float32).astype(d), below_one),
        requires_grad,
    )


def randn(*shape: Any, dtype: DTypeLike = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the seeded generator."""
    d = _dtype_or_default(dtype)
    if d.kind != "f":
        raise TypeError(f"randn: samples need a floating dtype, got {d}")
    shape = _shape_arg(shape, "randn", sizes=True)
    g = d if d.itemsize >= 4 else np.dtype(np.float32)  # as rand
    return _made(
        "randn", lambda: _rng.standard_normal(shape, dtype=g).astype(d, copy=False), requires_grad
    )


from . import ops  # noqa: E402  (ops builds on Tensor and Op defined above)
