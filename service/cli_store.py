"""The store's commands of ``fxscen`` (:mod:`service.cli`): its schema, API keys, and scenario
sets and markets exported to and imported from JSON files.

Every command takes ``--database-url URL`` (default ``FXSCEN_DATABASE_URL``); a URL is only
ever printed with its password hidden (:func:`render_url`). The other commands open the store
migrated, as the service does; ``db revision`` never changes it.

Exit codes: 0 done; 1 the store refused (a key name taken, unknown or revoked already; no
schema; cannot open or reach it), a message on stderr; 2 what the API would answer with a
problem (a document that is invalid or not JSON, an unknown id or version, a built-in id, a
write in between): the API's problem JSON (:func:`service.problems.domain_problem`) on
stderr; 2 too for a file that cannot be read (a message) and a malformed command line.
"""

from __future__ import annotations

import argparse
import getpass
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.settings import get_settings

if TYPE_CHECKING:
    from scenarios.errors import DomainError
    from service.versioned import Kind
    from store.repository import KeyRecord, Store, VersionRecord

Command = Callable[[argparse.Namespace], int]
MAX_NAME = 100  # api_keys.name and resource_versions.created_by are String(100)
# command → (service.versioned's kind, its label, its path): named here so that building the
# parser does not import the schemas (~2 s); a test holds them to the kinds
KINDS = {
    "sets": ("SETS", "scenario set", "/v1/scenario-sets"),
    "markets": ("MARKETS", "market", "/v1/markets"),
}


def kind_of(command: str) -> Kind[Any]:
    """The :class:`service.versioned.Kind` of ``sets`` / ``markets``."""
    from service import versioned

    kind: Kind[Any] = getattr(versioned, KINDS[command][0])
    return kind


# --- URLs and the store ----------------------------------------------------------------------


def render_url(url: str) -> str:
    """``url`` safe to print: SQLAlchemy's rendering with the password as ``***``; a string
    SQLAlchemy cannot parse keeps only its scheme (``scheme://***``)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        scheme = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", url)
        return f"{scheme.group(0) if scheme else ''}***"


def _scrub(message: str, url: str) -> str:
    """An error message with ``url`` and its password, wherever quoted, hidden."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    message = message.replace(url, render_url(url))
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        password = None
    return message.replace(str(password), "***") if password else message


def _url(args: argparse.Namespace) -> str:
    return str(args.database_url or get_settings().database_url)


def _fail(message: str, code: int = 1) -> int:
    print(f"fxscen: {message}", file=sys.stderr)
    return code


def _problem(exc: DomainError) -> int:
    from service.problems import domain_problem

    print(json.dumps(domain_problem(exc), indent=2, ensure_ascii=False), file=sys.stderr)
    return 2


class Unavailable(Exception):
    """A database URL the store cannot open (an unsupported back end, SQLite without a file)."""


def open_store(url: str) -> Store:
    """The store at ``url``, not yet connected to; :class:`Unavailable` for a URL it refuses."""
    from store.repository import Store

    try:
        return Store(url)
    except ValueError as exc:  # store.engine.make_engine, sqlalchemy's URL parsing
        raise Unavailable(str(exc)) from exc


def _guarded(run: Command) -> Command:
    """``run``, with a store that cannot be opened or reached reported (URL hidden), exit 1."""

    def guarded(args: argparse.Namespace) -> int:
        from alembic.util.exc import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return run(args)
        except (SQLAlchemyError, CommandError, Unavailable) as exc:
            url = _url(args)
            return _fail(f"store at {render_url(url)}: {_scrub(str(exc), url)}")

    return guarded


def _store(args: argparse.Namespace) -> Store:
    """The store, migrated (as the service opens it; without importing the schemas, so that
    the key commands start fast)."""
    store = open_store(_url(args))
    store.upgrade()
    return store


# --- db --------------------------------------------------------------------------------------


def _head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from store.repository import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def _db_upgrade(args: argparse.Namespace) -> int:
    url = _url(args)
    store = open_store(url)
    try:
        revision = store.upgrade()
    finally:
        store.dispose()
    print(f"store at {render_url(url)} is at revision {revision}")
    return 0


