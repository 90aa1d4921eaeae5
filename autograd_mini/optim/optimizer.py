"""The ``Optimizer`` base class: parameter groups, per-parameter state and state dicts.

Mirrors ``torch.optim.Optimizer``: ``param_groups`` is a list of dicts holding ``"params"`` and
every hyper-parameter, ``state`` maps each parameter to a dict of NumPy arrays and numbers, and
``state_dict()``/``load_state_dict()`` use PyTorch's layout (parameters replaced by their index
in group order). Optimizers work on the raw ``.data`` arrays, so a step never records a graph.
"""

from __future__ import annotations

import copy
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from ..engine import enable_grad

if TYPE_CHECKING:
    from ..tensor import Tensor

ParamsT: TypeAlias = "Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]"

__all__ = ["Optimizer", "ParamsT"]


def _is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is an autograd_mini Tensor (``nn.Parameter`` included)."""
    # Imported here, not at module level: the package __init__ may import ``optim`` while the
    # tensor module is still loading, which would make a module-level import circular.
    from ..tensor import Tensor

    return isinstance(obj, Tensor)


def _typename(obj: Any) -> str:
    """``torch.typename`` for non-torch objects: the qualified class name."""
    cls = type(obj)
    if cls.__module__ in ("builtins", "__builtin__"):
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


class _ParamState(MutableMapping):
    """Per-parameter state keyed by parameter identity, with ``defaultdict(dict)`` lookups.

    Tensors compare elementwise, so they cannot be dict keys by value; like ``torch`` (which
    hashes tensors by identity) the state is keyed by ``id`` and keeps a reference to each key
    so the id cannot be reused while the entry lives.
    """

    def __init__(self) -> None:
        self._items: dict[Any, tuple[Any, Any]] = {}

    @staticmethod
    def _slot(key: Any) -> Any:
        # Leftover state that matched no parameter on load keeps its plain (index) key.
        if isinstance(key, (int, str)):
            return ("key", key)
        return ("id", id(key))

    def __getitem__(self, key: Any) -> Any:
        slot = self._slot(key)
        entry = self._items.get(slot)
        if entry is None:  # defaultdict(dict) behaviour, as torch's optimizer.state has
            value: dict[str, Any] = {}
            self._items[slot] = (key, value)
            return value
        return entry[1]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._items[self._slot(key)] = (key, value)

    def __delitem__(self, key: Any) -> None:
        del self._items[self._slot(key)]

    def __contains__(self, key: object) -> bool:
        return self._slot(key) in self._items

    def get(self, key: Any, default: Any = None) -> Any:
        """The state of ``key`` if present, else ``default`` (no entry is created)."""
        entry = self._items.get(self._slot(key))
        return default if entry is None else entry[1]

    def __iter__(self) -> Iterator[Any]:
        return (key for key, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} entries)"

    def __deepcopy__(self, memo: dict[int, Any]) -> _ParamState:
        # The default deepcopy would keep the old ids as slots while copying the keys.
        new = _ParamState()
        memo[id(self)] = new
        for key, value in self._items.values():
            new[copy.deepcopy(key, memo)] = copy.deepcopy(value, memo)
        return new


def _copy_value(value: Any) -> Any:
    """A deep copy of a state value: arrays copied, containers rebuilt, numbers kept."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _copy_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy_value(v) for v in value)
    return copy.deepcopy(value)


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Set each parameter's ``.grad`` to None, or fill it with zeros in place (as torch)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
            continue
        if getattr(p.grad, "requires_grad", False):
            # Like torch's grad.detach_(): the zeroed grad must not carry a graph.
            p.grad = p.grad.detach()
        grad = p.grad.data
        if grad.flags.writeable:
            grad.fill(0)
        else:  # e.g. a broadcast view: cannot be written, so replace it
            p.grad.data = np.zeros(grad.shape, dtype=grad.dtype)


