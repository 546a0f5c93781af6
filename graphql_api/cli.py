"""The `graphql-api` command: serve, migrate, issue tokens, import, export.

Settings come from the environment (see `graphql_api.settings`), read once at
start-up, and command-line flags override them. Commands that use the
database apply pending migrations first unless given ``--no-migrate``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.crypto import SealedValueError, generate_key
from db.migrate import current_revision, head_revision, upgrade
from db.models import ApiToken, Team
from db.session import Database
from db.types import utc_now
from graphql_api.security.keys import install_keyring, resolve_secret_key
from graphql_api.security.logs import install_log_redaction
from graphql_api.settings import DEFAULT_DATABASE_URL, Settings, SettingsError
from graphql_api.tokens import generate_token, hash_token

logger = logging.getLogger("graphql_api.cli")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
# Team and environment names fit their VARCHAR(200) columns.
MAX_NAME_LENGTH = 200
MAX_TOKEN_DAYS = 36_500

_SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

# Name of the token that `serve --demo` prints; each start revokes the last one.
DEMO_TOKEN_NAME = "serve --demo"

_EPILOG = f"""\
settings (environment variables, read once at start; flags override them):
  DATABASE_URL            SQLAlchemy URL, default {DEFAULT_DATABASE_URL}
  HOST, PORT              address that serve listens on, default 127.0.0.1:8000
  LOG_LEVEL               DEBUG, INFO, WARNING, ERROR or CRITICAL, default INFO
  GRAPHQL_API_SECRET_KEY  keys that encrypt stored credentials, comma-separated,
                          the first one encrypting; required by serve (except
                          with --demo), import and rotate-key
  DATABASE_POOL_SIZE      database connections kept open per process, default 5
  DATABASE_MAX_OVERFLOW   extra connections opened under load per process,
                          default 10
  DATABASE_POOL_TIMEOUT   seconds a request waits for a free connection,
                          default 30
  DATABASE_POOL_RECYCLE   seconds after which a connection is replaced, default
                          never
  SHUTDOWN_TIMEOUT_SECONDS
                          seconds serve waits for requests in progress when it
                          stops, default 20

exit codes:
  {EXIT_OK}  success
  {EXIT_FAILURE}  the command failed: invalid import file, database error,
     missing file
  {EXIT_USAGE}  invalid command line or setting, such as PORT=abc
  3  serve could not start the server, for example because the port is in use
