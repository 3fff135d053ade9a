"""Registers the suite's shared fixtures for every test (pytest reads ``pytest_plugins`` only here,
in the root conftest). Tests take fixtures as parameters and import only plain helpers: free ports
from tests/ports.py, accounts from tests/accounts.py, factories from tests/factories.py.

Parallel runs (pytest-xdist, ``-n``): PostgreSQL and Redis are per worker (tests/fixtures/databases.py),
the e2e tests run one at a time on one worker, and a few tests that race wall time run alone
after the rest (tests/fixtures/scheduling.py).
"""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.web",
    "tests.fixtures.browser",
    "tests.fixtures.extras",
    "tests.fixtures.scheduling",
    "tests.cycle_harness",
    "tests.simulated_cluster",
    "tests.integration.api_fixtures",
    "pytester",  # tests/unit/test_suite_guards.py runs pytest on a throwaway test file
]
