"""Blob events as Event Grid delivers them to a Storage Queue: parsed, and sorted into what matters.

Event Grid writes each event (Event Grid schema) to the queue as one message, its JSON base64-encoded;
plain JSON is accepted too, and so is a JSON array of events. Only ``Microsoft.Storage.BlobCreated`` and
``Microsoft.Storage.BlobDeleted`` on the images container matter; the event itself is only a trigger,
since the run that follows lists the container and brings the whole index up to date.
Schema: https://learn.microsoft.com/azure/event-grid/event-schema-blob-storage
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from core.images.base import is_image_name

__all__ = ["BLOB_CREATED", "BLOB_DELETED", "BlobEvent", "MalformedEvent", "ignore_reason", "parse_message"]

BLOB_CREATED = "Microsoft.Storage.BlobCreated"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
_TOPIC = re.compile(r"/providers/Microsoft\.Storage/storageAccounts/(?P<account>[^/]+)$", re.IGNORECASE)
_SUBJECT = re.compile(r"^/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<name>.+)$")


class MalformedEvent(ValueError):
    """A queue message that is not a storage event in the Event Grid schema; the message says why."""


@dataclass(frozen=True)
class BlobEvent:
    event_type: str  # e.g. Microsoft.Storage.BlobCreated
    account: str  # storage account name, from the topic
    container: str
    name: str  # the blob name, '/'-separated
    event_id: str


def parse_message(text: str) -> list[BlobEvent]:
    """The storage events in one queue message (base64 or plain JSON); MalformedEvent says what is wrong."""
    payload = _decode(text)
    events = payload if isinstance(payload, list) else [payload]
    if not events:
        raise MalformedEvent("the message holds an empty list of events")
    return [_event(item) for item in events]


def ignore_reason(event: BlobEvent, account: str, container: str) -> str | None:
    """Why the indexer of ``account``/``container`` can ignore ``event``; None when it must run."""
    if event.event_type not in (BLOB_CREATED, BLOB_DELETED):
        return f"event type {event.event_type}"
    if event.account != account:
        return f"other account {event.account}"
    if event.container != container:
        return f"other container {event.container}"
    if not is_image_name(event.name):
        return "not an image name"
    return None


def _decode(text: str) -> Any:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        try:
            stripped = base64.b64decode(stripped, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise MalformedEvent("the message is neither JSON nor base64-encoded JSON") from None
    try:
        return json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise MalformedEvent(f"the message is not valid JSON ({exc.msg} at character {exc.pos})") from None


def _event(item: Any) -> BlobEvent:
    if not isinstance(item, dict):
        raise MalformedEvent(f"an event must be a JSON object, got {type(item).__name__}")
    raw = {key: item.get(key) for key in ("eventType", "topic", "subject", "id")}
    missing = [key for key, value in raw.items() if not isinstance(value, str) or not value]
    if missing:
        raise MalformedEvent(f"the event has no {', '.join(missing)} (not the Event Grid schema)")
    fields: dict[str, str] = {key: str(value) for key, value in raw.items()}
    topic = _TOPIC.search(fields["topic"])
    if topic is None:
        raise MalformedEvent(f"the topic is not a storage account: {fields['topic']!r}")
    subject = _SUBJECT.match(fields["subject"])
    if subject is None:
        raise MalformedEvent(f"the subject is not a blob: {fields['subject']!r}")
    return BlobEvent(
        event_type=fields["eventType"],
        account=topic["account"],
        container=subject["container"],
        name=subject["name"],
        event_id=fields["id"],
    )
