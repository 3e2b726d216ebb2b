"""open_image_store: one store from the settings, or an error naming the missing setting."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from core.images import BlobImageStore, LocalFolderStore, open_image_store
from tests.azurite import ACCOUNT, AzuriteOAuth, FakeEntraCredential


def settings(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "images_dir": None,
        "connection_string": None,
        "account_url": None,
        "container": "images",
        "sas_ttl_minutes": 15,
    }
    return values | overrides


@pytest.mark.parametrize(
    ("kind", "overrides", "message"),
    [
        ("folder", {}, "IMAGE_STORE=folder needs IMAGES_DIR"),
        ("blob", {}, "IMAGE_STORE=blob needs IMAGES_CONNECTION_STRING or IMAGES_ACCOUNT_URL"),
        (
            "blob",
            {"connection_string": "x", "account_url": "https://a"},
            "IMAGE_STORE=blob takes IMAGES_CONNECTION_STRING or IMAGES_ACCOUNT_URL, not both",
        ),
        ("blob", {"account_url": "https://a", "container": None}, "IMAGE_STORE=blob needs IMAGES_CONTAINER"),
        (
            "blob",
            {"account_url": "https://a", "sas_ttl_minutes": 0},
            "SAS_TTL_MINUTES must be between 1 and 1440; got 0",
        ),
        ("s3", {}, "IMAGE_STORE must be one of folder, blob; got 's3'"),
    ],
)
def test_factory_names_the_missing_setting(kind: str, overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as error:
        open_image_store(kind, **settings(**overrides))  # type: ignore[arg-type]
    assert str(error.value) == message


def test_factory_builds_each_store(
    tmp_path: Path,
    azurite_connection_string: str,
    azurite_oauth: AzuriteOAuth,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = open_image_store("folder", **settings(images_dir=tmp_path))  # type: ignore[arg-type]
    assert isinstance(folder, LocalFolderStore) and folder.location == f"folder:{tmp_path.resolve()}"

    keyed = open_image_store("blob", **settings(connection_string=azurite_connection_string))  # type: ignore[arg-type]
    assert isinstance(keyed, BlobImageStore) and keyed.location == f"blob:{ACCOUNT}/images"

    # The managed-identity path, end to end: requests trusts Azurite's certificate through the environment.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azurite_oauth.ca_file))
    service = BlobServiceClient(azurite_oauth.account_url, credential=FakeEntraCredential())
    container = service.create_container(f"factory-{uuid.uuid4().hex[:12]}")
    container.upload_blob("f.gif", b"gif")
    entra = open_image_store(
        "blob",
        **settings(account_url=azurite_oauth.account_url, container=container.container_name),  # type: ignore[arg-type]
        credential=FakeEntraCredential(),
    )
    assert [ref.name for ref in entra.list_images()] == ["f.gif"]
    assert entra.read("f.gif") == b"gif"
    assert "skoid=" in entra.url("f.gif")
    container.delete_container()
