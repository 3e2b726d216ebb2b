"""Drain the blob-event queue: one incremental index run per batch of messages, not one per upload.

Each round receives up to ``batch_messages`` messages, hidden for ``visibility_seconds``, and sorts them:
- malformed (not a storage event in the Event Grid schema), or delivered more than ``max_dequeue``
  times (the runs they triggered kept failing): moved to the poison queue with the reason, then
  deleted. Nothing is lost by giving up on one: every run lists the whole container.
- only events the index ignores (another container or account, not an image name): deleted, the
  reason logged.
- the rest: the index is brought up to date ONCE for the whole round, and only after that run has
  committed and published are they deleted. A run that fails or is killed leaves them hidden until
  the visibility timeout (a run that fails with an error releases them after ``retry_seconds``); then
  they are delivered again and the next drain indexes what is missing.
Rounds repeat until a receive finds the queue empty (events that arrived during a run make a round).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from indexing.events import MalformedEvent, ignore_reason, parse_message
from indexing.session import IndexingError

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient, QueueMessage

    from indexing.settings import IndexSettings

__all__ = ["DrainOptions", "DrainReport", "QueueUnavailable", "drain", "drain_configured_queue"]

log = logging.getLogger(__name__)
PAGE = 32  # the most messages one receive request returns
STALE_RECEIPT = (400, 404)  # PopReceiptMismatch, MessageNotFound: the message was delivered again


class QueueUnavailable(IndexingError):
    """The queue cannot be read or written; the messages stay and are delivered again."""


@dataclass(frozen=True)
class DrainOptions:
    batch_messages: int = 5000
    visibility_seconds: int = 3600
    max_dequeue: int = 5
    retry_seconds: int = 60  # a failed run's messages come back after this, not the visibility timeout


@dataclass
class DrainReport:
    received: int = 0
    runs: list[Any] = field(default_factory=list)  # each index run's summary (to_dict() where it has one)
    indexed_messages: int = 0  # deleted after the run that answered them
    ignored: Counter[str] = field(default_factory=Counter)  # reason -> messages
    poisoned: Counter[str] = field(default_factory=Counter)  # reason -> messages
    redelivered: int = 0  # hidden too short: delivered again before their run ended

    def to_dict(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "index_runs": len(self.runs),
            "indexed_messages": self.indexed_messages,
            "ignored": dict(self.ignored),
            "poisoned": dict(self.poisoned),
            "redelivered": self.redelivered,
            "runs": [run.to_dict() if hasattr(run, "to_dict") else run for run in self.runs],
        }


def drain(
    queue: QueueClient,
    poison: QueueClient,
    account: str,
    container: str,
    run_index: Callable[[], Any],
    options: DrainOptions,
) -> DrainReport:
    """Answer every message in ``queue`` about ``account``/``container`` with as few runs as batching allows.

    ``run_index`` brings the index up to date and returns its summary; an exception from it leaves the
    round's messages in the queue, visible again after ``retry_seconds``, and propagates.
    """
    report = DrainReport()
    while True:
        messages = _receive(queue, options)
        if not messages:
            return report
        report.received += len(messages)
        pending = [m for m in messages if _needs_run(m, queue, poison, account, container, options, report)]
        if not pending:
            continue
        log.info("%d of %d messages need the index brought up to date: one run", len(pending), len(messages))
        try:
            report.runs.append(run_index())
        except Exception:
            _release(queue, pending, options.retry_seconds)
            raise
        for message in pending:
            report.redelivered += not _delete(queue, message)
        report.indexed_messages += len(pending)


def drain_configured_queue(settings: IndexSettings, run_index: Callable[[], Any]) -> DrainReport:
    """``drain`` on the queue and the images container that ``settings`` name."""
    from core.connect import open_images
    from core.env import SettingsError
    from indexing.queue import open_queue

    queue_settings = settings.queue
    if queue_settings is None:
        raise SettingsError("INDEX_QUEUE_NAME is not set: drain-queue needs the queue Event Grid fills")
    if settings.images.kind != "blob":
        raise SettingsError("drain-queue needs IMAGE_STORE=blob: blob events come from a Blob container")
    _, _, where = open_images(settings.images).location.partition(":")
    account, _, container = where.partition("/")
    options = DrainOptions(
        queue_settings.batch_messages,
        queue_settings.visibility_seconds,
        queue_settings.max_dequeue,
        queue_settings.retry_seconds,
    )
    queue = open_queue(queue_settings, queue_settings.name)
    poison = open_queue(queue_settings, queue_settings.poison_name)
    return drain(queue, poison, account, container, run_index, options)


def _needs_run(
    message: QueueMessage,
    queue: QueueClient,
    poison: QueueClient,
    account: str,
    container: str,
    options: DrainOptions,
    report: DrainReport,
) -> bool:
    """Whether the message waits for this round's run; any other is dealt with (and deleted) here."""
    try:
        events = parse_message(message.content)
    except MalformedEvent as exc:
        _to_poison(queue, poison, message, f"malformed: {exc}", report)
        return False
    if message.dequeue_count is not None and message.dequeue_count > options.max_dequeue:
        reason = f"delivered {message.dequeue_count} times, more than {options.max_dequeue}"
        _to_poison(queue, poison, message, reason, report)
        return False
    reasons = [ignore_reason(event, account, container) for event in events]
    if any(reason is None for reason in reasons):
        return True
    ignored = sorted({reason for reason in reasons if reason is not None})
    for reason in ignored:
        report.ignored[reason] += 1
    log.info("ignoring message %s: %s", message.id, "; ".join(ignored))
    _delete(queue, message)
    return False


