"""When a picture was taken: EXIF DateTimeOriginal when the file has a readable one, else the time the
store says the file was last modified (a blob's Last-Modified, a file's mtime). Pure: bytes in, a time out.

EXIF writes local time without a zone; OffsetTimeOriginal, when present, gives the zone. Without it the
time is read as UTC, so a photo's date may be off by the camera's offset from UTC (at most a day's edge).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from PIL import Image

EXIF_IFD = 0x8769
DATE_TIME_ORIGINAL = 0x9003
OFFSET_TIME_ORIGINAL = 0x9011
TakenFrom = Literal["exif", "modified"]

_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")


@dataclass(frozen=True)
class Taken:
    at: datetime  # timezone-aware
    source: TakenFrom  # "exif": the camera's DateTimeOriginal; "modified": the file's modification time


def parse_exif_date(value: object, offset: object = None) -> datetime | None:
    """An EXIF ``YYYY:MM:DD HH:MM:SS`` (with an optional ``+HH:MM`` offset) as an aware datetime, or
    None when it is missing or malformed (blank, zeroed, out of range: cameras write all of these)."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    match = _EXIF_DATE.match(value.strip("\0 "))
    if match is None:
        return None
    zone: timezone = UTC
    if isinstance(offset, bytes):
        offset = offset.decode("ascii", "replace")
    if isinstance(offset, str) and (found := _OFFSET.fullmatch(offset.strip("\0 "))):
        sign = -1 if found.group(1) == "-" else 1
        hours, minutes = int(found.group(2)), int(found.group(3))
        if hours < 24 and minutes < 60:
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError:  # "0000:00:00 00:00:00", month 13, ...
        return None


def exif_taken(data: bytes) -> datetime | None:
    """DateTimeOriginal of the image in ``data``, or None (no EXIF, no such tag, malformed, unreadable).

    Reads the header only: the pixels are not decoded here."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                exif = image.getexif().get_ifd(EXIF_IFD)
                return parse_exif_date(exif.get(DATE_TIME_ORIGINAL), exif.get(OFFSET_TIME_ORIGINAL))
    except Exception:  # a malformed EXIF block must never fail a run: fall back to the file's time
        return None


def taken_of(data: bytes, modified: datetime) -> Taken:
    """When the picture in ``data`` was taken: its EXIF date, else ``modified`` (made aware as UTC)."""
    at = exif_taken(data)
    if at is not None:
        return Taken(at, "exif")
    return Taken(modified if modified.tzinfo else modified.replace(tzinfo=UTC), "modified")
