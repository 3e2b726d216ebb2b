"""An image store over an Azure Blob Storage container (or Azurite), linked with short-lived SAS URLs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError, ResourceNotFoundError, ServiceRequestError
from azure.storage.blob import BlobServiceClient

from core.images.base import ImageNotFound, ImageRef, ImageStoreUnavailable, is_image_name
from core.images.sas import AccountKeySigner, Clock, SasSigner, UserDelegationSigner, utc_now

DEFAULT_SAS_TTL = timedelta(minutes=15)
MAX_SAS_TTL = timedelta(days=1)
DEFAULT_PAGE_SIZE = 1000


class BlobImageStore:
    """Images in one container, linked with SAS URLs unless the container allows anonymous blob reads.

    `public=None` asks the service for the container's access level once, on the first url().
    """

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        *,
        sas_ttl: timedelta = DEFAULT_SAS_TTL,
        public: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        clock: Clock = utc_now,
    ) -> None:
        if not timedelta(0) < sas_ttl <= MAX_SAS_TTL:
            raise ValueError(f"sas_ttl must be more than 0 and at most {MAX_SAS_TTL}, got {sas_ttl}")
        if not 1 <= page_size <= 5000:
            raise ValueError(f"page_size must be between 1 and 5000, got {page_size}")
        account = service.account_name
        if not account:
            raise ValueError(f"cannot tell the storage account from the URL {service.url!r}")
        self._container = service.get_container_client(container)
        self._sas_ttl = sas_ttl
        self._page_size = page_size
        self._clock = clock
        self._public = public
        self._public_lock = threading.Lock()
        self._signer = _signer_for(service, account, sas_ttl, clock)
        if self._signer is None and public is not True:
            raise ValueError("BlobImageStore needs an account key or a token credential to sign URLs")
        self.location = f"blob:{account}/{container}"

    @classmethod
    def from_connection_string(
        cls,
        conn_str: str,
        container: str,
        sas_ttl: timedelta = DEFAULT_SAS_TTL,
        *,
        public: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> BlobImageStore:
        """A store signing URLs with the account key in the connection string (Azurite, local runs)."""
        service = BlobServiceClient.from_connection_string(conn_str)
        return cls(service, container, sas_ttl=sas_ttl, public=public, page_size=page_size)

    @classmethod
    def from_account_url(
        cls,
        account_url: str,
        container: str,
        credential: TokenCredential,
        sas_ttl: timedelta = DEFAULT_SAS_TTL,
        *,
        public: bool | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> BlobImageStore:
        """A store using Entra ID (a managed identity in Azure), signing URLs with user-delegation keys."""
        service = BlobServiceClient(account_url, credential=credential)
        return cls(service, container, sas_ttl=sas_ttl, public=public, page_size=page_size)

    def list_images(self, prefix: str = "") -> Iterator[ImageRef]:
        """Pages through the container listing `page_size` names at a time, yielding only images."""
        pages = self._container.list_blobs(name_starts_with=prefix or None, results_per_page=self._page_size)
        try:
            for blob in pages:
                if is_image_name(blob.name):
                    yield ImageRef(blob.name, blob.size, blob.etag, blob.last_modified)
        except AzureError as exc:
            raise ImageStoreUnavailable(f"cannot list images in {self.location}: {_cause(exc)}") from exc

    def read(self, name: str) -> bytes:
        _check_blob_name(name)
        try:
            return self._container.download_blob(name).readall()
        except ResourceNotFoundError:
            raise ImageNotFound(f"image not found: {name!r} in {self.location}") from None
        except AzureError as exc:
            message = f"cannot read image {name!r} in {self.location}: {_cause(exc)}"
            raise ImageStoreUnavailable(message) from exc

    def url(self, name: str) -> str:
        """The blob URL, with a read-only SAS valid for `sas_ttl` unless the container is public."""
        blob_url = f"{self._container.url}/{quote(_check_blob_name(name), safe='~/')}"
        if self.is_public():
            return blob_url
        assert self._signer is not None  # the constructor refuses a private store that cannot sign
        try:
            sas = self._signer.sign(self._container.container_name, name, self._clock() + self._sas_ttl)
        except AzureError as exc:
            raise ImageStoreUnavailable(f"cannot sign a URL for {self.location}: {_cause(exc)}") from exc
        return f"{blob_url}?{sas}"

    def is_public(self) -> bool:
        """Whether anonymous reads of blobs are allowed; asked of the service once, then cached."""
        if self._public is None:
            with self._public_lock:
                if self._public is None:
                    self._public = self._read_public_access()
        return self._public

    def _read_public_access(self) -> bool:
        # Container properties carry the public access level and, unlike the ACL, can be read with
        # the Storage Blob Data Reader role that the managed identity holds.
        try:
            access = self._container.get_container_properties().public_access
        except AzureError as exc:
            message = f"cannot read the access level of {self.location}: {_cause(exc)}"
            raise ImageStoreUnavailable(message) from exc
        return access in ("blob", "container")


def _signer_for(
    service: BlobServiceClient, account: str, sas_ttl: timedelta, clock: Clock
) -> SasSigner | None:
    # A connection string's key shows up as a shared-key policy; Entra ID credentials have get_token.
    credential = service.credential
    account_key = getattr(credential, "account_key", None)
    if account_key:
        return AccountKeySigner(account, account_key)
    if hasattr(credential, "get_token"):
        return UserDelegationSigner(service, account, sas_ttl, clock)
    return None


def _check_blob_name(name: str) -> str:
    if not name:
        raise ValueError("image name is empty")
    return name


def _cause(exc: AzureError) -> str:
    """A one-line reason: HTTP status and storage error code, or the connection failure."""
    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        code = getattr(exc, "error_code", None) or exc.reason or ""
        code = getattr(code, "value", code)  # storage error codes are str enums
        return f"HTTP {exc.status_code} {code}".rstrip()
    if isinstance(exc, ServiceRequestError):
        return f"cannot connect: {str(exc).rsplit(': ', 1)[-1]}"
    first_line = str(exc.message or exc).strip().splitlines()
    return f"{type(exc).__name__}: {first_line[0] if first_line else ''}".rstrip(": ")
