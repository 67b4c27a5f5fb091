"""A throw-away PostgreSQL server for the store tests, and fresh databases on it.

`postgres_server()` runs `initdb` in a new directory under /tmp, starts the server on a free
loopback port (fsync and synchronous commit on: the server is not weakened for speed), creates the
database `fxscen` owned by the superuser `fxscen` (trust authentication, loopback only) and yields
its SQLAlchemy URL. On exit it stops the server (`pg_ctl -m immediate stop`) and removes the
directory, whether or not the tests passed.

The server binaries come from `/usr/lib/postgresql/<highest version>/bin` (Debian's layout) or from
`pg_config --bindir`; `scripts/ensure-postgres` installs them. PostgreSQL refuses to run as root, so
when the tests run as root (CI does) `initdb` and `pg_ctl` run as the `postgres` system account that
Debian's package creates, and the directory is that account's.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

SUPERUSER = "fxscen"
DATABASE = "fxscen"
SERVER_ACCOUNT = "postgres"  # the system account used to run the server when we are root
_TOOLS = ("postgres", "pg_ctl", "initdb")
_START_ATTEMPTS = 3  # a new port each time, should another process take the free port first
_TIMEOUT_S = 120


class PostgresUnavailableError(RuntimeError):
    """The throw-away PostgreSQL server could not be found, set up or started."""


def find_bindir() -> Path:
    """The directory holding `postgres`, `pg_ctl` and `initdb`: the highest Debian version first."""
    versions: list[tuple[tuple[int, ...], Path]] = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if re.fullmatch(r"\d+(\.\d+)*", bindir.parent.name) and _has_tools(bindir):
            versions.append((tuple(int(p) for p in bindir.parent.name.split(".")), bindir))
    if versions:
        return max(versions)[1]
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        bindir = Path(out.stdout.strip())
        if out.returncode == 0 and _has_tools(bindir):
            return bindir
    raise PostgresUnavailableError(
        "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin/postgres or pg_config --bindir):"
        " run ./scripts/ensure-postgres"
    )


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_server(password: str | None = None) -> Iterator[str]:
    """Run a throw-away PostgreSQL server; yield the URL of its empty `fxscen` database.

    The URL is `postgresql+psycopg://fxscen@127.0.0.1:PORT/fxscen`. With `password`, the server
    authenticates every connection by SCRAM-SHA-256 against that password of `fxscen` (as a
    deployed server does) instead of trusting loopback, and the URL carries it. The server and
    its directory are gone when the block exits, also when it exits by an exception.
    """
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    account = _server_account() if as_root else None
    # /tmp, not $TMPDIR: when we are root, the server account must be able to reach the directory.
    root = Path(tempfile.mkdtemp(prefix="fxscen-pg-", dir="/tmp"))
    data = root / "data"
    log = root / "server.log"
    try:
        if account is not None:
            os.chown(root, account.pw_uid, account.pw_gid)
        auth = ["-A", "trust"]
        if password is not None:
            pwfile = root / "pwfile"
            pwfile.write_text(password + "\n")
            if account is not None:
                os.chown(pwfile, account.pw_uid, account.pw_gid)
            auth = ["-A", "scram-sha-256", f"--pwfile={pwfile}"]
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                *auth,
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",  # initdb's own files only; the server below runs with fsync on
            ],
            cwd=root,
            as_server=as_root,
        )
        port = _start(bindir, data, log, root, as_server=as_root)
        url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
        if password is not None:
            url = make_url(url).set(password=password).render_as_string(hide_password=False)
        _create(url, DATABASE)
        yield url
    finally:
        try:
            if data.exists():  # also after a failed start: a server may be up all the same
                _stop(bindir, data, root, as_server=as_root)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, name: str) -> str:
    """Create the empty database `name` on the server of `url`; return its URL.

    Raises psycopg's DuplicateDatabase error if it exists already: every database it hands out is
    a fresh one.
    """
    _create(url, name)
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _create(url: str, name: str) -> None:
    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname="postgres",
        autocommit=True,  # CREATE DATABASE cannot run in a transaction
        connect_timeout=10,
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _has_tools(bindir: Path) -> bool:
    return all(os.access(bindir / tool, os.X_OK) for tool in _TOOLS)


def _server_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise PostgresUnavailableError(
            f"running as root, and PostgreSQL will not: no '{SERVER_ACCOUNT}' account to run it"
            " as (Debian's postgresql package creates it: run ./scripts/ensure-postgres)"
        ) from None


def _start(bindir: Path, data: Path, log: Path, sockdir: Path, *, as_server: bool) -> int:
    """Start the server on a free loopback port; return the port."""
    for attempt in range(1, _START_ATTEMPTS + 1):
        port = free_port()
        options = (
            f"-h 127.0.0.1 -p {port} -k {shlex.quote(str(sockdir))}"
            " -c fsync=on -c synchronous_commit=on"
        )
        cmd = [str(bindir / "pg_ctl"), "start", "-w", "-t", str(_TIMEOUT_S), "-D", str(data)]
        cmd += ["-l", str(log), "-o", options]
        try:
            _run(cmd, cwd=sockdir, as_server=as_server)
            return port
        except PostgresUnavailableError as exc:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            if attempt < _START_ATTEMPTS and "could not bind" in server_log:
                log.write_text("")
                continue
            raise PostgresUnavailableError(f"{exc}\nserver log:\n{server_log[-4000:]}") from None
    raise AssertionError("unreachable")


def _stop(bindir: Path, data: Path, cwd: Path, *, as_server: bool) -> None:
    """Stop the server at once; kill it should pg_ctl fail (a server that died already is fine)."""
    cmd = [str(bindir / "pg_ctl"), "stop", "-w", "-t", "30", "-m", "immediate", "-D", str(data)]
    try:
        _run(cmd, cwd=cwd, as_server=as_server)
        return
    except (PostgresUnavailableError, subprocess.TimeoutExpired):
        pass
    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return  # no pid file: no server left running
    if not _is_our_postmaster(pid, data):
        return  # gone already (its pid may even be another process's now)
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _is_our_postmaster(pid, data):  # a zombie has no cwd any more: it counts as gone
        if time.monotonic() > deadline:
            raise PostgresUnavailableError(f"PostgreSQL server pid {pid} survived SIGKILL")
        time.sleep(0.05)


def _is_our_postmaster(pid: int, data: Path) -> bool:
    """Whether process `pid` runs in `data`: a postmaster's working directory is its data dir."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == data
    except OSError:
        return False


def _run(cmd: Sequence[str], *, cwd: Path, as_server: bool) -> None:
    """Run a server tool (as the server account when `as_server`); raise with its output if it fails."""
    argv = ["runuser", "-u", SERVER_ACCOUNT, "--", *cmd] if as_server else list(cmd)
    # The PG* variables of the caller's shell must not steer the tools to another server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    out = subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S + 30,
        check=False,
    )
    if out.returncode != 0:
        raise PostgresUnavailableError(
            f"{shlex.join(argv)} exited {out.returncode}:\n{out.stdout}{out.stderr}"
        )
