"""Shared pytest configuration: Hypothesis profiles.

`ci` (the default) keeps the whole suite fast; `thorough` is for a long local hunt:
`HYPOTHESIS_PROFILE=thorough python -m pytest tests`. A test that sets its own
`@settings(...)` overrides the profile's values for that test only.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,  # timings on a shared 2-core machine are too noisy for a deadline
    derandomize=False,
    print_blob=True,  # a failure prints the @reproduce_failure blob to replay it exactly
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    parent=settings.get_profile("ci"),
    max_examples=1000,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
