"""`Module`, `Parameter` and the layers, with ``torch.nn``'s names, state-dict keys and init.

A module's parameters and sub-modules are found by looking at its attributes when asked
(no registration step): an attribute holding a `Parameter` or a `Module` counts, and so do
Parameters and Modules inside lists, tuples and dicts held by an attribute, named
``attr.<index>`` / ``attr.<key>`` as ``torch.nn.ModuleList``/``ModuleDict`` name them. So
``MLP([64, 128, 10]).state_dict()`` has the keys of
``torch.nn.Sequential(Linear(64, 128), ReLU(), Linear(128, 10))``: ``0.weight``, ``0.bias``,
``2.weight``, ``2.bias``, and a state dict moves between the two libraries unchanged.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..optim.optimizer import zero_grads
from ..tensor import Tensor, _to_array, get_default_dtype
from . import functional as F
from . import init

__all__ = [
    "Parameter",
    "Module",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "Linear",
    "Identity",
    "ReLU",
    "Tanh",
    "Sigmoid",
    "Dropout",
    "MLP",
    "IncompatibleKeys",
    "StateDictError",
]


class Parameter(Tensor):
    """A Tensor that is a module's learnable parameter: a leaf that requires grad."""

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = np.empty((0,), dtype=get_default_dtype())
        else:
            # Shares memory with a Tensor or ndarray argument, as torch.nn.Parameter does.
            arr = data.data if isinstance(data, Tensor) else _to_array(data)
        if requires_grad and arr.dtype.kind != "f":
            raise TypeError(
                f"Parameter: only floating point parameters can require gradients, got dtype "
                f"{arr.dtype}; pass a float array or requires_grad=False"
            )
        super().__init__(arr, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return f"Parameter containing:\n{super().__repr__()}"


# A state-dict problem is a value problem (ValueError, as this library classes errors) that
# torch reports as RuntimeError; subclassing both lets either `except` catch it.
class StateDictError(ValueError, RuntimeError):
    """load_state_dict got missing or unexpected keys, or arrays of the wrong shape."""


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` could not match (torch's _IncompatibleKeys)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _scan(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    """(dotted name, object) for the Parameters and Modules in `value`, containers opened."""
    if isinstance(value, Parameter | Module):
        yield name, value
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _scan(f"{name}.{i}", v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _scan(f"{name}.{k}", v)


def _state_array(value: Any, key: str) -> np.ndarray:
    """The array behind a state-dict entry: Tensor, ndarray, number or a torch tensor."""
    if isinstance(value, Tensor):
        arr = value.data
    elif isinstance(value, np.ndarray):
        arr = value
    elif all(hasattr(value, a) for a in ("detach", "cpu", "numpy")):  # a torch.Tensor
        arr = np.asarray(value.detach().cpu().numpy())
    else:
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"load_state_dict: entry {key!r} of type {type(value).__name__} is not an "
                f"array: {e}"
            ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"load_state_dict: entry {key!r} has dtype {arr.dtype}; expected a numeric array"
        )
    return arr


class Module:
    """Base class of layers and models: subclass it, set layers as attributes, define forward."""

    # A class attribute, so a subclass that forgets super().__init__() still works.
    training: bool = True

    def __init__(self) -> None:
        self.training = True

    # ----------------------------------------------------------------- structure
    def _entries(self) -> Iterator[tuple[str, Any]]:
        """(name, Parameter or Module) held directly by this module, in attribute order."""
        for name, value in vars(self).items():
            yield from _scan(name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run `forward`."""
        forward = getattr(self, "forward", None)
        if forward is None:
            raise TypeError(
                f"{type(self).__name__}: a Module must define forward(self, ...) to be called"
            )
        return forward(*args, **kwargs)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for each direct sub-module (each module once)."""
        seen: set[int] = set()
        for name, obj in self._entries():
            if isinstance(obj, Module) and id(obj) not in seen:
                seen.add(id(obj))
                yield name, obj

    def children(self) -> Iterator[Module]:
        """The direct sub-modules."""
        for _, m in self.named_children():
            yield m

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module ('') and every sub-module, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, obj in self._entries():
            if isinstance(obj, Module):
                sub = f"{prefix}.{name}" if prefix else name
                yield from obj.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and every sub-module."""
        for _, m in self.named_modules():
            yield m

    def _own_parameters(self) -> Iterator[tuple[str, Parameter]]:
        for name, obj in self._entries():
            if isinstance(obj, Parameter):
                yield name, obj

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a shared parameter is listed once."""
        seen: set[int] = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mprefix, m in mods:
            for name, p in m._own_parameters():
                if remove_duplicate:
                    if id(p) in seen:
                        continue
                    seen.add(id(p))
                yield (f"{mprefix}.{name}" if mprefix else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The learnable parameters (what an optimizer is given)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    # ----------------------------------------------------------------- state
    def state_dict(
        self,
        destination: dict[str, Any] | None = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> OrderedDict[str, Tensor]:
        """Parameter name -> tensor (detached, sharing memory) with torch's key names."""
        out: OrderedDict[str, Tensor] = OrderedDict() if destination is None else destination
        for name, p in self._own_parameters():
            out[prefix + name] = p if keep_vars else p.detach()
        for name, obj in self._entries():
            if isinstance(obj, Module):
                obj.state_dict(destination=out, prefix=f"{prefix}{name}.", keep_vars=keep_vars)
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy arrays (Tensors, ndarrays) into the parameters; returns the unmatched keys."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"load_state_dict: expected a mapping of names to arrays, got "
                f"{type(state_dict).__name__}"
            )
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        errors: list[str] = []
        if strict:
            if missing:
                errors.append("missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
            if unexpected:
                errors.append(
                    "unexpected key(s) in state_dict: " + ", ".join(map(repr, unexpected))
                )
        updates = []
        for key, p in own.items():
            if key not in state_dict:
                continue
            arr = _state_array(state_dict[key], key)
            if arr.shape != p.shape:
                errors.append(
                    f"size mismatch for {key!r}: copying a param with shape {arr.shape} from "
                    f"the state dict, the shape in the current model is {p.shape}"
                )
            else:
                updates.append((p, arr))
        if errors:
            # Checked before anything is copied: a failed load leaves the model untouched.
            raise StateDictError(
                f"load_state_dict: error(s) in loading state_dict for {type(self).__name__}: "
                + "; ".join(errors)
            )
        for p, arr in updates:
            # In place, so an optimizer holding these parameters keeps working.
            p.data[...] = arr
            p._bump_version()
        return IncompatibleKeys(missing, unexpected)

    # ----------------------------------------------------------------- modes and grads
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active) on this module and its sub-modules."""
        if not isinstance(mode, bool):
            raise TypeError(f"train: mode must be a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode (Dropout is the identity); same as train(False)."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (default), or to zeros in place."""
        zero_grads(self.parameters(), set_to_none)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set requires_grad on every parameter (False freezes the module)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn on every sub-module (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, dtype: Any) -> Module:
        """Convert every parameter (in place, same Parameter objects) to a float dtype."""
        d = np.dtype(dtype)
        if d.kind != "f":
            raise TypeError(f"to: parameters can only be converted to a float dtype, got {d}")
        for p in self.parameters():
            if p.dtype != d:
                p.data = p.data.astype(d)
                p._bump_version()
                if p.grad is not None:
                    p.grad = Tensor(p.grad.data.astype(d))
        return self

    def float(self) -> Module:
        """Parameters to float32."""
        return self.to(np.float32)

    def double(self) -> Module:
        """Parameters to float64."""
        return self.to(np.float64)

    # ----------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The part of repr() inside the parentheses (layers override it)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        children = [(n, m) for n, m in self._entries() if isinstance(m, Module)]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = extra.split("\n") if extra else []
        for name, m in children:
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {sub}")
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _check_module(where: str, m: Any) -> Module:
    if not isinstance(m, Module):
        raise TypeError(f"{where}: {type(m).__name__} is not a Module")
    return m


class _ModuleSequence(Module):
    """An ordered list of modules, named by position ("0", "1", ...) unless given names."""

    def __init__(self) -> None:
        super().__init__()
        self._items: list[Module] = []
        self._names: list[str] | None = None

    def _entries(self) -> Iterator[tuple[str, Any]]:
        names = self._names if self._names is not None else map(str, range(len(self._items)))
        yield from zip(names, self._items)
        for name, value in vars(self).items():
            if name not in ("_items", "_names"):
                yield from _scan(name, value)

    def _positional(self, op: str) -> None:
        if self._names is not None:
            raise TypeError(
                f"{type(self).__name__}.{op}: not supported when the layers were given names"
            )

    def append(self, module: Module) -> _ModuleSequence:
        """Add a module at the end."""
        self._positional("append")
        self._items.append(_check_module(f"{type(self).__name__}.append", module))
        return self

    def extend(self, modules: Iterable[Module]) -> _ModuleSequence:
        """Add modules at the end."""
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert a module before `index`."""
        self._positional("insert")
        self._items.insert(index, _check_module(f"{type(self).__name__}.insert", module))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            # A slice of a Sequential (an MLP too) is a Sequential, of a ModuleList a ModuleList.
            cls = Sequential if isinstance(self, Sequential) else ModuleList
            out = cls.__new__(cls)
            _ModuleSequence.__init__(out)
            out._items = self._items[idx]
            out._names = None if self._names is None else self._names[idx]
            out.training = self.training
            return out
        try:
            return self._items[idx]
        except IndexError:
            raise IndexError(
                f"{type(self).__name__}: index {idx} is out of range for {len(self._items)} modules"
            ) from None

    def __setitem__(self, idx: int, module: Module) -> None:
        self._items[idx] = _check_module(f"{type(self).__name__}.__setitem__", module)

    def __delitem__(self, idx: int | slice) -> None:
        self._positional("__delitem__")
        del self._items[idx]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)


class ModuleList(_ModuleSequence):
    """A list of modules whose parameters are discovered (keys ``0.weight``, ``1.weight``...)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)


class Sequential(_ModuleSequence):
    """Modules applied one after another: Sequential(a, b, c)(x) = c(b(a(x)))."""

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            # Sequential(OrderedDict(name=module)) names its layers, as in torch.
            names = []
            for name, m in modules[0].items():
                self._items.append(_check_module("Sequential", m))
                names.append(str(name))
            self._names = names
        else:
            for m in modules:
                self._items.append(_check_module("Sequential", m))

    def forward(self, x: Any) -> Any:
        """Apply each module in turn."""
        for m in self._items:
            x = m(x)
        return x


class ModuleDict(Module):
    """A dict of modules whose parameters are discovered (keys ``<name>.weight``...)."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        self._items: dict[str, Module] = {}
        if modules is not None:
            self.update(modules)

    def _entries(self) -> Iterator[tuple[str, Any]]:
        yield from self._items.items()
        for name, value in vars(self).items():
            if name != "_items":
                yield from _scan(name, value)

    def __getitem__(self, key: str) -> Module:
        return self._items[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict: keys must be strings, got {type(key).__name__}")
        self._items[key] = _check_module("ModuleDict", module)

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self) -> Iterable[str]:
        """The names."""
        return self._items.keys()

    def values(self) -> Iterable[Module]:
        """The modules."""
        return self._items.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        """(name, module) pairs."""
        return self._items.items()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add or replace modules."""
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for k, m in pairs:
            self[k] = m


# --------------------------------------------------------------------------- layers


def _check_features(name: str, what: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"{name}: {what} must be an integer, got {n!r}")
    if n < 0:
        raise ValueError(f"{name}: {what} must be non-negative, got {n}")
    return int(n)


class Linear(Module):
    """y = x @ weight.T + bias, weight (out_features, in_features), PyTorch's default init."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None
    ) -> None:
        super().__init__()
        self.in_features = _check_features("Linear", "in_features", in_features)
        self.out_features = _check_features("Linear", "out_features", out_features)
        d = get_default_dtype() if dtype is None else np.dtype(dtype)
        if d.kind != "f":
            raise TypeError(f"Linear: parameters must have a float dtype, got {d}")
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=d))
        self.bias = Parameter(np.empty((self.out_features,), dtype=d)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's init: weight kaiming_uniform_(a=√5), bias U(-1/√fan_in, 1/√fan_in)."""
        # kaiming_uniform_ with a = √5 is U(-1/√fan_in, 1/√fan_in) for the weight too.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Any) -> Tensor:
        """x @ weight.T + bias over the last axis of x."""
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if not shape or shape[-1] != self.in_features:
            raise ValueError(
                f"Linear(in_features={self.in_features}, out_features={self.out_features}): "
                f"input of shape {tuple(shape)} must end in {self.in_features} features"
            )
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        """x unchanged."""
        return x


class ReLU(Module):
    """max(x, 0), elementwise."""

    def forward(self, x: Any) -> Tensor:
        """relu(x)."""
        return F.relu(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Any) -> Tensor:
        """tanh(x)."""
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + e^-x), elementwise."""

    def forward(self, x: Any) -> Tensor:
        """sigmoid(x)."""
        return F.sigmoid(x)


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1/(1-p)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability has to be between 0 and 1, but got {p!r}")
        self.p = float(p)

    def forward(self, x: Any) -> Tensor:
        """Dropout in training mode, the identity in eval mode."""
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


_ACTIVATIONS: dict[str, type[Module]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


class MLP(Sequential):
    """Linear layers of the given sizes with an activation between them (none after the last)."""

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Callable[[], Module] = "relu",
        bias: bool = True,
        dtype: Any = None,
    ) -> None:
        if isinstance(sizes, str | bytes) or not isinstance(sizes, Sequence):
            raise TypeError(f"MLP: sizes must be a sequence of integers, got {sizes!r}")
        sizes = [_check_features("MLP", "each size", s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"MLP: sizes needs at least an input and an output size, got {sizes}")
        if isinstance(activation, str):
            if activation not in _ACTIVATIONS:
                raise ValueError(
                    f"MLP: activation must be one of {sorted(_ACTIVATIONS)} or a Module "
                    f"class, got {activation!r}"
                )
            make = _ACTIVATIONS[activation]
        elif isinstance(activation, Module):  # an instance: one layer cannot sit in two places
            raise TypeError(
                f"MLP: activation must be a name or a Module class (e.g. nn.ReLU, not nn.ReLU()), "
                f"got the instance {activation!r}"
            )
        elif callable(activation):
            make = activation
        else:
            raise TypeError(
                f"MLP: activation must be a string or a Module class, got {activation!r}"
            )
        layers: list[Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            if i:
                layers.append(_check_module("MLP activation", make()))
            layers.append(Linear(n_in, n_out, bias=bias, dtype=dtype))
        super().__init__(*layers)
        self.sizes = tuple(sizes)
