"""The Storage Queue that Event Grid fills with blob events: its settings and its clients.

INDEX_QUEUE_NAME names it (unset: no queue, ``drain-queue`` refuses to run); it is reached with
INDEX_QUEUE_CONNECTION_STRING (Azurite, local runs) or INDEX_QUEUE_ACCOUNT_URL and the managed
identity (DefaultAzureCredential with AZURE_CLIENT_ID). The azure-storage-queue SDK is imported only
when a client is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.env import EnvReader, SettingsError

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

MAX_VISIBILITY_SECONDS = 7 * 24 * 3600  # the service's limit on a message's visibility timeout


@dataclass(frozen=True)
class QueueSettings:
    name: str
    connection_string: str | None
    account_url: str | None
    client_id: str | None  # the managed identity (account URL only)
    poison_name: str  # where malformed and repeatedly failing messages are moved
    batch_messages: int  # most messages one index run answers for
    visibility_seconds: int  # how long received messages stay hidden: longer than one run
    max_dequeue: int  # deliveries after which a message is moved to the poison queue
    retry_seconds: int  # when a failed run's messages come back (a killed run's: visibility_seconds)

    @classmethod
    def from_env(cls, reader: EnvReader) -> QueueSettings | None:
        name = reader.text("INDEX_QUEUE_NAME")
        if name is None:
            return None
        connection_string = reader.text("INDEX_QUEUE_CONNECTION_STRING")
        account_url = reader.text("INDEX_QUEUE_ACCOUNT_URL")
        if bool(connection_string) == bool(account_url):
            raise SettingsError(
                "INDEX_QUEUE_NAME needs exactly one of INDEX_QUEUE_CONNECTION_STRING or "
                "INDEX_QUEUE_ACCOUNT_URL"
            )
        return cls(
            name=name,
            connection_string=connection_string,
            account_url=account_url,
            client_id=reader.text("AZURE_CLIENT_ID"),
            poison_name=reader.text("INDEX_QUEUE_POISON_NAME", f"{name}-poison") or f"{name}-poison",
            batch_messages=reader.integer("INDEX_QUEUE_BATCH", 5000, 1, 1_000_000),
            visibility_seconds=reader.integer(
                "INDEX_QUEUE_VISIBILITY_SECONDS", 3600, 1, MAX_VISIBILITY_SECONDS
            ),
            max_dequeue=reader.integer("INDEX_QUEUE_MAX_DEQUEUE", 5, 1, 1000),
            retry_seconds=reader.integer("INDEX_QUEUE_RETRY_SECONDS", 60, 0, MAX_VISIBILITY_SECONDS),
        )


def open_queue(settings: QueueSettings, name: str) -> QueueClient:
    """A client of the queue ``name`` (the events queue or its poison queue) in the configured account."""
    from azure.storage.queue import QueueClient

    if settings.connection_string:
        return QueueClient.from_connection_string(settings.connection_string, name)
    from core.database import azure_credential

    assert settings.account_url is not None  # from_env requires one of the two
    return QueueClient(settings.account_url, name, credential=azure_credential(settings.client_id))