"""

Handler = Callable[[argparse.Namespace, Settings], int]


class CommandError(Exception):
    """Raised by a command for a failure that the user can fix; exit code 1."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv) and return its exit code."""
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        settings = _settings_from(arguments)
    except SettingsError as error:
        _exit_usage(parser, str(error))
    _configure_logging(settings)
    try:
        return _dispatch(arguments, settings)
    except SettingsError as error:
        _exit_usage(parser, str(error))
    except CommandError as error:
        print(f"graphql-api: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except SQLAlchemyError as error:
        original = getattr(error, "orig", None)
        message = str(original if original is not None else error)
        print(f"graphql-api: database error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:
        # asyncpg and the socket layer raise OSError (connection refused, host
        # not found) before SQLAlchemy can wrap it.
        print(f"graphql-api: cannot reach the database: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_FAILURE


def _exit_usage(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.exit(EXIT_USAGE, f"{parser.prog}: error: {message}\n")


def _dispatch(arguments: argparse.Namespace, settings: Settings) -> int:
    handler: Handler | None = getattr(arguments, "handler", None)
    if handler is not None:
        return handler(arguments, settings)
    # Commands registered by other packages (`config ...`) set `func` and take
    # only the parsed arguments; they may be coroutines.
    function = getattr(arguments, "func", None)
    if function is None:
        build_parser().print_help(sys.stderr)
        return EXIT_USAGE
    result = function(arguments)
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    return int(result or 0)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="graphql-api",
        description="GraphQL API server of an integration platform.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_serve(commands)
    _add_migrate(commands)
    _add_export_schema(commands)
    _add_create_token(commands)
    _add_import(commands)
    _add_generate_key(commands)
    _add_rotate_key(commands)
    _add_revoke_token(commands)
    _add_config_commands(commands)
    return parser


def _add_database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url", help="SQLAlchemy database URL (default: $DATABASE_URL)"
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not apply pending migrations first",
    )


def _add_serve(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="apply pending migrations and serve the GraphQL API",
        description="Apply pending migrations, then serve GraphQL at /graphql.",
    )
    parser.add_argument("--host", help="address to listen on (default: $HOST)")
    parser.add_argument(
        "--port", type=_port, help="TCP port to listen on (default: $PORT)"
    )
    _add_database_options(parser)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="load the demo data into an empty database and print a token",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="number of worker processes (default: 1)",
    )
    parser.set_defaults(handler=run_serve)


def _add_migrate(commands: Any) -> None:
    parser = commands.add_parser(
        "migrate",
        help="apply pending database migrations",
        description="Apply every pending migration, then print the revision.",
    )
    parser.add_argument(
        "--database-url", help="SQLAlchemy database URL (default: $DATABASE_URL)"
    )
    parser.set_defaults(handler=run_migrate)


def _add_export_schema(commands: Any) -> None:
    parser = commands.add_parser(
        "export-schema",
        help="write the GraphQL schema (SDL) to a file",
        description="Write the GraphQL schema in SDL form.",
    )
    parser.add_argument(
        "--output",
        default="schema.graphql",
        help="file to write, or - for stdout (default: schema.graphql)",
    )
    parser.set_defaults(handler=run_export_schema)


def _add_create_token(commands: Any) -> None:
    parser = commands.add_parser(
        "create-token",
        help="create an API token and print it",
        description=(
            "Create an API token and print only the token on stdout. A team "
            "token sees every environment of the team; an environment token "
            "sees one. The team and the environment are created when missing."
        ),
    )
    parser.add_argument("--team", required=True, type=_record_name, help="team name")
    parser.add_argument(
        "--environment",
        type=_record_name,
        help="environment name; omit for a team token",
    )
    parser.add_argument(
        "--expires-in",
        type=_token_lifetime_days,
        metavar="DAYS",
        help=f"days until the token expires, 1 to {MAX_TOKEN_DAYS} (default: never)",
    )
    _add_database_options(parser)
    parser.set_defaults(handler=run_create_token)


def _add_import(commands: Any) -> None:
    parser = commands.add_parser(
        "import",
        help="import integrations and accounts from Truto's JSON",
        description=(
            "Import integrations, environment integrations and integrated "
            "accounts as Truto's admin API returns them: a list, a "
            '{"result": [...]} envelope, or an object with the keys '
            "integrations, environment_integrations and integrated_accounts. "
            "Ids and statuses are kept, and a second import of the same file "
            "updates the rows. Any invalid record stops the import, and then "
            "nothing is written."
        ),
    )
    parser.add_argument("--team", required=True, help="team to import into")
    parser.add_argument(
        "--environment", required=True, help="environment to import into"
    )
    parser.add_argument("files", nargs="+", metavar="FILE", type=Path)
    _add_database_options(parser)
    parser.set_defaults(handler=run_import)


def _add_generate_key(commands: Any) -> None:
    parser = commands.add_parser(
        "generate-key",
        help="print a new random value for GRAPHQL_API_SECRET_KEY",
        description="Print a new random 256-bit key for GRAPHQL_API_SECRET_KEY.",
    )
    parser.set_defaults(handler=run_generate_key)


def _add_rotate_key(commands: Any) -> None:
    parser = commands.add_parser(
        "rotate-key",
        help="re-encrypt every stored secret with the first key",
        description=(
            "Re-encrypt every stored secret with the first key of "
            "GRAPHQL_API_SECRET_KEY. To replace a key, set "
            "GRAPHQL_API_SECRET_KEY=NEW,OLD, run rotate-key, then drop OLD. "
            "Secrets stored in plain text are encrypted too."
        ),
    )
    _add_database_options(parser)
    parser.set_defaults(handler=run_rotate_key)


def _add_revoke_token(commands: Any) -> None:
    parser = commands.add_parser(
        "revoke-token",
        help="revoke an API token",
        description=(
            "Revoke an API token, given as the token itself (gapi_...) or as "
            "its id. Requests with it get 401 from then on."
        ),
    )
    parser.add_argument("token", metavar="TOKEN_OR_ID", help="the token or its id")
    _add_database_options(parser)
    parser.set_defaults(handler=run_revoke_token)


def _add_config_commands(commands: Any) -> None:
    """Register the config engine's `config` commands.

    When the config engine's command module fails to import, `config` still
    exists but reports that error, so that the other commands keep working.
    """
    try:
        from config_engine.cli import add_config_commands
    except ImportError as error:
        reason = f"the config commands are unavailable: {error}"
        parser = commands.add_parser("config", help="unavailable: " + str(error))
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        parser.set_defaults(handler=_fail_with(reason))
        return
    add_config_commands(commands)


def _fail_with(reason: str) -> Handler:
    def handler(_arguments: argparse.Namespace, _settings: Settings) -> int:
        raise CommandError(reason)

    return handler


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is invalid: expected a whole number from 1 to 65535"
        ) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r} is invalid: expected 1 to 65535")
    return port


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is invalid: expected a whole number of at least 1"
        )
    return value


