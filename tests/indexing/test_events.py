"""Blob events from Event Grid, drained from a real Azurite queue: the message format, batching (a burst
of uploads is one index run), poison handling, and a drain killed mid-run whose messages come back and
are indexed once by the next drain."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient

from core.env import EnvReader, SettingsError
from indexing.cli import main
from indexing.drain import DrainOptions, drain
from indexing.events import (
    BLOB_CREATED,
    BLOB_DELETED,
    BlobEvent,
    MalformedEvent,
    ignore_reason,
    parse_message,
)
from indexing.queue import QueueSettings
from tests.azurite import ACCOUNT
from tests.conftest import PROJECT_ROOT, create_database
from tests.indexing.pipeline_helpers import index_state
from training.synthetic import make_shapes

TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-search/providers/"
    "Microsoft.Storage/storageAccounts/{account}"
)


def blob_event(
    name: str, event_type: str = BLOB_CREATED, account: str = ACCOUNT, container: str = "images"
) -> dict[str, Any]:
    """An event as Event Grid writes it (Event Grid schema), after the documented BlobCreated sample."""
    created = event_type == BLOB_CREATED
    return {
        "topic": TOPIC.format(account=account),
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": event_type,
        "eventTime": "2026-12-03T18:41:00.9584103Z",
        "id": str(uuid.uuid4()),
        "data": {
            "api": "PutBlob" if created else "DeleteBlob",
            "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
            "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
            **({"eTag": '"0x8D4BCC2E4835CD0"', "contentLength": 524288} if created else {}),
            "contentType": "image/png",
            "blobType": "BlockBlob",
            "url": f"https://{account}.blob.core.windows.net/{container}/{name}",
            "sequencer": "00000000000004420000000000028963",
            "storageDiagnostics": {"batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0"},
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def as_queue_message(event: Any) -> str:
    """What Event Grid puts in a Storage Queue: the event's JSON, base64-encoded."""
    return base64.b64encode(json.dumps(event).encode()).decode()


# --- the message format ---------------------------------------------------------------------------


def test_a_base64_blob_created_event_parses() -> None:
    event = blob_event("holiday/beach.jpg")
    (parsed,) = parse_message(as_queue_message(event))
    assert parsed == BlobEvent(BLOB_CREATED, ACCOUNT, "images", "holiday/beach.jpg", event["id"])


def test_plain_json_and_a_list_of_events_parse_too() -> None:
    created, deleted = blob_event("a.png"), blob_event("b.png", BLOB_DELETED)
    assert [e.name for e in parse_message(json.dumps(created))] == ["a.png"]
    assert [(e.name, e.event_type) for e in parse_message(json.dumps([created, deleted]))] == [
        ("a.png", BLOB_CREATED),
        ("b.png", BLOB_DELETED),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not an event!", "the message is neither JSON nor base64-encoded JSON"),
        (base64.b64encode(b"{oops").decode(), "the message is not valid JSON (Expecting property name"),
        ("[]", "the message holds an empty list of events"),
        ("[1]", "an event must be a JSON object, got int"),
        ('{"eventType": "x"}', "the event has no topic, subject, id (not the Event Grid schema)"),
        (
            json.dumps({**blob_event("a.png"), "topic": "/subscriptions/x/resourceGroups/y"}),
            "the topic is not a storage account: '/subscriptions/x/resourceGroups/y'",
        ),
        (
            json.dumps({**blob_event("a.png"), "subject": "/blobServices/default/containers/images"}),
            "the subject is not a blob: '/blobServices/default/containers/images'",
        ),
    ],
)
def test_malformed_messages_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MalformedEvent) as raised:
        parse_message(text)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (blob_event("a.jpg"), None),
        (blob_event("a.jpg", BLOB_DELETED), None),
        (
            blob_event("a.jpg", "Microsoft.Storage.BlobTierChanged"),
            "event type Microsoft.Storage.BlobTierChanged",
        ),
        (blob_event("a.jpg", account="someoneelse"), "other account someoneelse"),
        (blob_event("a.jpg", container="$web"), "other container $web"),
        (blob_event("notes/readme.txt"), "not an image name"),
    ],
)
def test_only_image_events_on_the_images_container_need_a_run(
    event: dict[str, Any], reason: str | None
) -> None:
    (parsed,) = parse_message(as_queue_message(event))
    assert ignore_reason(parsed, ACCOUNT, "images") == reason


