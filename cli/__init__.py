"""The `lora-pipeline` console script: one entry point for every process role.

Each subcommand imports what it needs lazily, so `lora-pipeline --help` and the light commands stay
fast and a worker never imports Dash. Exit codes: 0 ok, 1 runtime failure, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from settings import EMBEDDED_DATABASE, Settings, SettingsError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A problem the user can fix, said in one line; `exit_code` 2 for usage, 1 for the rest."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _settings(*, require_secrets: bool = True) -> Settings:
    return Settings.from_env(require_secrets=require_secrets)


def embedded_settings(data_dir: str) -> Settings:
    """The settings of the embedded database in `data_dir` (what `lora-pipeline demo --data-dir`
    uses): its SQLite file and its own secret key, whatever DATABASE_URL this shell has.

    Raises:
        CliError: the folder has no PIPELINE database (a typo must not create an empty one).
    """
    folder = Path(data_dir).expanduser()
    if not (folder / EMBEDDED_DATABASE).is_file():  # checked first: settings would create the folder
        raise CliError(
            f"no PIPELINE database in {folder} (expected {EMBEDDED_DATABASE}); "
            "start `lora-pipeline demo --data-dir` there first"
        )
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    return Settings.from_env({**env, "DATA_DIR": str(folder)}, require_secrets=False)


def _account_settings(args: argparse.Namespace) -> Settings:
    data_dir = getattr(args, "data_dir", None)
    return embedded_settings(data_dir) if data_dir else _settings()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from db.migrate import current_revision, upgrade
    from db.session import make_engine

    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    print(f"database at revision {current_revision(engine)}")
    return 0


def _account_command(action: Callable[[Session], str], settings: Settings | None = None) -> int:
    """Run one accounts action in a transaction; an AccountError is a usage error (exit 2)."""
    from db.session import make_engine, make_session_factory, transaction
    from services.accounts import AccountError

    factory = make_session_factory(make_engine((settings or _settings()).database_url))
    try:
        with transaction(factory) as session:
            line = action(session)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(line)
    return 0


def cmd_users_create(args: argparse.Namespace) -> int:
    from services.accounts import create_user

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if password is None:
        print("error: pass the password on standard input with --password-stdin", file=sys.stderr)
        return 2

    def create(session: Session) -> str:
        user = create_user(session, args.email, password)
        return f"created user {user.email} (id {user.id})"

    return _account_command(create, _account_settings(args))


def cmd_users_disable(args: argparse.Namespace) -> int:
    from services.accounts import set_disabled

    def disable(session: Session) -> str:
        user = set_disabled(session, args.email, disabled=not args.enable)
        state = "enabled" if user.disabled_at is None else "disabled (sessions ended, tokens refused)"
        return f"user {user.email} {state}"

    return _account_command(disable)


def cmd_users_invite(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from services.invites import create_invite

    settings = _settings()

    def invite(session: Session) -> str:
        token = create_invite(session, lifetime=timedelta(hours=args.hours), note=args.note)
        return f"{settings.public_base_url}/register?invite={token}"

    code = _account_command(invite)
    if code == 0:
        print(f"Single use; expires in {args.hours:g} hours. Send it to the person only.", file=sys.stderr)
    return code


def cmd_tokens_create(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from services.accounts import issue_token

    lifetime = None if args.expires_days == 0 else timedelta(days=args.expires_days)
    code = _account_command(
        lambda session: issue_token(session, args.email, name=args.name, lifetime=lifetime),
        _account_settings(args),
    )
    if code == 0:
        print("Store this token now: it is shown once and kept only as a hash.", file=sys.stderr)
    return code


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from services.accounts import revoke_tokens

    return _account_command(
        lambda session: f"revoked {revoke_tokens(session, args.email, name=args.name)} token(s)",
        _account_settings(args),
    )


def cmd_tokens_list(args: argparse.Namespace) -> int:
    from db.base import utcnow
    from services.accounts import list_tokens, token_state, user_by_email

    def listing(session: Session) -> str:
        now = utcnow()
        lines = ["id\tname\tstate\tcreated\texpires\tlast used"]
        for token in list_tokens(session, user_by_email(session, args.email).id):
            times = (token.created_at, token.expires_at, token.last_used_at)
            shown = [t.isoformat(timespec="minutes") if t else "-" for t in times]
            lines.append("\t".join([str(token.id), token.name, token_state(token, now), *shown]))
        return "\n".join(lines)

    return _account_command(listing)


def cmd_web(args: argparse.Namespace) -> int:
    from cli.serve import serve_web

    return serve_web(_settings(), host=args.host, port=args.port, workers=args.workers)


def cmd_demo(args: argparse.Namespace) -> int:
    from cli.demo import run_demo

    return run_demo(host=args.host, port=args.port, data_dir=args.data_dir, real=args.real)


def cmd_worker(args: argparse.Namespace) -> int:
    from jobs.queue import run_worker

    return run_worker(_settings(), burst=args.burst)


def cmd_scheduler(args: argparse.Namespace) -> int:
    from jobs.queue import run_scheduler

    return run_scheduler(_settings())


def cmd_cycle(args: argparse.Namespace) -> int:
    from jobs.queue import run_cycle_cli

    return run_cycle_cli(_settings())


def cmd_status(args: argparse.Namespace) -> int:
    import contextlib
    import io

    from jobs.queue import print_status

    if not args.quiet:
        return print_status(_settings())
    with contextlib.redirect_stdout(io.StringIO()):  # healthcheck use: the exit code is the answer
        return print_status(_settings())


def cmd_cluster_sim(args: argparse.Namespace) -> int:
    from simulator.runner import serve_simulator

    return serve_simulator(
        host=args.host,
        port=args.port,
        time_scale=args.time_scale,
        api_key=args.api_key,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        quiet=args.quiet,
    )


DATA_DIR_HELP = "use the embedded database in this folder (the demo's: .data/demo), not DATABASE_URL"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lora-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    demo = add("demo", cmd_demo, "Run the embedded default: SQLite, simulated cluster, in-process cycle.")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8050)
    demo.add_argument("--data-dir", default=None, help="where the demo keeps its database and files")
    demo.add_argument("--real", action="store_true", help="train a real tiny model instead of simulating")

    web = add("web", cmd_web, "Serve the dashboard and JSON API with gunicorn.")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8050)
    web.add_argument("--workers", type=int, default=2)

    worker = add("worker", cmd_worker, "Run an RQ worker that executes processor cycles.")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    add("scheduler", cmd_scheduler, "Enqueue one processor cycle every CYCLE_INTERVAL_SECONDS.")
    add("cycle", cmd_cycle, "Run one processor cycle inline and print its summary.")
    status = add("status", cmd_status, "Print queue depth, the last cycle, jobs by status and workers seen.")
    status.add_argument("--quiet", action="store_true", help="print nothing; exit 0 when healthy")

    sim = add("cluster-sim", cmd_cluster_sim, "Serve the simulated GPU cluster (the contract in docs/).")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8800)
    sim.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second")
    sim.add_argument("--api-key", default=None, help="required bearer token (default: GPU_CLUSTER_API_KEY)")
    sim.add_argument("--latency-ms", type=float, default=0.0, help="added latency per request")
    sim.add_argument("--error-rate", type=float, default=0.0, help="fraction of requests answered 500")
    sim.add_argument("--quiet", action="store_true", help="do not print the listening address")

    add("migrate", cmd_db_upgrade, "Create or upgrade the schema (same as `db upgrade`; the container role).")

    db = sub.add_parser("db", help="Database schema.")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="Create or upgrade the schema.").set_defaults(handler=cmd_db_upgrade)

    users = sub.add_parser("users", help="Manage users.")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    create = users_sub.add_parser("create", help="Create a user.")
    create.add_argument("email")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    create.set_defaults(handler=cmd_users_create)
    disable = users_sub.add_parser("disable", help="Disable a user: no sign-in; sessions and tokens refused.")
    disable.add_argument("email")
    disable.add_argument("--enable", action="store_true", help="re-enable the user instead")
    disable.set_defaults(handler=cmd_users_disable)
    invite = users_sub.add_parser("invite", help="Print a single-use registration link that expires.")
    invite.add_argument("--hours", type=float, default=72.0, help="how long the link works (default 72)")
    invite.add_argument("--note", default="", help="who it is for (kept with the invite)")
    invite.set_defaults(handler=cmd_users_invite)

    tokens = sub.add_parser("tokens", help="Manage API tokens.")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    tcreate = tokens_sub.add_parser("create", help="Create an API token and print it once.")
    tcreate.add_argument("email")
    tcreate.add_argument("--name", default="cli")
    tcreate.add_argument(
        "--expires-days", type=float, default=90.0, help="days until it stops working (0: until revoked)"
    )
    tcreate.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    tcreate.set_defaults(handler=cmd_tokens_create)
    tlist = tokens_sub.add_parser(
        "list", help="List a user's tokens: name, state, created, expires, last used."
    )
    tlist.add_argument("email")
    tlist.set_defaults(handler=cmd_tokens_list)
    trevoke = tokens_sub.add_parser("revoke", help="Revoke a user's tokens (all, or those with --name).")
    trevoke.add_argument("email")
    trevoke.add_argument("--name", default=None)
    trevoke.add_argument("--data-dir", default=None, help=DATA_DIR_HELP)
    trevoke.set_defaults(handler=cmd_tokens_revoke)
    from cli.metrics import register as register_metrics

    register_metrics(sub, embedded_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(exc, SQLAlchemyError):
            raise
        print(f"database error: {_first_line(exc)}; {DATABASE_HINT}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


DATABASE_HINT = (
    "is the schema created (`lora-pipeline db upgrade`)? For the demo's database pass --data-dir .data/demo"
)


def _first_line(exc: BaseException) -> str:
    """The driver's message without SQLAlchemy's statement dump and background link."""
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(exc).__name__])[0][:300]
