"""W2: one training step of a digits classifier, float32.

MLP 64-256-256-10 with ReLU, softmax cross-entropy, a batch of 128 of the shipped digits
(pixels scaled to [0, 1]), plain SGD. autograd_mini's row is written as a user writes it:
`F.linear` layers (weights (out, in), as `nn.Linear` keeps them), `F.relu`,
`F.cross_entropy`, `optim.SGD`.
"""

from __future__ import annotations

import numpy as np

from . import mlp
from .harness import Case

LR = 0.05


def cases(tiny: bool = False) -> list[Case]:
    """The W2 case (tiny: 64-16-16-10 on 8 samples)."""
    from autograd_mini.data import load_digits

    batch, hidden = (8, 16) if tiny else (128, 256)
    X, y = load_digits()
    X = (X[:batch] / 16.0).astype(np.float32)
    y = y[:batch].astype(np.int64)
    params = mlp.init_params([64, hidden, hidden, 10], np.float32, seed=2)
    return [
        Case(
            workload="W2",
            label="W2",
            title=f"digits MLP step, float32, 64-{hidden}-{hidden}-10 ReLU, softmax "
            f"cross-entropy, batch {batch}, SGD",
            reference="numpy-hand",
            peers=mlp.all_peers(params, X, y, "xent", LR),
            targets={"time": 1.10},
            rtol=2e-5,
            atol=1e-6,
        )
    ]