def _to_poison(
    queue: QueueClient, poison: QueueClient, message: QueueMessage, reason: str, report: DrainReport
) -> None:
    """Move ``message`` to the poison queue, with why, so that an operator can read it there."""
    from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

    log.warning("moving message %s to the poison queue: %s", message.id, reason)
    body = json.dumps({"reason": reason, "dequeueCount": message.dequeue_count, "content": message.content})
    try:
        try:
            poison.send_message(body, time_to_live=-1)
        except ResourceNotFoundError:  # in Azure the deployment creates it; the job may only send
            with contextlib.suppress(ResourceExistsError):
                poison.create_queue()
            poison.send_message(body, time_to_live=-1)
    except AzureError as exc:
        message_text = f"cannot write to the poison queue {poison.queue_name}: {_cause(exc)}"
        raise QueueUnavailable(message_text) from exc
    report.poisoned[reason.split(":")[0]] += 1
    _delete(queue, message)


def _release(queue: QueueClient, messages: list[QueueMessage], delay_seconds: int) -> None:
    """Let a failed run's messages come back after ``delay_seconds`` (best effort: a message that
    cannot be released comes back after its visibility timeout anyway)."""
    from azure.core.exceptions import AzureError

    for message in messages:
        try:
            queue.update_message(message, visibility_timeout=delay_seconds)
        except AzureError as exc:
            log.warning("message %s stays hidden until its visibility timeout: %s", message.id, _cause(exc))


def _receive(queue: QueueClient, options: DrainOptions) -> list[QueueMessage]:
    from azure.core.exceptions import AzureError

    try:
        return list(
            queue.receive_messages(
                messages_per_page=min(PAGE, options.batch_messages),
                visibility_timeout=options.visibility_seconds,
                max_messages=options.batch_messages,
            )
        )
    except AzureError as exc:
        raise QueueUnavailable(f"cannot receive from the queue {queue.queue_name}: {_cause(exc)}") from exc


def _delete(queue: QueueClient, message: QueueMessage) -> bool:
    """Delete a received message; False when it was delivered again meanwhile (its receipt is stale)."""
    from azure.core.exceptions import AzureError, HttpResponseError

    try:
        queue.delete_message(message)
    except HttpResponseError as exc:
        if exc.status_code not in STALE_RECEIPT:
            raise QueueUnavailable(f"cannot delete from the queue {queue.queue_name}: {_cause(exc)}") from exc
        log.warning(
            "message %s was delivered again before its run ended: raise INDEX_QUEUE_VISIBILITY_SECONDS",
            message.id,
        )
        return False
    except AzureError as exc:
        raise QueueUnavailable(f"cannot delete from the queue {queue.queue_name}: {_cause(exc)}") from exc
    return True


def _cause(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "error_code", None)
    if status is not None:
        return f"HTTP {status} {getattr(code, 'value', code) or ''}".rstrip()
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
