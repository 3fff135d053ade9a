"""What the suite itself promises: an error in a test's thread or finalizer fails that test, each
pytest-xdist worker gets a Redis database of its own, and a stage that requires the trainer extra
fails rather than skips without it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.fixtures import databases, extras

ROOT = Path(__file__).resolve().parents[2]


def _project_filterwarnings() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        filters: list[str] = tomllib.load(file)["tool"]["pytest"]["ini_options"]["filterwarnings"]
    return filters


def test_an_error_in_a_tests_thread_or_finalizer_fails_that_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nfilterwarnings =\n" + "".join(f"    {f}\n" for f in _project_filterwarnings())
    )
    pytester.makepyfile(
        """
        import threading

        def test_thread_raises():
            worker = threading.Thread(target=lambda: 1 / 0)
            worker.start()
            worker.join()

        class Leaky:
            def __del__(self):
                raise RuntimeError("raised in __del__")

        def test_finalizer_raises():
            Leaky()

        def test_nothing_raises():
            pass

        def test_thread_ends_in_system_exit():  # how dash[testing] stops its server's threads
            def stop():
                raise SystemExit

            worker = threading.Thread(target=stop)
            worker.start()
            worker.join()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        ["*PytestUnhandledThreadExceptionWarning*", "*PytestUnraisableExceptionWarning*"]
    )


@pytest.mark.parametrize(("worker", "expected"), [(None, 9), ("gw0", 9), ("gw1", 8), ("gw3", 6), ("gw9", 0)])
def test_each_worker_counts_down_from_the_base_redis_database(
    monkeypatch: pytest.MonkeyPatch, worker: str | None, expected: int
) -> None:
    monkeypatch.setattr(databases, "REDIS_DB", 9)
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    assert databases.redis_db() == expected


def test_a_worker_past_redis_database_0_fails_and_names_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(databases, "REDIS_DB", 9)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw10")
    with pytest.raises(pytest.fail.Exception, match="leaves room for 10 workers"):
        databases.redis_db()


def test_a_missing_trainer_extra_skips_locally_but_fails_where_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(extras, "TRAINER_MODULES", ("pipeline_no_such_module",))
    monkeypatch.setattr(extras, "REQUIRE_TRAINER", False)
    with pytest.raises(pytest.skip.Exception, match="pipeline_no_such_module missing"):
        extras.needs_trainer_extra()
    assert extras.missing_extras() == []  # nothing required: the run starts

    monkeypatch.setattr(extras, "REQUIRE_TRAINER", True)
    with pytest.raises(pytest.fail.Exception, match="PIPELINE_REQUIRE_TRAINER=1"):
        extras.needs_trainer_extra()
    assert extras.missing_extras() == [
        "PIPELINE_REQUIRE_TRAINER=1 but pipeline_no_such_module missing: pip install -e '.[trainer]'"
    ]
