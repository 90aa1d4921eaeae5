"""`Value`: the scalar engine, micrograd-compatible.

Each op computes its result and, right away, its local derivatives (∂out/∂input for each
input — the power rule, the derivative of tanh, ...). Backward is then the chain rule alone:
walk the graph from the output, and add `local × upstream` into each input. Plain floats and
`__slots__` keep a node small; no closures, so no reference cycles for the collector to find.
"""

from __future__ import annotations

import itertools
import math
from operator import attrgetter
from typing import Any

import numpy as np

# The operands an op takes besides a Value, each converted with float() where it enters, so
# `.data`, the local derivatives and `.grad` stay Python floats: a NumPy scalar would keep its
# dtype (float16 rounding, float32 ...) through everything computed from it. Complex is not
# here (NumPy's complex scalars are np.number): such an op returns NotImplemented.
_Number = (int, float, np.integer, np.floating, np.bool_)
_Integral = (int, np.integer, np.bool_)  # exponents kept exact: `x**2` is labelled `**2`


_sequence = itertools.count()
_new = object.__new__


def _made(
    data: float, op: str, a: Value, da: float, b: Value | None = None, db: float = 0.0
) -> Value:
    """A Value computed by `op` from `a` (and `b`), with local derivatives `da` (and `db`)."""
    v = _new(Value)
    v.data = data
    v.grad = 0.0
    v._a = a
    v._da = da
    v._b = b
    v._db = db
    v._op = op
    v._seq = next(_sequence)
    v._g = None
    return v


def _pow(x: float, y: float) -> float:
    """x ** y as float64 arithmetic has it (NumPy, torch): ±inf on overflow and for 0 to a
    negative power, nan for a negative base to a fractional power, where Python raises
    OverflowError or ZeroDivisionError or gives a complex number."""
    try:
        out = x**y
        if type(out) is not complex:
            return out
    except (OverflowError, ZeroDivisionError):
        pass
    with np.errstate(all="ignore"):
        return float(np.power(np.float64(x), y))


def _power_rule(x: float, n: float) -> float:
    """d/dx xⁿ = n·xⁿ⁻¹; 0 at n = 0, not 0·∞ (as torch has it)."""
    return n * _pow(x, n - 1) if n != 0 else 0.0


def _div(x: float, y: float) -> float:
    """x / y as float64 arithmetic has it: ±inf or nan for y = 0, where Python raises."""
    try:
        return x / y
    except ZeroDivisionError:
        with np.errstate(all="ignore"):
            return float(np.float64(x) / np.float64(y))


