"""The autograd_mini benchmark suite: workloads W1-W7v timed against the installed peers.

Run it with `autograd-mini bench` (or `python benchmarks/run.py`); see benchmarks/README.md.
"""
