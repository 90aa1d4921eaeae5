"""`Value`: the scalar engine, micrograd-compatible.

Each op computes its result and, right away, its local derivatives (∂out/∂input for each
input — the power rule, the derivative of tanh, ...). Backward is then the chain rule alone:
walk the graph from the output, and add `local × upstream` into each input. Plain floats and
`__slots__` keep a node small; no closures, so no reference cycles for the collector to find.
"""

from __future__ import annotations

import math
from operator import attrgetter
from typing import Any

import numpy as np

from .engine import toposort

_Number = (int, float, np.number)


class Value:
    """A scalar that remembers how it was computed and collects d(output)/d(self) in `.grad`."""

    __slots__ = ("data", "grad", "_prev", "_local", "_op", "_g", "label", "__weakref__")

    def __init__(
        self,
        data: float,
        _children: tuple = (),
        _op: str = "",
        _local: tuple = (),
        label: str = "",
    ) -> None:
        if isinstance(data, Value):
            data = data.data
        self.data = data
        self.grad = 0.0
        self._prev = tuple(_children)  # inputs of the op that made this value
        self._local = _local or (0.0,) * len(self._prev)  # ∂self/∂input, one per input
        self._op = _op
        self._g = 0.0  # gradient reaching this node in the running backward pass
        self.label = label

    # arithmetic -------------------------------------------------------------------------
    def __add__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data + other.data, (self, other), "+", (1.0, 1.0))
        if isinstance(other, _Number):
            return Value(self.data + other, (self,), "+", (1.0,))
        return NotImplemented

    def __radd__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            return Value(other + self.data, (self,), "+", (1.0,))
        return NotImplemented

    def __sub__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data - other.data, (self, other), "-", (1.0, -1.0))
        if isinstance(other, _Number):
            return Value(self.data - other, (self,), "-", (1.0,))
        return NotImplemented

    def __rsub__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            return Value(other - self.data, (self,), "-", (-1.0,))
        return NotImplemented

    def __mul__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return Value(self.data * other.data, (self, other), "*", (other.data, self.data))
        if isinstance(other, _Number):
            return Value(self.data * other, (self,), "*", (other,))
        return NotImplemented

    def __rmul__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            return Value(other * self.data, (self,), "*", (other,))
        return NotImplemented

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Value):
            x, y = self.data, other.data
            return Value(x / y, (self, other), "/", (1.0 / y, -x / (y * y)))
        if isinstance(other, _Number):
            return Value(self.data / other, (self,), "/", (1.0 / other,))
        return NotImplemented

    def __rtruediv__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            x = self.data
            return Value(other / x, (self,), "/", (-other / (x * x),))
        return NotImplemented

    def __pow__(self, other: Any) -> Value:
        x = self.data
        if isinstance(other, _Number):
            # The power rule: d/dx xⁿ = n·xⁿ⁻¹.
            local = other * x ** (other - 1) if other != 0 else 0.0
            return Value(x**other, (self,), f"**{other}", (local,))
        if isinstance(other, Value):
            if x <= 0:
                raise ValueError(f"Value.__pow__: a Value exponent needs a positive base, got {x}")
            y = other.data
            out = x**y
            return Value(out, (self, other), "**", (y * x ** (y - 1), out * math.log(x)))
        return NotImplemented

    def __rpow__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            if other <= 0:
                raise ValueError(f"Value.__rpow__: base {other} must be positive")
            out = other**self.data
            return Value(out, (self,), "**", (out * math.log(other),))
        return NotImplemented

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), "neg", (-1.0,))

    # functions ---------------------------------------------------------------------------
    def relu(self) -> Value:
        """max(x, 0); relu'(0) = 0."""
        x = self.data
        return Value(x if x > 0 else 0.0, (self,), "ReLU", (1.0 if x > 0 else 0.0,))

    def tanh(self) -> Value:
        """Hyperbolic tangent; tanh' = 1 - tanh²."""
        t = math.tanh(self.data)
        return Value(t, (self,), "tanh", (1.0 - t * t,))

    def exp(self) -> Value:
        """e ** x; exp' = exp."""
        try:
            e = math.exp(self.data)
        except OverflowError:
            e = math.inf
        return Value(e, (self,), "exp", (e,))

    def log(self) -> Value:
        """Natural logarithm; log' = 1/x."""
        x = self.data
        if x <= 0:
            raise ValueError(f"Value.log: the logarithm needs a positive number, got {x}")
        return Value(math.log(x), (self,), "log", (1.0 / x,))

    def sigmoid(self) -> Value:
        """1 / (1 + e^-x); sigmoid' = sigmoid·(1 - sigmoid)."""
        x = self.data
        if x >= 0:
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            e = math.exp(x)
            s = e / (1.0 + e)
        return Value(s, (self,), "sigmoid", (s * (1.0 - s),))

    # backward ----------------------------------------------------------------------------
    def backward(self) -> None:
        """Add d(self)/d(node) into `.grad` of every node self depends on (itself: 1.0)."""
        order = toposort([self], _parents)  # self first, every node before its inputs
        for v in order:
            v._g = 0.0
        self._g = 1.0
        for v in order:
            g = v._g
            v.grad += g
            for child, local in zip(v._prev, v._local):
                child._g += local * g  # the chain rule

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def __float__(self) -> float:
        return float(self.data)


_parents = attrgetter("_prev")
