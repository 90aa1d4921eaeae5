"""Neural-network building blocks: `Module`, `Parameter`, layers, `functional` and `init`."""

from . import functional, init
from .modules import (
    MLP,
    Dropout,
    Identity,
    IncompatibleKeys,
    Linear,
    Module,
    ModuleDict,
    ModuleList,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    StateDictError,
    Tanh,
)

__all__ = [
    "MLP",
    "Dropout",
    "Identity",
    "IncompatibleKeys",
    "Linear",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "StateDictError",
    "Tanh",
    "functional",
    "init",
]
