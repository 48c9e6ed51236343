"""Unit tests of the engine, the scan command and the examples: no server, no network.

Hypothesis runs without a per-example deadline: CI machines stall, and the property tests
assert results, not speed. Each property test sets its own ``max_examples`` budget.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "gwwatch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gwwatch")
