"""Fixtures for the processor's integration tests (the simulated cluster, signed dataset URLs)."""

from tests.cycle_harness import cycle_settings, dataset_server, owner, sessions, sim  # noqa: F401
