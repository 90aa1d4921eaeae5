"""One-off: build autograd_mini/datasets/digits.npz from scikit-learn's digits.csv.gz.

Usage (scikit-learn is not a dependency; fetch its wheel just for this):
    pip download --no-deps scikit-learn -d /tmp/skl
    python -m zipfile -e /tmp/skl/scikit_learn-*.whl /tmp/skl/ex
    python tools/make_digits.py /tmp/skl/ex/sklearn/datasets/data/digits.csv.gz
"""

import sys
from pathlib import Path

import numpy as np


def main(csv_gz: str) -> None:
    """Convert the CSV (64 pixel columns then the label) to a compressed uint8 .npz."""
    raw = np.loadtxt(csv_gz, delimiter=",", dtype=np.int64)
    assert raw.shape == (1797, 65), raw.shape
    assert raw.min() >= 0 and raw[:, :64].max() <= 16 and raw[:, 64].max() <= 9
    # uint8 holds 0..16 and 0..9 losslessly and compresses ~8x better than float64.
    out = Path(__file__).resolve().parents[1] / "autograd_mini" / "datasets" / "digits.npz"
    np.savez_compressed(
        out, images=raw[:, :64].astype(np.uint8), labels=raw[:, 64].astype(np.uint8)
    )
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