class Value:
    """A scalar that remembers how it was computed and collects d(output)/d(self) in `.grad`."""

    # An op has at most two inputs, kept in slots rather than tuples: one allocation per
    # node keeps the cyclic garbage collector's work (most of micrograd's time) small.
    __slots__ = (
        "data",
        "grad",
        "_a",
        "_da",
        "_b",
        "_db",
        "_op",
        "_g",
        "_seq",
        "_label",
        "__weakref__",
    )

    def __init__(self, data: float, _children: tuple = (), _op: str = "", label: str = "") -> None:
        if isinstance(data, Value):
            data = data.data
        elif not isinstance(data, _Number):
            # Caught here: a string or list would otherwise flow through + and * unchecked.
            raise TypeError(f"Value: data must be a real number, got {type(data).__name__}")
        self.data = float(data)
        self.grad = 0.0
        kids = tuple(_children)
        if len(kids) > 2:
            raise ValueError(f"Value: an op has at most two inputs, got {len(kids)}")
        self._a = kids[0] if kids else None  # inputs of the op that made this value
        self._b = kids[1] if len(kids) > 1 else None
        self._da = self._db = 0.0  # ∂self/∂input (set by the ops below)
        self._op = _op
        self._seq = next(_sequence)  # creation order: inputs are always older
        self._g = None  # gradient reaching this node in a running backward pass; None outside
        if label:
            self._label = label

    @property
    def label(self) -> str:
        """A name for drawings (empty unless given)."""
        return getattr(self, "_label", "")

    @label.setter
    def label(self, value: str) -> None:
        self._label = value

    @property
    def _prev(self) -> tuple:
        """The inputs of the op that made this value (micrograd's name)."""
        return tuple(c for c in (self._a, self._b) if c is not None)

    @property
    def _local(self) -> tuple:
        """∂self/∂input for each of `_prev`."""
        return (self._da, self._db)[: len(self._prev)]

    # arithmetic -------------------------------------------------------------------------
    def __add__(self, other: Any) -> Value:
        if isinstance(other, Value):  # _made, inlined: this and * are most of a model's ops
            v = _new(Value)
            v.data = self.data + other.data
            v.grad = 0.0
            v._a = self
            v._da = 1.0
            v._b = other
            v._db = 1.0
            v._op = "+"
            v._seq = next(_sequence)
            v._g = None
            return v
        if isinstance(other, _Number):
            return _made(self.data + float(other), "+", self, 1.0)
        return NotImplemented

    def __radd__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            return _made(float(other) + self.data, "+", self, 1.0)
        return NotImplemented

    def __sub__(self, other: Any) -> Value:
        if isinstance(other, Value):
            return _made(self.data - other.data, "-", self, 1.0, other, -1.0)
        if isinstance(other, _Number):
            return _made(self.data - float(other), "-", self, 1.0)
        return NotImplemented

    def __rsub__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            return _made(float(other) - self.data, "-", self, -1.0)
        return NotImplemented

    def __mul__(self, other: Any) -> Value:
        if isinstance(other, Value):
            v = _new(Value)
            v.data = self.data * other.data
            v.grad = 0.0
            v._a = self
            v._da = other.data
            v._b = other
            v._db = self.data
            v._op = "*"
            v._seq = next(_sequence)
            v._g = None
            return v
        if isinstance(other, _Number):
            y = float(other)
            return _made(self.data * y, "*", self, y)
        return NotImplemented

    def __rmul__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            y = float(other)
            return _made(y * self.data, "*", self, y)
        return NotImplemented

    def __truediv__(self, other: Any) -> Value:
        if isinstance(other, Value):
            x, y = self.data, other.data
            # d/dy (x/y) = -(x/y)/y, as torch: -x/(y·y) would overflow or underflow in y·y
            # for |y| beyond ~1e±154.
            try:
                out = x / y
                return _made(out, "/", self, 1.0 / y, other, -out / y)
            except ZeroDivisionError:
                out = _div(x, y)
                return _made(out, "/", self, _div(1.0, y), other, -_div(out, y))
        if isinstance(other, _Number):
            y = float(other)
            return _made(_div(self.data, y), "/", self, _div(1.0, y))
        return NotImplemented

    def __rtruediv__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            y, x = float(other), self.data
            out = _div(y, x)
            return _made(out, "/", self, -_div(out, x))  # -(y/x)/x, as above
        return NotImplemented

    def __pow__(self, other: Any) -> Value:
        x = self.data
        if isinstance(other, _Number):
            # Python's int and float as they are (a huge int keeps n - 1 exact); a NumPy one
            # converted, an integer to int so the label reads `**2`. The results are floats.
            n = other
            if type(n) is not float and type(n) is not int:
                n = int(n) if isinstance(n, _Integral) else float(n)
            return _made(_pow(x, n), f"**{n}", self, _power_rule(x, n))
        if isinstance(other, Value):
            if x <= 0:
                raise ValueError(f"Value.__pow__: a Value exponent needs a positive base, got {x}")
            y = other.data
            out = _pow(x, y)
            return _made(out, "**", self, _power_rule(x, y), other, out * math.log(x))
        return NotImplemented

    def __rpow__(self, other: Any) -> Value:
        if isinstance(other, _Number):
            b = float(other)
            if b <= 0:
                raise ValueError(f"Value.__rpow__: base {other} must be positive")
            out = _pow(b, self.data)
            return _made(out, "**", self, out * math.log(b))
        return NotImplemented

    def __neg__(self) -> Value:
        return _made(-self.data, "neg", self, -1.0)

    # functions ---------------------------------------------------------------------------
    def relu(self) -> Value:
        """max(x, 0); relu'(0) = 0."""
        x = self.data
        if x <= 0:
            return _made(0.0, "ReLU", self, 0.0)
        return _made(x, "ReLU", self, 1.0)  # NaN passes through, as in torch

    def tanh(self) -> Value:
        """Hyperbolic tangent; tanh' = 1 - tanh²."""
        t = math.tanh(self.data)
        return _made(t, "tanh", self, 1.0 - t * t)

    def exp(self) -> Value:
        """e ** x; exp' = exp."""
        try:
            e = math.exp(self.data)
        except OverflowError:
            e = math.inf
        return _made(e, "exp", self, e)

    def log(self) -> Value:
        """Natural logarithm; log' = 1/x."""
        x = self.data
        if x <= 0:
            raise ValueError(f"Value.log: the logarithm needs a positive number, got {x}")
        return _made(math.log(x), "log", self, 1.0 / x)

    def sigmoid(self) -> Value:
        """1 / (1 + e^-x); sigmoid' = sigmoid·(1 - sigmoid)."""
        x = self.data
        if x >= 0:
            s = 1.0 / (1.0 + math.exp(-x))
        else:
            e = math.exp(x)
            s = e / (1.0 + e)
        return _made(s, "sigmoid", self, s * (1.0 - s))

    # backward ----------------------------------------------------------------------------
    def backward(self) -> None:
        """Add d(self)/d(node) into `.grad` of every node self depends on (itself: 1.0)."""
        # Like the Tensor engine, run nodes from the newest down: each node's inputs are
        # older than it, so every consumer has sent its share before a node runs, and the
        # shares reach a node in the Tensor engine's order (the same sums, to the last bit).
        # Nodes are found depth-first, newer input first: the order found is then nearly
        # newest-first already and sorting it is cheap (sorting the breadth-first order took
        # a third of backward). `_g` is None outside a pass: a node whose `_g` is a number has
        # been met. The pass sets it back to None as each node runs (and for every node it met
        # if it is interrupted), so nothing is left to reset; a mark per node would be one
        # more slot for the garbage collector to walk. A loop, not recursion: a long chain
        # cannot overflow the stack.
        order = []
        stack = [self]
        try:
            self._g = 1.0
            pop = stack.pop
            while stack:
                v = pop()
                order.append(v)
                a = v._a
                if a is not None:
                    if a._g is None:
                        a._g = 0.0
                        stack.append(a)
                    b = v._b
                    if b is not None and b._g is None:
                        b._g = 0.0
                        stack.append(b)  # on top: in `a op b`, b is usually the newer
            order.sort(key=_by_seq, reverse=True)
            for v in order:
                g = v._g
                v._g = None
                v.grad += g
                a = v._a
                if a is not None:
                    a._g += v._da * g  # the chain rule: local derivative × upstream gradient
                    b = v._b
                    if b is not None:
                        b._g += v._db * g
        except BaseException:
            for v in order + stack:
                v._g = None
            raise

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def __float__(self) -> float:
        return float(self.data)


_by_seq = attrgetter("_seq")