class Optimizer(ABC):
    """Base class of all optimizers (``torch.optim.Optimizer``'s interface)."""

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        """Collect ``params`` (Tensors, ``(name, Tensor)`` pairs or group dicts) into groups."""
        self.defaults = defaults
        if _is_tensor(params) or isinstance(params, np.ndarray):
            raise TypeError(
                "params argument given to the optimizer should be "
                "an iterable of Tensors or dicts, but got " + _typename(params)
            )
        self.state: MutableMapping[Any, Any] = _ParamState()
        self.param_groups: list[dict[str, Any]] = []

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __getstate__(self) -> dict[str, Any]:
        """What copies keep: the defaults, state and groups (torch's three)."""
        # Not a scheduler's wrapper of `step` (it calls the optimizer it was made for, so a
        # deep copy's step would move the original's parameters), nor its call flag.
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters; hyper-parameters it does not set take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")

        params = param_group["params"]
        if _is_tensor(params):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. "
                "Please use a list instead."
            )
        else:
            param_group["params"] = list(params)

        # named_parameters() output: (name, tensor) pairs keep their names in the state dict.
        tensors: list[Any] = []
        names: list[str] = []
        for param in param_group["params"]:
            if isinstance(param, tuple):
                names.append(param[0])
                tensors.append(param[1])
            else:
                tensors.append(param)
        param_group["params"] = tensors
        if names:
            if len(names) == len(tensors):
                param_group["param_names"] = names
            else:
                raise ValueError(
                    "all optimizer params should be with/without names. "
                    "Some param names are missing"
                )

        for param in param_group["params"]:
            if not _is_tensor(param):
                raise TypeError(
                    "optimizer can only optimize Tensors, "
                    "but one of the params is " + _typename(param)
                )
            if not getattr(param, "is_leaf", True):
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            param_group.setdefault(name, default)

        ids = [id(p) for p in param_group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; "
                "in future, this will cause an error; "
                "see github.com/pytorch/pytorch/issues/40967 for more information",
                stacklevel=3,
            )

        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                current = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {current} to the optimizer"
                )
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")

        self.param_groups.append(param_group)
        self._init_new_group(param_group)

    def _init_new_group(self, group: dict[str, Any]) -> None:  # noqa: B027
        """Hook for optimizers whose state is created eagerly (Adagrad); no-op by default."""

    # ------------------------------------------------------------------ stepping

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset gradients: set ``.grad`` to None (default) or fill it with zeros in place."""
        for group in self.param_groups:
            zero_grads(group["params"], set_to_none)

    @abstractmethod
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` re-evaluates and returns the loss."""

    @staticmethod
    def _eval_closure(closure: Callable[[], Any] | None) -> Any:
        """Call the closure (if any) before the update and return its loss, as torch does."""
        if closure is None:
            return None
        # The closure runs backward, so it records a graph even if step() is under no_grad.
        with enable_grad():
            return closure()

    @staticmethod
    def _grad_of(p: Tensor, maximize: bool) -> np.ndarray:
        """The gradient array in ``p``'s dtype, negated for ``maximize`` (never mutated)."""
        grad = p.grad.data
        if grad.dtype != p.data.dtype:
            # The update runs in the parameter's dtype: float32 parameters stay float32.
            grad = grad.astype(p.data.dtype)
        return -grad if maximize else grad

    # ------------------------------------------------------------------ state dicts

    def state_dict(self) -> dict[str, Any]:
        """The state as ``{"state": {index: {...}}, "param_groups": [...]}`` with copied arrays."""
        param_mappings: dict[int, int] = {}
        start_index = 0

        def pack_group(group: dict[str, Any]) -> dict[str, Any]:
            nonlocal start_index
            packed = {k: _copy_value(v) for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start_index):
                param_mappings.setdefault(id(p), i)
            packed["params"] = [param_mappings[id(p)] for p in group["params"]]
            start_index += len(packed["params"])
            return packed

        param_groups = [pack_group(g) for g in self.param_groups]
        # Copies, unlike torch: a saved state dict must not change with later steps.
        packed_state = {
            (param_mappings[id(k)] if id(k) in param_mappings else k): _copy_value(v)
            for k, v in self.state.items()
        }
        return {"state": packed_state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict made by :meth:`state_dict` (arrays are copied, not shared)."""
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))

        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(
            len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups, strict=True)
        ):
            raise ValueError(
                "loaded state dict contains a parameter group "
                "that doesn't match the size of optimizer's group"
            )

        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
                strict=True,
            )
        )

        state = _ParamState()
        for k, v in state_dict["state"].items():
            # JSON-based checkpoints may turn int keys into strings; accept both.
            key = int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k
            if key in id_map:
                param = id_map[key]
                state[param] = self._cast_state(param, key, v)
            else:  # state that matches no parameter is kept as is, as torch does
                state[key] = _copy_value(v)

        param_groups = []
        for group, new_group in zip(groups, saved_groups, strict=True):
            new_group["params"] = group["params"]
            if "param_names" in group and "param_names" not in new_group:
                new_group["param_names"] = group["param_names"]
            # Older or hand-made state dicts may lack newer options: fill in the defaults.
            for name, default in self.defaults.items():
                new_group.setdefault(name, default)
            self._restore_group(new_group)
            param_groups.append(new_group)

        self.state = state
        self.param_groups = param_groups

    def _restore_group(self, group: dict[str, Any]) -> None:  # noqa: B027
        """Hook to normalise a loaded group's options (e.g. lists back to tuples)."""

    @staticmethod
    def _cast_state(param: Tensor, index: Any, value: dict[str, Any]) -> dict[str, Any]:
        """Copy one parameter's loaded state, casting float arrays to the parameter's dtype."""
        dtype = param.data.dtype
        out: dict[str, Any] = {}
        for key, v in value.items():
            if key == "step":
                # Stored as a number; a 0-d array or NumPy scalar from a checkpoint works too.
                out[key] = float(np.asarray(v))
            elif isinstance(v, np.ndarray) or hasattr(v, "__array__"):
                arr = np.array(v, copy=True)
                if np.issubdtype(arr.dtype, np.floating) and np.issubdtype(dtype, np.floating):
                    arr = arr.astype(dtype, copy=False)
                if arr.ndim and arr.shape != param.data.shape:
                    raise ValueError(
                        f"loaded state for parameter {index!r} has {key!r} of shape "
                        f"{arr.shape}, but the parameter has shape {param.data.shape}"
                    )
                out[key] = arr
            else:
                out[key] = _copy_value(v)
        return out

    # ------------------------------------------------------------------ misc

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)