def _db_revision(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    url = _url(args)
    parsed = make_url(url)
    missing = f"store at {render_url(url)} has no schema: run fxscen db upgrade"
    sqlite_file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if sqlite_file and not Path(sqlite_file).exists():  # do not make the file by looking
        return _fail(missing)
    store = open_store(url)
    try:
        revision = store.revision()
    finally:
        store.dispose()
    if revision is None:
        return _fail(missing)
    head = _head_revision()
    behind = "" if revision == head else f" (this build's is {head}: run fxscen db upgrade)"
    print(f"store at {render_url(url)} is at revision {revision}{behind}")
    return 0


def _db_backup(args: argparse.Namespace) -> int:
    """Every row of the store to a file (``-``: stdout), written whole or not at all."""
    import os

    from store.backup import BackupError, backup

    url = _url(args)
    store = open_store(url)
    try:
        if args.file == "-":
            summary = backup(store, sys.stdout)
            sys.stdout.flush()
        else:
            target = Path(args.file)
            partial = target.with_name(target.name + ".partial")
            try:
                with partial.open("w", encoding="utf-8") as out:
                    summary = backup(store, out)
                    out.flush()
                    os.fsync(out.fileno())
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            partial.replace(target)  # a reader never sees half a backup under the name
    except BackupError as exc:
        return _fail(f"store at {render_url(url)}: {exc}")
    finally:
        store.dispose()
    where = "stdout" if args.file == "-" else args.file
    print(
        f"fxscen: backed up {summary.total} rows of the store at {render_url(url)} "
        f"(revision {summary.revision}) to {where}",
        file=sys.stderr,
    )
    return 0


def _db_restore(args: argparse.Namespace) -> int:
    """A backup file (``-``: stdin) into an empty store, migrated to this build's schema."""
    from store.backup import BackupError, restore

    url = _url(args)
    store = open_store(url)
    try:
        if args.file == "-":
            summary = restore(store, sys.stdin)
        else:
            with Path(args.file).open(encoding="utf-8") as lines:
                summary = restore(store, lines)
    except (BackupError, OSError, UnicodeDecodeError) as exc:
        return _fail(f"restore into {render_url(url)}: {exc}")
    finally:
        store.dispose()
    tables = ", ".join(f"{n} {t}" for t, n in summary.rows.items()) or "no rows"
    print(
        f"fxscen: restored {summary.total} rows ({tables}) from revision {summary.revision} "
        f"into {render_url(url)}, now at revision {_head_revision()}",
        file=sys.stderr,
    )
    return 0


# --- keys ------------------------------------------------------------------------------------


def _keys_token(args: argparse.Namespace) -> int:
    """A new token on stdout, stored nowhere: for FXSCEN_ADMIN_TOKEN_FILE."""
    from store.keys import new_token

    print(new_token()[1])
    return 0


def _keys_create(args: argparse.Namespace) -> int:
    from store.keys import new_token, token_hash
    from store.repository import Conflict

    key_id, token = new_token()
    try:
        record = _store(args).add_key(args.name, args.role, key_id, token_hash(token))
    except Conflict as exc:
        return _fail(f"{exc} (a name is never reused, even once revoked): pick another")
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    print(
        f"fxscen: created key {record.name!r} (role {record.role}, key id {record.key_id}); "
        "its token, on stdout, is shown this once: keep it now",
        file=sys.stderr,
    )
    return 0


def _key_row(record: KeyRecord) -> dict[str, Any]:
    """What a listing shows of a key: never its token or hash."""
    return {
        "name": record.name,
        "role": record.role,
        "key_id": record.key_id,
        "created_at": record.created_at,
        "revoked_at": record.revoked_at,
    }


def _keys_list(args: argparse.Namespace) -> int:
    records = _store(args).keys()  # a list of KeyRecord (not a mapping's keys)
    rows = [_key_row(k) for k in records]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return 0
    columns = ("name", "role", "key_id", "created_at", "revoked_at")
    cells = [list(columns)] + [
        [str(row[c]) if row[c] is not None else "active" for c in columns] for row in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    for line in cells:
        print("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from store.repository import Conflict, NotFound

    try:
        record = _store(args).revoke_key(args.name)
    except (NotFound, Conflict) as exc:
        return _fail(str(exc))
    print(f"revoked key {record.name!r} at {record.revoked_at}")
    return 0


# --- sets and markets ------------------------------------------------------------------------


def export_text(record: VersionRecord) -> str:
    """A version's document as a file to review and import again: the JSON its ``POST``
    takes, indented by 2, keys sorted, non-ASCII kept, a trailing newline."""
    document = json.loads(record.document)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _export(command: str) -> Command:
    def run(args: argparse.Namespace) -> int:
        from scenarios.errors import DomainError
        from service import versioned

        kind = kind_of(command)
        try:  # a built-in id never opens the store
            record = versioned.read(kind, lambda: _store(args), args.id, args.version, "id")
        except DomainError as exc:
            return _problem(exc)
        data = export_text(record).encode("utf-8")
        if args.out is None:  # the bytes, whatever the terminal's encoding
            sys.stdout.flush()
            out = getattr(sys.stdout, "buffer", None)
            if out is None:
                sys.stdout.write(data.decode("utf-8"))
            else:
                out.write(data)
                out.flush()
        else:
            Path(args.out).write_bytes(data)
            print(f"wrote {record.id} version {record.version} to {args.out}", file=sys.stderr)
        return 0

    return run


def _canonical(kind: Kind[Any], body: dict[str, Any]) -> str | None:
    """The canonical text ``body`` would be stored as (validated as a write validates it;
    None when it does not validate: the write then says why)."""
    from scenarios.errors import DomainError
    from service import versioned

    try:
        document, _ = versioned.normalised(kind, body)
    except DomainError:
        return None
    return versioned.canonical_text(document)


def import_document(
    kind: Kind[Any], store: Store, body: Any, note: str | None, author: str
) -> tuple[str, VersionRecord]:
    """(``created`` / ``updated`` / ``unchanged``, the version) of importing ``body``:
    version 1 of a new id, the next version of a known one when the document differs from its
    latest (based on that latest: a write in between is a 412), nothing when it is the same.
    Raises :class:`~scenarios.errors.DomainError` as the API's writes do."""
    from scenarios.errors import DomainError, ErrorKind
    from service import versioned

    if isinstance(body, dict) and note is not None:
        body = {**body, "change_note": note}
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        return "created", versioned.create(kind, store, body, author)  # says what is wrong
    id = body["id"]
    try:
        latest = versioned.read(kind, lambda: store, id, None, "id")
    except DomainError as exc:
        if exc.kind is not ErrorKind.NOT_FOUND:
            raise
        return "created", versioned.create(kind, store, body, author)
    if _canonical(kind, body) == latest.document:
        return "unchanged", latest
    if_match = versioned.etag(latest.version, latest.digest)
    return "updated", versioned.replace(kind, store, id, body, if_match, author)


def default_author() -> str:
    """``cli:<login user>`` (``cli:unknown`` when there is none)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return f"cli:{user}"[:MAX_NAME]


def _import(command: str) -> Command:
    def run(args: argparse.Namespace) -> int:
        import orjson

        from scenarios.errors import DomainError, ErrorKind

        kind = kind_of(command)

        try:
            raw = Path(args.file).read_bytes()
        except OSError as exc:
            return _fail(f"cannot read {args.file}: {exc}", 2)
        limit = get_settings().max_document_bytes
        try:  # the checks of the API's body (service.routes.scenario_sets._body)
            if len(raw) > limit:
                raise DomainError.field(
                    "body",
                    f"a document may be at most {limit} bytes (FXSCEN_MAX_DOCUMENT_BYTES), "
                    f"got {len(raw)}",
                    ErrorKind.TOO_LARGE,
                )
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise DomainError.field("body", f"is not JSON: {exc}") from exc
            author = args.author or default_author()
            outcome, record = import_document(kind, _store(args), body, args.note, author)
        except DomainError as exc:
            return _problem(exc)
        if outcome == "created":
            print(f"created {record.id} version {record.version}")
        elif outcome == "updated":
            print(f"{record.id} version {record.version}")
        else:
            retired = f" (retired at {record.retired_at})" if record.retired_at else ""
            print(f"{record.id} unchanged at version {record.version}{retired}")
        return 0

    return run


# --- the parsers -----------------------------------------------------------------------------


def _name(text: str) -> str:
    if not text.strip() or len(text) > MAX_NAME:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_NAME} characters, not blank")
    return text


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a version number (1, 2, …), got {text!r}")
    return value


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``db``, ``keys``, ``sets`` and ``markets`` under ``sub`` (the ``fxscen`` parser's)."""
    from store.keys import Role

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        metavar="URL",
        help="the store (default: FXSCEN_DATABASE_URL, else sqlite:///data/fxscen.sqlite); "
        "prefer the variable for a URL with a password",
    )

    def leaf(group: Any, name: str, help: str, run: Command) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = group.add_parser(name, help=help, parents=[common])
        parser.set_defaults(run=_guarded(run))
        return parser

    db = sub.add_parser("db", help="the store's schema").add_subparsers(
        dest="db_command", required=True
    )
    leaf(db, "upgrade", "run the migrations not yet applied; print the revision", _db_upgrade)
    leaf(db, "revision", "print the schema revision the store is at", _db_revision)
    backup = leaf(db, "backup", "every row of the store to a JSON-lines file", _db_backup)
    backup.add_argument("file", help="the backup file; - for stdout")
    restore = leaf(
        db, "restore", "a backup into an empty store, then this build's migrations", _db_restore
    )
    restore.add_argument("file", help="a file of fxscen db backup; - for stdin")

    keys = sub.add_parser("keys", help="API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = leaf(keys, "create", "make a key: its token goes to stdout, once", _keys_create)
    create.add_argument("--name", required=True, type=_name, help="names the key for good")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    listing = leaf(keys, "list", "the keys (never their tokens)", _keys_list)
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    revoke = leaf(keys, "revoke", "revoke a key: its token stops working", _keys_revoke)
    revoke.add_argument("name")
    leaf(keys, "token", "a new token, stored nowhere (for FXSCEN_ADMIN_TOKEN_FILE)", _keys_token)

    for command, (_, label, path) in KINDS.items():
        group = sub.add_parser(command, help=f"export and import {label}s").add_subparsers(
            dest=f"{command}_command", required=True
        )
        export = leaf(
            group, "export", f"a {label} version as the JSON POST {path} takes", _export(command)
        )
        export.add_argument("id")
        export.add_argument("--version", type=_version, help="default: the latest")
        export.add_argument("--out", metavar="FILE", help="default: stdout")
        imported = leaf(
            group,
            "import",
            f"a {label} file: version 1 of a new id, else the next version if it differs",
            _import(command),
        )
        imported.add_argument("file")
        imported.add_argument("--note", help="the version's change note")
        imported.add_argument(
            "--author", type=_name, help="who writes it (default: cli:<login user>)"
        )
