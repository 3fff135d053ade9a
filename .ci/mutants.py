"""Mutation testing over the core: does the suite catch small, realistic bugs where they matter?

Each mutant in .ci/mutants.toml replaces one short snippet of one file (a comparison, a WHERE status
filter, an ON CONFLICT clause, a rounding mode) with a plausible wrong version. This script copies
the repository to a temporary directory, applies each mutant there in turn, runs the tests mapped
to its file (unit + integration, against the real PostgreSQL and Redis), and reports each mutant as
caught or survived, the score, and the survivors. A mutant whose snippet is missing from its file,
or found more than once, is an error: when the code changes under the list, it says so.

    .venv/bin/python .ci/mutants.py                  # every mutant (several minutes)
    .venv/bin/python .ci/mutants.py --only claims    # ids or files containing "claims" (or a glob)
    .venv/bin/python .ci/mutants.py --list           # check every snippet, run nothing

It never modifies the tree it is run from. The copy holds the working tree as it is (tracked files
and untracked ones git does not ignore, uncommitted edits included), so new tests count before they
are committed. Tests run with this interpreter, cwd and PYTHONPATH set to the copy, and without
writing bytecode (a same-size mutant must never meet a stale .pyc). Before any mutant, the script
checks that the copy's modules are the ones imported and that a deliberately broken copy fails its
tests; then that the unmutated copy passes them (the baseline).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

from pytest_server import PytestServer  # .ci/pytest_server.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
LIST = ROOT / ".ci" / "mutants.toml"
CANARY_MESSAGE = "mutants.py canary: the copy is the code under test"
CANARY = f'\nraise RuntimeError("{CANARY_MESSAGE}")\n'


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str  # a path or a glob, or several separated by spaces: where the code may move between files
    original: str
    mutated: str
    why: str
    tests: tuple[str, ...] = ()


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # caught, survived, error
    seconds: float = 0.0
    detail: str = ""
    target: str = ""


def load(path: Path) -> tuple[list[Mutant], dict[str, list[str]]]:
    data = tomllib.loads(path.read_text())
    mapping: dict[str, list[str]] = data["tests"]
    mutants = [
        Mutant(
            id=m["id"],
            file=" ".join(m["file"]) if isinstance(m["file"], list) else m["file"],
            original=m["original"],
            mutated=m["mutated"],
            why=m["why"],
            tests=tuple(m.get("tests", ())),
        )
        for m in data["mutant"]
    ]
    ids = [m.id for m in mutants]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SystemExit(f"duplicate mutant ids in {path.name}: {', '.join(duplicates)}")
    return mutants, mapping


def selected(mutants: list[Mutant], patterns: list[str] | None) -> list[Mutant]:
    if not patterns:
        return mutants
    globs = [p if any(c in p for c in "*?[") else f"*{p}*" for p in patterns]
    return [m for m in mutants if any(fnmatch.fnmatch(m.id, g) or fnmatch.fnmatch(m.file, g) for g in globs)]


def tests_for(mutant: Mutant, mapping: dict[str, list[str]]) -> list[str]:
    return list(mutant.tests) or mapping.get(mutant.file, [])


def copy_tree(source: Path, dest: Path) -> None:
    """The working tree's files (tracked, and untracked but not ignored) into `dest`."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in sorted(set(filter(None, listing.split("\0")))):
        origin = source / name
        if origin.is_file():  # a tracked file deleted in the working tree is skipped
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)


def locate(copy: Path, mutant: Mutant) -> Path | str:
    """The one file under `copy` holding the snippet exactly once, or why there is none."""
    files = sorted({p for pattern in mutant.file.split() for p in copy.glob(pattern) if p.is_file()})
    if not files:
        return f"no file matches {mutant.file}"
    hits = [(p, p.read_text().count(mutant.original)) for p in files]
    total = sum(count for _, count in hits)
    if total == 0:
        return f"snippet not found in {mutant.file}"
    if total > 1:
        return f"snippet found {total} times in {mutant.file}; make it unique"
    return next(p for p, count in hits if count == 1)


def environment(copy: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("PIPELINE_TEST_REDIS_DB", "12")
    env.setdefault("CI", "true")  # a missing service fails the run; a skip would look like a survivor
    return env


def pytest(
    server: PytestServer, tests: list[str], timeout: float, *, first: bool = True
) -> tuple[str, str, str]:
    """Run `tests` in the copy: 'passed' | 'failed' | 'timeout' | 'error', the first failure, the output."""
    args = ["-x"] if first else []
    # The server imported the plugins before pytest could rewrite their asserts: harmless, said once per run.
    quiet = ["-q", "--no-header", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    code, output = server.run([*args, *quiet, *tests], timeout)
    if code is None:
        return "timeout", f"no result after {timeout:.0f} s", output
    lines = output.splitlines()
    failed = next((line for line in lines if line.startswith(("FAILED ", "ERROR "))), "")
    failed = failed or next((line for line in lines if line.startswith("E ")), "")  # an import broke
    summary = lines[-1] if lines else ""
    if code == 0:
        return "passed", summary, output
    if code == 5:
        return "error", "no tests ran", output
    # 1: tests failed; 2, 3, 4: the mutated code broke collection, a fixture plugin or conftest.py.
    # Usage errors cannot hide here: the baseline ran the same selections unmutated.
    return "failed", " ".join((failed or summary).split())[:200], output


def check_the_copy_is_tested(
    server: PytestServer, copy: Path, target: Path, tests: list[str], timeout: float
) -> None:
    """The copy's modules are the ones imported, and a broken copy fails (else nothing here means anything)."""
    module = ".".join(target.relative_to(copy).with_suffix("").parts)
    shown = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.__file__)"],
        cwd=copy,
        env=environment(copy),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(shown).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"tests would import {module} from {shown}, not from the copy {copy}")
    original = target.read_text()
    target.write_text(original + CANARY)
    try:
        result, detail, output = pytest(server, tests, timeout)
    finally:
        target.write_text(original)
    if result != "failed" or CANARY_MESSAGE not in output:
        raise SystemExit(f"a deliberately broken {module} did not fail its tests: {detail}")
    print(f"copy checked: {module} is imported from the copy, and breaking it fails {tests[0]}")


