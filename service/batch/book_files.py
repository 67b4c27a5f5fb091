"""Book files read in chunks: CSV and Parquet streamed, JSON (the ``POST /v1/price`` body).

:func:`open_book` gives a :class:`BookFile`: its columns (checked against
:mod:`service.batch.book_columns` before any line is read), its line count when known up
front, and :meth:`BookFile.chunks`, Arrow record batches of at most ``chunk_lines`` rows in
book order. CSV is read by pyarrow's streaming reader with every column as text, so memory
stays at a few chunks whatever the file's size; Parquet by row group batches. A JSON book —
the body of ``POST /v1/price`` (its ``instruments``) or a list of instruments — is read
whole (it is a request body: use CSV or Parquet for large books); its values are carried
as text and parsed as a CSV's cells are, ``tags`` spread over ``tag.<key>`` columns.
"""

from __future__ import annotations

import csv
import json
import mmap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scenarios.errors import DomainError
from service.batch.book_columns import TAG_PREFIX, check_columns

FORMATS = ("csv", "parquet", "json")


def book_format(path: Path, given: str | None = None) -> str:
    """``given``, or the format a book file's suffix names."""
    fmt = (given or path.suffix.lstrip(".")).lower()
    fmt = {"pq": "parquet", "jsonl": "json"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise DomainError.field(
            "book", f"{path.name}: give a .csv, .parquet or .json book (or name its format)"
        )
    return fmt


@dataclass
class BookFile:
    """An open book: ``names`` its columns, ``tag_keys`` their tags, ``lines`` its line count
    (None until read, for a CSV whose count was not taken), ``body`` the JSON body's other
    fields (sources a JSON book may carry)."""

    path: Path
    format: str
    names: list[str]
    tag_keys: list[str]
    lines: int | None
    body: dict[str, Any] = field(default_factory=dict)
    _table: pa.Table | None = None

    def chunks(self, chunk_lines: int) -> Iterator[pa.RecordBatch]:
        """Record batches of ``chunk_lines`` rows (the last shorter), in book order."""
        if self._table is not None:
            yield from self._table.to_batches(max_chunksize=chunk_lines)
        elif self.format == "parquet":
            source = pq.ParquetFile(self.path)
            yield from _rebatched(source.iter_batches(batch_size=chunk_lines), chunk_lines)
        else:
            yield from _rebatched(_csv_batches(self.path, self.names), chunk_lines)


def open_book(path: Path, fmt: str | None = None, *, count_lines: bool = True) -> BookFile:
    """Open ``path`` and check its columns; a whole-run error naming ``book`` if it cannot
    be read."""
    fmt = book_format(path, fmt)
    try:
        if fmt == "parquet":
            meta = pq.ParquetFile(path)
            names = list(meta.schema_arrow.names)
            return BookFile(path, fmt, names, check_columns(names), meta.metadata.num_rows)
        if fmt == "csv":
            names = _csv_header(path)
            lines = _count_csv_lines(path) if count_lines else None
            return BookFile(path, fmt, names, check_columns(names), lines)
        return _json_book(path)
    except OSError as exc:
        raise DomainError.field("book", f"cannot read {path}: {exc.strerror or exc}") from None
    except (pa.ArrowInvalid, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DomainError.field("book", f"{path.name} is not a {fmt} book: {exc}") from None


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f), None)
    if not header:
        raise DomainError.field("book", f"{path.name} has no header line naming its columns")
    return header


def _count_csv_lines(path: Path) -> int:
    """Data lines of a CSV (newlines after the header; a last line without one counted)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        count = view.count(b"\n") if hasattr(view, "count") else _count(view)
        ends_open = view[size - 1 : size] != b"\n"
    return max(count + (1 if ends_open else 0) - 1, 0)


def _count(view: mmap.mmap) -> int:
    total, step = 0, 1 << 24
    for at in range(0, len(view), step):
        total += view[at : at + step].count(b"\n")
    return total


def _csv_batches(path: Path, names: list[str]) -> Iterator[pa.RecordBatch]:
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 22),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names}, strings_can_be_null=False
        ),
    )
    yield from reader


def _rebatched(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """The same rows in batches of exactly ``size`` (the last shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if not pending and batch.num_rows == size:  # already the size asked for
            yield batch
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= size:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, size).combine_chunks().to_batches()[0]
            rest = table.slice(size)
            pending, held = rest.combine_chunks().to_batches(), rest.num_rows
            pending = [b for b in pending if b.num_rows]
    if held:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _json_book(path: Path) -> BookFile:
    body = json.loads(path.read_text("utf-8"))
    if isinstance(body, dict):
        instruments = body.get("instruments")
        rest = {k: v for k, v in body.items() if k != "instruments"}
    else:
        instruments, rest = body, {}
    if not isinstance(instruments, list):
        raise DomainError.field(
            "book.instruments", "a JSON book is the body of POST /v1/price or a list of lines"
        )
    rows = [_flat(line) for line in instruments]
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row if k not in names)
    if not names:
        names = ["kind"]
    tags = check_columns(names)
    table = pa.table(
        {name: pa.array([row.get(name) for row in rows], pa.string()) for name in names}
    )
    return BookFile(path, "json", names, tags, len(rows), rest, table)


def _flat(line: Any) -> dict[str, str]:
    """A JSON line as text cells (numbers in their shortest round-trip form)."""
    if not isinstance(line, dict):
        return {"kind": json.dumps(line)}
    out: dict[str, str] = {}
    for key, value in line.items():
        if key == "tags" and isinstance(value, dict):
            out.update({f"{TAG_PREFIX}{k}": _text(v) for k, v in value.items()})
        elif value is not None:  # null: the field left out
            out[str(key)] = _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)