def _token_lifetime_days(raw: str) -> int:
    days = _positive_int(raw)
    if days > MAX_TOKEN_DAYS:
        raise argparse.ArgumentTypeError(
            f"{raw!r} is invalid: expected at most {MAX_TOKEN_DAYS} days"
        )
    return days


def _record_name(raw: str) -> str:
    """Check a team or environment name with the rules the GraphQL API uses."""
    if not raw.strip():
        raise argparse.ArgumentTypeError("a blank name is invalid: expected text")
    if len(raw) > MAX_NAME_LENGTH:
        raise argparse.ArgumentTypeError(
            f"a name of {len(raw)} characters is invalid: expected at most "
            f"{MAX_NAME_LENGTH}"
        )
    control = next((char for char in raw if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        raise argparse.ArgumentTypeError(
            f"{raw[:40]!r} is invalid: it contains the control character "
            f"U+{ord(control):04X}"
        )
    return raw


# Settings


def _settings_from(arguments: argparse.Namespace) -> Settings:
    """Read the environment once and apply the flags given on the command line."""
    settings = Settings.from_env()
    changes: dict[str, object] = {}
    for name in ("host", "port", "database_url"):
        value = getattr(arguments, name, None)
        if value is not None:
            changes[name] = value
    if getattr(arguments, "demo", False):
        changes["demo"] = True
    settings = settings.with_changes(**changes)
    source = "--database-url" if "database_url" in changes else "DATABASE_URL"
    _check_database_url(settings.database_url, source)
    return settings


def _check_database_url(url: str, source: str) -> None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise SettingsError(
            f"{source}={url!r} is invalid: expected a SQLAlchemy URL such as "
            "sqlite+aiosqlite:///./graphql_api.db"
        ) from None
    if parsed.drivername not in _SUPPORTED_DRIVERS:
        raise SettingsError(
            f"{source}={url!r} is invalid: expected the driver "
            f"{' or '.join(_SUPPORTED_DRIVERS)}, as in "
            "sqlite+aiosqlite:///./graphql_api.db or "
            "postgresql+asyncpg://user:password@localhost/dbname"
        )


def _configure_logging(settings: Settings) -> None:
    # Logs go to stderr so that stdout carries only a command's output, such
    # as the token of create-token.
    logging.basicConfig(
        stream=sys.stderr,
        level=settings.logging_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    install_log_redaction()
    if settings.logging_level > logging.DEBUG:
        # Alembic logs each step at INFO; _migrate logs one line instead.
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _migrate(arguments: argparse.Namespace, settings: Settings) -> None:
    if getattr(arguments, "no_migrate", False):
        return
    url = settings.database_url
    try:
        before = current_revision(url)
        head = head_revision()
        if before != head:
            upgrade(url)
            logger.info(
                "database_migrated from_revision=%s to_revision=%s", before, head
            )
    except FileNotFoundError as error:
        raise CommandError(str(error)) from None


# Commands


def run_migrate(arguments: argparse.Namespace, settings: Settings) -> int:
    """Apply pending migrations and print the revision the database is at."""
    _migrate(arguments, settings)
    print(f"Database at revision {current_revision(settings.database_url)}.")
    return EXIT_OK


def run_export_schema(arguments: argparse.Namespace, settings: Settings) -> int:
    """Write the GraphQL schema in SDL form to a file or stdout."""
    from graphql_api.schema import schema_sdl

    sdl = schema_sdl()
    if not sdl.endswith("\n"):
        sdl += "\n"
    if arguments.output == "-":
        sys.stdout.write(sdl)
        return EXIT_OK
    output = Path(arguments.output)
    try:
        output.write_text(sdl, encoding="utf-8")
    except OSError as error:
        raise CommandError(
            f"cannot write {str(output)!r}: {error.strerror or error}"
        ) from None
    print(f"Wrote the GraphQL schema to {output}.", file=sys.stderr)
    return EXIT_OK


def run_create_token(arguments: argparse.Namespace, settings: Settings) -> int:
    """Create a team or environment token and print only the token."""
    _migrate(arguments, settings)
    expires_in = timedelta(days=arguments.expires_in) if arguments.expires_in else None
    token = asyncio.run(
        _with_database(
            settings,
            lambda database: issue_token(
                database,
                team_name=arguments.team,
                environment_name=arguments.environment,
                expires_in=expires_in,
            ),
        )
    )
    print(token)
    return EXIT_OK


def run_import(arguments: argparse.Namespace, settings: Settings) -> int:
    """Import Truto records and print what was created and updated."""
    from graphql_api.importer import ImportFailed, import_files

    install_keyring(settings)
    _migrate(arguments, settings)
    try:
        summary = asyncio.run(
            _with_database(
                settings,
                lambda database: import_files(
                    database, arguments.team, arguments.environment, arguments.files
                ),
            )
        )
    except ImportFailed as failure:
        for problem in failure.problems:
            print(f"graphql-api: {problem}", file=sys.stderr)
        print(
            f"graphql-api: error: import failed with {len(failure.problems)} "
            "problem(s); nothing was written",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    print("\n".join(summary.lines()))
    return EXIT_OK


def run_serve(arguments: argparse.Namespace, settings: Settings) -> int:
    """Apply pending migrations, load the demo data if asked, and serve."""
    import uvicorn

    # Demo mode without a key gets the public demo key, which the workers
    # then read from the environment like any other key.
    settings = resolve_secret_key(settings)
    install_keyring(settings)
    _migrate(arguments, settings)
    if settings.demo:
        _print_demo_access(settings)
    if arguments.workers > 1:
        # Each worker process builds its own app from the environment.
        os.environ.update(_settings_environment(settings))
        uvicorn.run(
            "graphql_api.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=arguments.workers,
            log_level=settings.log_level.lower(),
            timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        )
        return EXIT_OK
    from graphql_api.app import create_app

    # On SIGTERM or SIGINT uvicorn stops accepting connections, lets requests
    # in progress finish for up to the shutdown timeout, then runs the
    # application's shutdown.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )
    return EXIT_OK


def run_generate_key(arguments: argparse.Namespace, settings: Settings) -> int:
    """Print a new random key for GRAPHQL_API_SECRET_KEY."""
    print(generate_key())
    return EXIT_OK


def run_rotate_key(arguments: argparse.Namespace, settings: Settings) -> int:
    """Re-encrypt every stored secret with the first configured key."""
    from graphql_api.security.rotation import rotate_secrets

    keyring = install_keyring(settings)
    _migrate(arguments, settings)
    try:
        summary = asyncio.run(
            _with_database(settings, lambda database: rotate_secrets(database, keyring))
        )
    except SealedValueError as error:
        raise CommandError(str(error)) from None
    print(summary.describe(keyring.primary_key_id))
    return EXIT_OK


def run_revoke_token(arguments: argparse.Namespace, settings: Settings) -> int:
    """Revoke an API token given as its text or its id."""
    from graphql_api.security.revocation import TokenNotFoundError, revoke_token

    _migrate(arguments, settings)
    try:
        revoked = asyncio.run(
            _with_database(
                settings, lambda database: revoke_token(database, arguments.token)
            )
        )
    except (ValueError, TokenNotFoundError) as error:
        raise CommandError(str(error)) from None
    when = revoked.revoked_at.isoformat()
    if revoked.already_revoked:
        print(
            f"API token {revoked.id} of team {revoked.team_name!r} was already "
            f"revoked at {when}."
        )
    else:
        print(
            f"Revoked API token {revoked.id} of team {revoked.team_name!r} at {when}."
        )
    return EXIT_OK


def _settings_environment(settings: Settings) -> dict[str, str]:
    environment = {
        "DATABASE_URL": settings.database_url,
        "HOST": settings.host,
        "PORT": str(settings.port),
        "LOG_LEVEL": settings.log_level,
    }
    if settings.secret_key:
        environment["GRAPHQL_API_SECRET_KEY"] = settings.secret_key
    return environment


def _print_demo_access(settings: Settings) -> None:
    from graphql_api.demo import DEMO_TEAM_NAME, load_demo_data

    async def prepare(database: Database) -> tuple[str | None, str | None]:
        summary = await load_demo_data(database)
        loaded = summary.describe() if summary is not None else None
        if not await _team_exists(database, DEMO_TEAM_NAME):
            return loaded, None
        token = await issue_token(
            database,
            team_name=DEMO_TEAM_NAME,
            name=DEMO_TOKEN_NAME,
            revoke_same_name=True,
        )
        return loaded, token

    loaded, token = asyncio.run(_with_database(settings, prepare))
    print(loaded or "The database is not empty, so no demo data was loaded.")
    if token is None:
        print(f"No team {DEMO_TEAM_NAME!r} in this database: no demo token.")
        return
    url = f"http://{settings.host}:{settings.port}/graphql"
    header = json.dumps({"Authorization": f"Bearer {token}"})
    print(f"Demo token of team {DEMO_TEAM_NAME!r} (every environment): {token}")
    print(f"Open GraphiQL at {url} and paste this in its Headers tab: {header}")
    sys.stdout.flush()


async def _with_database(settings: Settings, work: Callable[[Database], Any]) -> Any:
    database = Database(settings.database_url)
    try:
        return await work(database)
    finally:
        await database.dispose()


async def _team_exists(database: Database, name: str) -> bool:
    async with database.read_session() as session:
        query = select(func.count()).select_from(Team).where(col(Team.name) == name)
        count = (await session.execute(query)).scalar_one()
        return bool(count)


async def issue_token(
    database: Database,
    *,
    team_name: str,
    environment_name: str | None = None,
    expires_in: timedelta | None = None,
    name: str | None = None,
    revoke_same_name: bool = False,
) -> str:
    """Create an API token and return it; only its digest is stored.

    Without `environment_name` the token can read every environment of the
    team.
    The team and the environment are created when missing. With
    `revoke_same_name`, the team's earlier tokens called `name` are revoked.
    """
    from graphql_api.importer.writing import (
        get_or_create_environment,
        get_or_create_team,
    )

    token = generate_token()
    async with database.write_session() as session:
        team, _ = await get_or_create_team(session, team_name)
        environment_id = None
        if environment_name is not None:
            environment, _ = await get_or_create_environment(
                session, team, environment_name
            )
            environment_id = environment.id
        if revoke_same_name and name is not None:
            await _revoke_tokens_named(session, team, name)
        session.add(
            ApiToken(
                team_id=team.id,
                environment_id=environment_id,
                token_hash=hash_token(token),
                name=name,
                expires_at=utc_now() + expires_in if expires_in else None,
            )
        )
    return token


async def _revoke_tokens_named(session: AsyncSession, team: Team, name: str) -> None:
    query = select(ApiToken).where(
        col(ApiToken.team_id) == team.id,
        col(ApiToken.name) == name,
        col(ApiToken.revoked_at).is_(None),
    )
    for token in (await session.scalars(query)).all():
        token.revoked_at = utc_now()


if __name__ == "__main__":
    raise SystemExit(main())
