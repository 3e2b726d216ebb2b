"""PostgreSQL binary COPY, formatted with numpy: the fast path for bulk writes (pure, no I/O).

A binary COPY stream is a header, one tuple per row (a 16-bit field count, then each field as a 32-bit
length and its bytes, big-endian) and a trailer. Fixed-width columns (int4, float4, pgvector's vector)
are laid out for all rows at once with a numpy structured array; only text (and jsonb, text behind a
version byte) needs a Python loop. A vector row of NaN is written as NULL (pgvector refuses NaN, so no
real vector is lost): a nullable vector column, such as images.visual, passes its missing rows that way.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, repeat
from typing import Literal

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
TRAILER = struct.pack("!h", -1)
Kind = Literal["text", "jsonb", "int4", "float4", "vector", "timestamptz"]
JSONB_VERSION = b"\x01"  # jsonb's binary format: this byte, then the JSON text
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # timestamptz's binary format: int8 microseconds since this
NULL_FIELD = struct.pack("!i", -1)


@dataclass(frozen=True)
class Column:
    """One column of a batch: ``values`` is a sequence of str (text, jsonb) or an array (N,) or (N, d)."""

    kind: Kind
    values: Sequence[str] | np.ndarray | Sequence[datetime | None]


def _text_fields(values: Sequence[str], prefix: bytes = b"") -> list[bytes]:
    encoded = [prefix + value.encode("utf-8") for value in values]
    return [struct.pack("!i", len(b)) + b for b in encoded]


def _timestamp_fields(values: Sequence[datetime | None]) -> list[bytes]:
    """Aware datetimes as int8 microseconds since 2000-01-01 UTC; None as NULL."""
    fields = []
    for value in values:
        if value is None:
            fields.append(NULL_FIELD)
        else:
            micros = (value - PG_EPOCH) // timedelta(microseconds=1)
            fields.append(struct.pack("!iq", 8, micros))
    return fields


def _fixed_fields(column: Column, rows: int) -> list[bytes]:
    array = np.asarray(column.values)
    if column.kind == "vector":
        if array.ndim != 2 or array.shape[0] != rows:
            raise ValueError(f"vector column must have shape ({rows}, d), got {array.shape}")
        dim = array.shape[1]
        layout = np.dtype([("len", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (dim,))])
        packed = np.zeros(rows, dtype=layout)
        packed["len"], packed["dim"], packed["v"] = 4 + 4 * dim, dim, array
        missing = np.isnan(array).all(axis=1) if dim else np.zeros(rows, dtype=bool)
        if missing.any():
            width = packed.dtype.itemsize
            view = memoryview(packed.tobytes())
            return [
                NULL_FIELD if missing[i] else view[i * width : (i + 1) * width].tobytes() for i in range(rows)
            ]
    else:
        if array.shape != (rows,):
            raise ValueError(f"{column.kind} column must have shape ({rows},), got {array.shape}")
        packed = np.zeros(rows, dtype=[("len", ">i4"), ("v", ">i4" if column.kind == "int4" else ">f4")])
        packed["len"], packed["v"] = 4, array
    width = packed.dtype.itemsize
    view = memoryview(packed.tobytes())
    return [view[i * width : (i + 1) * width].tobytes() for i in range(rows)]


def encode_copy(columns: Sequence[Column]) -> bytes:
    """The whole COPY ... (FORMAT binary) payload for the rows spread over ``columns``."""
    if not columns:
        raise ValueError("a COPY needs at least one column")
    rows = len(columns[0].values)
    fields = []
    for column in columns:
        if len(column.values) != rows:
            raise ValueError(f"columns differ in length: {len(column.values)} and {rows}")
        if column.kind == "text":
            fields.append(_text_fields(column.values))  # type: ignore[arg-type]
        elif column.kind == "jsonb":
            fields.append(_text_fields(column.values, JSONB_VERSION))  # type: ignore[arg-type]
        elif column.kind == "timestamptz":
            fields.append(_timestamp_fields(column.values))  # type: ignore[arg-type]
        else:
            fields.append(_fixed_fields(column, rows))
    count = struct.pack("!h", len(columns))
    body = b"".join(chain.from_iterable(zip(repeat(count, rows), *fields, strict=False)))
    return HEADER + body + TRAILER
