"""The store's batch jobs: uploaded books, jobs and their files (every SQL statement of them).

A job moves through its states by compare-and-set, so of two processes racing one wins:

* ``queued`` → ``running`` (:meth:`JobStore.claim`: one runner among replicas sharing a
  database takes it) → ``done`` / ``failed`` (:meth:`JobStore.finish`, with its files in the
  same transaction);
* ``queued`` → ``cancelled`` at once, ``running`` → ``cancelling`` (:meth:`JobStore.cancel`),
  which the runner reads between chunks and ends as ``cancelled``. A cancel that arrives
  after the last chunk finds the job ``done``: finishing wins a race with a cancel;
* ``running`` / ``cancelling`` → ``interrupted`` (:meth:`JobStore.interrupt`) when the
  process running it is gone: a server starting on the host where it ran finds that process
  dead, any replica finds its heartbeat older than the limit. A job is never left
  ``running`` for good.

Times are ISO 8601 UTC strings as in :mod:`store.tables`. Files are blobs: a job's results
are read back as written.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from store.repository import NotFound, Store, utc_now
from store.tables import books, job_files, jobs

QUEUED, RUNNING, CANCELLING = "queued", "running", "cancelling"
DONE, FAILED, CANCELLED, INTERRUPTED = "done", "failed", "cancelled", "interrupted"
FINISHED = frozenset({DONE, FAILED, CANCELLED, INTERRUPTED})
ACTIVE = (RUNNING, CANCELLING)


@dataclass(frozen=True, slots=True)
class BookRecord:
    id: str
    format: str
    size: int
    sha256: str
    lines: int | None
    created_at: str
    created_by: str


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    state: str
    params: str
    book_id: str
    created_at: str
    created_by: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None
    runner: str | None
    lines_total: int | None
    lines_done: int
    errors: int
    lines_per_second: float | None
    eta_seconds: float | None
    message: str | None
    summary: str | None


@dataclass(frozen=True, slots=True)
class JobFile:
    name: str
    media_type: str
    content: bytes


_BOOK_META = [c for c in books.c if c.name != "content"]


class JobStore:
    """Jobs in ``store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- books ------------------------------------------------------------------------------

    def add_book(
        self, id: str, fmt: str, content: bytes, lines: int | None, created_by: str
    ) -> BookRecord:
        record = BookRecord(id, fmt, len(content), hashlib.sha256(content).hexdigest(), lines,
                            utc_now(), created_by)  # fmt: skip
        with self.store._write() as conn:
            conn.execute(insert(books).values(content=content, **_fields(record)))
        return record

    def book(self, id: str) -> BookRecord:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(*_BOOK_META).where(books.c.id == id)).first()
        if row is None:
            raise NotFound("book", id, f"no book {id!r}")
        return BookRecord(*row)

    def book_content(self, id: str) -> bytes:
        with self.store.engine.connect() as conn:
            content = conn.execute(select(books.c.content).where(books.c.id == id)).scalar()
        if content is None:
            raise NotFound("book", id, f"no book {id!r}")
        return bytes(content)

    # --- jobs -------------------------------------------------------------------------------

    def create(
        self, id: str, params: str, book_id: str, created_by: str, lines_total: int | None
    ) -> JobRecord:
        with self.store._write() as conn:
            conn.execute(
                insert(jobs).values(
                    id=id, state=QUEUED, params=params, book_id=book_id, created_at=utc_now(),
                    created_by=created_by, lines_total=lines_total, lines_done=0, errors=0,
                )
            )  # fmt: skip
        return self.get(id)

    def get(self, id: str) -> JobRecord:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(jobs).where(jobs.c.id == id)).first()
        if row is None:
            raise NotFound("job", id, f"no job {id!r}")
        return JobRecord(*row)

    def list(self, limit: int = 100, state: str | None = None) -> list[JobRecord]:
        query = select(jobs).order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit)
        if state is not None:
            query = query.where(jobs.c.state == state)
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [JobRecord(*row) for row in rows]

    def claim(self, runner: str) -> JobRecord | None:
        """The oldest queued job, now ``running`` on ``runner``; None when none is queued."""
        while True:
            with self.store.engine.connect() as conn:
                found = conn.execute(
                    select(jobs.c.id)
                    .where(jobs.c.state == QUEUED)
                    .order_by(jobs.c.created_at, jobs.c.id)
                    .limit(1)
                ).scalar()
            if found is None:
                return None
            if self.take(found, runner):
                return self.get(found)

    def take(self, id: str, runner: str) -> bool:
        """Job ``id`` ``running`` on ``runner`` if it is still queued (the compare-and-set
        of :meth:`claim`: another runner may have taken it since it was read)."""
        now = utc_now()
        with self.store._write() as conn:
            moved = conn.execute(
                update(jobs)
                .where(jobs.c.id == id, jobs.c.state == QUEUED)
                .values(state=RUNNING, runner=runner, started_at=now, heartbeat_at=now)
            ).rowcount
        return bool(moved)

    def progress(
        self,
        id: str,
        runner: str,
        *,
        lines_done: int,
        lines_total: int | None,
        errors: int,
        lines_per_second: float | None,
        eta_seconds: float | None,
    ) -> str:
        """Record a running job's progress (and heartbeat); its state after (``cancelling``
        tells the runner to stop)."""
        with self.store._write() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == id, jobs.c.runner == runner, jobs.c.state.in_(ACTIVE))
                .values(
                    lines_done=lines_done, lines_total=lines_total, errors=errors,
                    lines_per_second=lines_per_second, eta_seconds=eta_seconds,
                    heartbeat_at=utc_now(),
                )
            )  # fmt: skip
            state = conn.execute(select(jobs.c.state).where(jobs.c.id == id)).scalar()
        return str(state)

    def heartbeat(self, id: str, runner: str) -> None:
        with self.store._write() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == id, jobs.c.runner == runner, jobs.c.state.in_(ACTIVE))
                .values(heartbeat_at=utc_now())
            )

    def cancel(self, id: str) -> JobRecord:
        """Ask for a job to stop: a queued one is ``cancelled`` at once, a running one
        ``cancelling``; a finished one stays as it is (the caller sees its state)."""
        with self.store._write() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == id, jobs.c.state == QUEUED)
                .values(state=CANCELLED, finished_at=utc_now(), message="cancelled before it ran")
            )
            conn.execute(
                update(jobs)
                .where(jobs.c.id == id, jobs.c.state == RUNNING)
                .values(state=CANCELLING)
            )
        return self.get(id)

    def finish(
        self,
        id: str,
        runner: str,
        state: str,
        *,
        message: str | None = None,
        summary: str | None = None,
        files: Sequence[JobFile] = (),
        lines_done: int | None = None,
        errors: int | None = None,
    ) -> bool:
        """End a job this runner holds, its files written in the same transaction; False
        when it is no longer this runner's (interrupted meanwhile)."""
        values: dict[str, object] = {
            "state": state,
            "finished_at": utc_now(),
            "message": message,
            "summary": summary,
            "eta_seconds": 0.0 if state == DONE else None,
        }
        if lines_done is not None:
            values["lines_done"] = lines_done
        if errors is not None:
            values["errors"] = errors
        with self.store._write() as conn:
            moved = conn.execute(
                update(jobs)
                .where(jobs.c.id == id, jobs.c.runner == runner, jobs.c.state.in_(ACTIVE))
                .values(**values)
            ).rowcount
            if not moved:
                return False
            conn.execute(delete(job_files).where(job_files.c.job_id == id))
            for f in files:
                conn.execute(
                    insert(job_files).values(
                        job_id=id, name=f.name, media_type=f.media_type, size=len(f.content),
                        sha256=hashlib.sha256(f.content).hexdigest(), content=f.content,
                    )
                )  # fmt: skip
        return True

    def interrupt(self, *, runners: Sequence[str] = (), stale_before: str | None = None) -> int:
        """Mark ``interrupted`` the active jobs of ``runners`` (processes known to be gone)
        and those whose heartbeat is older than ``stale_before``; how many."""
        moved = 0
        with self.store._write() as conn:
            for runner in runners:
                moved += conn.execute(
                    update(jobs)
                    .where(jobs.c.runner == runner, jobs.c.state.in_(ACTIVE))
                    .values(state=INTERRUPTED, finished_at=utc_now(),
                            message="the process running it stopped (crash or kill)")
                ).rowcount  # fmt: skip
            if stale_before is not None:
                moved += conn.execute(
                    update(jobs)
                    .where(jobs.c.state.in_(ACTIVE), jobs.c.heartbeat_at < stale_before)
                    .values(state=INTERRUPTED, finished_at=utc_now(),
                            message="no heartbeat from the process running it")
                ).rowcount  # fmt: skip
        return moved

    def active_runners(self) -> builtins.list[str]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(jobs.c.runner).where(jobs.c.state.in_(ACTIVE)).distinct()
            ).all()
        return [str(r[0]) for r in rows if r[0] is not None]

    def file(self, id: str, name: str) -> JobFile:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                select(job_files.c.media_type, job_files.c.content).where(
                    job_files.c.job_id == id, job_files.c.name == name
                )
            ).first()
        if row is None:
            raise NotFound("job", id, f"job {id!r} has no {name} file")
        return JobFile(name, str(row[0]), bytes(row[1]))

    def file_names(self, id: str) -> builtins.list[str]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(job_files.c.name).where(job_files.c.job_id == id)).all()
        return sorted(str(r[0]) for r in rows)


def seconds_ago(seconds: float) -> str:
    """The ISO UTC time ``seconds`` ago, in the store's format."""
    then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    return then.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _fields(record: BookRecord) -> dict[str, object]:
    return {f: getattr(record, f) for f in BookRecord.__slots__}