def test_queue_settings_name_what_is_missing() -> None:
    assert QueueSettings.from_env(EnvReader({})) is None
    with pytest.raises(SettingsError, match="exactly one of INDEX_QUEUE_CONNECTION_STRING or"):
        QueueSettings.from_env(EnvReader({"INDEX_QUEUE_NAME": "image-events"}))
    settings = QueueSettings.from_env(
        EnvReader({"INDEX_QUEUE_NAME": "image-events", "INDEX_QUEUE_ACCOUNT_URL": "https://x"})
    )
    assert settings is not None and settings.poison_name == "image-events-poison"
    assert (settings.batch_messages, settings.visibility_seconds, settings.max_dequeue) == (5000, 3600, 5)
    assert settings.retry_seconds == 60


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"IMAGE_STORE": "blob", "IMAGES_CONNECTION_STRING": "UseDevelopmentStorage=true"},
            "INDEX_QUEUE_NAME is not set: drain-queue needs the queue Event Grid fills",
        ),
        (
            {"IMAGE_STORE": "folder", "INDEX_QUEUE_NAME": "q", "INDEX_QUEUE_CONNECTION_STRING": "x"},
            "drain-queue needs IMAGE_STORE=blob: blob events come from a Blob container",
        ),
        (
            {"INDEX_QUEUE_NAME": "q"},
            "INDEX_QUEUE_NAME needs exactly one of INDEX_QUEUE_CONNECTION_STRING or INDEX_QUEUE_ACCOUNT_URL",
        ),
    ],
)
def test_drain_queue_stops_at_start_up_naming_the_setting(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith(("INDEX_QUEUE_", "IMAGE")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["drain-queue"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"


# --- draining a real queue --------------------------------------------------------------------------


@pytest.fixture
def queues(azurite_queue_connection_string: str) -> Iterator[tuple[QueueClient, QueueClient]]:
    name = f"events-{uuid.uuid4().hex[:8]}"
    queue = QueueClient.from_connection_string(azurite_queue_connection_string, name)
    poison = QueueClient.from_connection_string(azurite_queue_connection_string, f"{name}-poison")
    queue.create_queue()
    yield queue, poison
    queue.delete_queue()


def visible(queue: QueueClient) -> int:
    count = queue.get_queue_properties().approximate_message_count
    assert count is not None
    return count


class IndexRuns:
    """The index run handed to drain: counts its calls and may fail, as a database outage would."""

    def __init__(self, fail: bool = False) -> None:
        self.calls = 0
        self.fail = fail

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        if self.fail:
            raise RuntimeError("the database went away")
        return {"run": self.calls}


def test_a_burst_of_uploads_is_one_index_run(queues: tuple[QueueClient, QueueClient]) -> None:
    queue, poison = queues
    for i in range(500):
        queue.send_message(as_queue_message(blob_event(f"burst/{i:03d}.jpg")))
    queue.send_message(as_queue_message(blob_event("site/index.png", container="$web")))
    queue.send_message(as_queue_message(blob_event("burst/notes.txt")))
    queue.send_message("not an event!")
    runs = IndexRuns()
    report = drain(queue, poison, ACCOUNT, "images", runs, DrainOptions(batch_messages=1000))
    assert runs.calls == 1
    assert report.to_dict() | {"runs": None} == {
        "received": 503,
        "index_runs": 1,
        "indexed_messages": 500,
        "ignored": {"other container $web": 1, "not an image name": 1},
        "poisoned": {"malformed": 1},
        "redelivered": 0,
        "runs": None,
    }
    assert visible(queue) == 0
    (moved,) = poison.receive_messages()
    assert json.loads(moved.content) == {
        "reason": "malformed: the message is neither JSON nor base64-encoded JSON",
        "dequeueCount": 1,
        "content": "not an event!",
    }


def test_the_batch_size_bounds_the_messages_one_run_answers(queues: tuple[QueueClient, QueueClient]) -> None:
    queue, poison = queues
    for i in range(70):
        queue.send_message(as_queue_message(blob_event(f"{i}.jpg")))
    runs = IndexRuns()
    report = drain(queue, poison, ACCOUNT, "images", runs, DrainOptions(batch_messages=32))
    assert runs.calls == 3 and report.indexed_messages == 70 and visible(queue) == 0


def test_a_failed_run_releases_its_messages_which_go_to_the_poison_queue_after_max_dequeue(
    queues: tuple[QueueClient, QueueClient],
) -> None:
    queue, poison = queues
    for i in range(3):
        queue.send_message(as_queue_message(blob_event(f"{i}.jpg")))
    # Hidden for an hour when received; a failed run lets them come back at once (retry_seconds=0).
    options = DrainOptions(batch_messages=10, visibility_seconds=3600, max_dequeue=1, retry_seconds=0)
    failing = IndexRuns(fail=True)
    with pytest.raises(RuntimeError, match="the database went away"):
        drain(queue, poison, ACCOUNT, "images", failing, options)
    assert failing.calls == 1
    assert [m.dequeue_count for m in queue.peek_messages(max_messages=10)] == [1, 1, 1]  # back, not lost
    runs = IndexRuns()
    report = drain(queue, poison, ACCOUNT, "images", runs, options)  # second delivery > max_dequeue 1
    assert runs.calls == 0 and report.poisoned == {"delivered 2 times, more than 1": 3}
    assert visible(queue) == 0 and visible(poison) == 3


# --- the command, end to end: Azurite Blob + Queue, PostgreSQL, the tiny captioner ---------------------


def _upload(service: BlobServiceClient, container: str, folder: Path, names: list[str]) -> None:
    client = service.get_container_client(container)
    for name in names:
        client.upload_blob(name, (folder / name).read_bytes(), overwrite=True)


def _catalog_names(dsn: str) -> list[str]:
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM catalog ORDER BY name")
        names = [row[0] for row in cur.fetchall()]
    conn.close()
    return names


def _catalog_count(dsn: str) -> int:
    try:
        return len(_catalog_names(dsn))
    except psycopg2.Error:  # the drain has not applied the schema yet
        return 0


DRAIN = [sys.executable, "-m", "indexing.cli", "drain-queue", "--no-progress", "--pca-dim", "8"]


@pytest.mark.slow
def test_a_drain_killed_mid_run_is_delivered_again_and_indexes_everything_once(
    pg_admin_dsn: str,
    azurite_connection_string: str,
    azurite_queue_connection_string: str,
    tmp_path: Path,
    tiny_checkpoint: Path,
    encoder_dir: Path,
) -> None:
    container, queue_name = f"images-{uuid.uuid4().hex[:8]}", f"events-{uuid.uuid4().hex[:8]}"
    service = BlobServiceClient.from_connection_string(azurite_connection_string)
    service.create_container(container)
    queue = QueueClient.from_connection_string(azurite_queue_connection_string, queue_name)
    queue.create_queue()
    folder = tmp_path / "shapes"
    names = sorted(make_shapes(folder, 60))
    _upload(service, container, folder, names)
    for name in names:
        queue.send_message(as_queue_message(blob_event(name, container=container)))

    # Long enough that the kill (after 10 images, 10-20 s quiet, 30 s at load 15) comes before the
    # messages are visible again, and short enough to wait out.
    dsn, visibility = create_database(pg_admin_dsn), 45
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "MODEL_SHARE_PATH": str(tmp_path / "share"),
        "IMAGE_STORE": "blob",
        "IMAGES_CONNECTION_STRING": azurite_connection_string,
        "IMAGES_CONTAINER": container,
        "INDEX_QUEUE_NAME": queue_name,
        "INDEX_QUEUE_CONNECTION_STRING": azurite_queue_connection_string,
        "INDEX_QUEUE_VISIBILITY_SECONDS": str(visibility),
        "CAPTIONER_CHECKPOINT": str(tiny_checkpoint),
        "ENCODER_DIR": str(encoder_dir),
        "INDEX_LOG_DIR": str(tmp_path / "logs"),
        "INDEX_WORKERS": "0",
        "INDEX_BATCH_SIZE": "2",
        "INDEX_MAX_LENGTH": "8",
        "INDEX_THREADS": "1",
    }
    process = subprocess.Popen(DRAIN, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)
    received_at = time.monotonic()  # no later than the drain's receive
    deadline = received_at + 120
    while time.monotonic() < deadline and process.poll() is None and _catalog_count(dsn) < 10:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 10 <= _catalog_count(dsn) < len(names)  # killed mid-run, some batches committed
    assert list(queue.peek_messages(max_messages=32)) == []  # received, hidden, not deleted

    while time.monotonic() < received_at + visibility + 15 and not list(queue.peek_messages()):
        time.sleep(0.5)
    assert visible(queue) == len(names)  # all delivered again

    done = subprocess.run(DRAIN, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["received"], report["index_runs"], report["indexed_messages"]) == (60, 1, 60)
    assert visible(queue) == 0
    state = index_state(dsn, tmp_path / "share")
    assert _catalog_names(dsn) == names  # each image once
    assert list(state.versions.values()) == [len(names)]  # one version, no duplicates

    # A later upload and a deletion: the next drain brings the index up to date.
    service.get_container_client(container).delete_blob(names[0])
    (added,) = make_shapes(tmp_path / "more", 1, seed=1, start=1000)
    data = (tmp_path / "more" / added).read_bytes()
    service.get_container_client(container).upload_blob(f"new/{added}", data)
    queue.send_message(as_queue_message(blob_event(names[0], BLOB_DELETED, container=container)))
    queue.send_message(as_queue_message(blob_event(f"new/{added}", container=container)))
    again = subprocess.run(DRAIN, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["index_runs"] == 1
    assert _catalog_names(dsn) == sorted([*names[1:], f"new/{added}"])
