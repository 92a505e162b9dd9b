"""Suite-wide settings."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Two cores shared with real servers: generation can be slow, and timing is not what
# these property tests are about.
settings.register_profile(
    "moxtrace",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("moxtrace")
