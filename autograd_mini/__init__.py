"""autograd_mini: a small reverse-mode automatic differentiation engine on NumPy.

`Value` is the scalar engine (micrograd's), `Tensor` the n-d one. See README.md.
"""

from __future__ import annotations

from .engine import (
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .function import Function, FunctionCtx
from .functions import (
    abs,
    cat,
    clamp,
    clip,
    concatenate,
    cos,
    exp,
    log,
    logsumexp,
    matmul,
    maximum,
    mean,
    minimum,
    relu,
    sigmoid,
    sin,
    sqrt,
    stack,
    sum,
    tanh,
    where,
)
from .tensor import (
    Tensor,
    arange,
    empty,
    eye,
    full,
    full_like,
    get_default_dtype,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    set_default_dtype,
    tensor,
    zeros,
    zeros_like,
)
from .value import Value

__version__ = "0.1.0"

__all__ = [
    "Function",
    "FunctionCtx",
    "Tensor",
    "Value",
    "abs",
    "arange",
    "cat",
    "clamp",
    "clip",
    "concatenate",
    "cos",
    "detect_anomaly",
    "empty",
    "enable_grad",
    "exp",
    "eye",
    "full",
    "full_like",
    "get_default_dtype",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "linspace",
    "log",
    "logsumexp",
    "manual_seed",
    "matmul",
    "maximum",
    "mean",
    "minimum",
    "no_grad",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "relu",
    "set_default_dtype",
    "set_grad_enabled",
    "sigmoid",
    "sin",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "tensor",
    "where",
    "zeros",
    "zeros_like",
]

from . import data, nn, optim, viz  # noqa: E402
from .gradcheck import (  # noqa: E402
    GradcheckError,
    gradcheck,
    gradgradcheck,
    numerical_grad,
    numerical_jacobian,
)
from .serialization import load, save  # noqa: E402
from .transforms import grad, hessian, jacobian, jvp, value_and_grad, vjp  # noqa: E402

__all__ += [
    "GradcheckError",
    "data",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "jacobian",
    "jvp",
    "load",
    "nn",
    "numerical_grad",
    "numerical_jacobian",
    "optim",
    "save",
    "value_and_grad",
    "viz",
    "vjp",
]