def run_mutant(server: PytestServer, copy: Path, mutant: Mutant, tests: list[str], timeout: float) -> Outcome:
    if not tests:
        return Outcome(mutant, "error", detail=f"no tests mapped to {mutant.file} in mutants.toml")
    target = locate(copy, mutant)
    if isinstance(target, str):
        return Outcome(mutant, "error", detail=target)
    original = target.read_text()
    target.write_text(original.replace(mutant.original, mutant.mutated, 1))
    started = time.monotonic()
    try:
        result, detail, _output = pytest(server, tests, timeout)
    finally:
        target.write_text(original)
    status = {"failed": "caught", "timeout": "caught", "passed": "survived"}.get(result, "error")
    relative = str(target.relative_to(copy))
    return Outcome(mutant, status, time.monotonic() - started, detail, relative)


def report(outcomes: list[Outcome], min_score: float) -> int:
    caught = [o for o in outcomes if o.status == "caught"]
    survived = [o for o in outcomes if o.status == "survived"]
    errors = [o for o in outcomes if o.status == "error"]
    judged = len(caught) + len(survived)
    score = 100.0 * len(caught) / judged if judged else 0.0
    print(f"\nscore: {len(caught)} of {judged} mutants caught = {score:.1f} %  ({len(errors)} errors)")
    for title, group in (("survivors", survived), ("errors", errors)):
        if group:
            print(f"{title}:")
            for o in group:
                print(f"  {o.mutant.id} ({o.target or o.mutant.file}): {o.mutant.why}. {o.detail}")
    return 0 if not errors and judged and score >= min_score else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", action="append", help="run mutants whose id or file matches (substring or glob; repeatable)"
    )
    parser.add_argument(
        "--list", action="store_true", help="check every snippet against the tree; run nothing"
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds per test run (a hang is caught)"
    )
    parser.add_argument("--min-score", type=float, default=95.0, help="exit 1 below this score (percent)")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip checking that the unmutated copy passes"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy for inspection")
    args = parser.parse_args(argv)

    mutants, mapping = load(LIST)
    chosen = selected(mutants, args.only)
    if not chosen:
        raise SystemExit(f"no mutant matches {args.only!r}")
    if args.list:
        missing = 0
        for m in chosen:
            where = locate(ROOT, m)
            ok = isinstance(where, Path) and tests_for(m, mapping)
            missing += not ok
            print(f"{'ok   ' if ok else 'ERROR'} {m.id:<40} {where if isinstance(where, str) else m.file}")
        print(f"{len(chosen)} mutants, {missing} errors")
        return 1 if missing else 0

    workdir = Path(tempfile.mkdtemp(prefix="pipeline-mutants-"))
    copy, logs = workdir / "repo", workdir / "logs"
    logs.mkdir()
    try:
        copy_tree(ROOT, copy)
        print(f"{len(chosen)} mutants; copy of {ROOT} in {copy}")
        with PytestServer(copy, environment(copy), logs) as server:
            return run_all(server, copy, chosen, mapping, args)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def run_all(
    server: PytestServer, copy: Path, chosen: list[Mutant], mapping: dict[str, list[str]], args: Namespace
) -> int:
    probe = next(((m, t) for m in chosen if isinstance(t := locate(copy, m), Path)), None)
    if probe is not None:
        check_the_copy_is_tested(server, copy, probe[1], tests_for(probe[0], mapping), args.timeout)
    if not args.no_baseline:
        union = list(dict.fromkeys(t for m in chosen for t in tests_for(m, mapping)))
        result, detail, _output = pytest(server, union, args.timeout * 3, first=False)
        if result != "passed":
            raise SystemExit(f"baseline: the unmutated copy does not pass its tests: {detail}")
        print(f"baseline passes: {detail}")
    outcomes = []
    for mutant in chosen:
        outcome = run_mutant(server, copy, mutant, tests_for(mutant, mapping), args.timeout)
        outcomes.append(outcome)
        print(
            f"{outcome.status:<9} {mutant.id:<40} {outcome.seconds:5.1f} s  {outcome.detail[:100]}",
            flush=True,
        )
    return report(outcomes, args.min_score)


if __name__ == "__main__":
    sys.exit(main())
