"""Short-lived read-only SAS tokens for single blobs: signed with the account key, or with a
user-delegation key obtained through a token credential (managed identity) and cached.

Signing is local HMAC work; the only network call is fetching a delegation key, about twice per key
lifetime, so a search that links 100 images makes no request at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from azure.storage.blob import BlobSasPermissions, BlobServiceClient, UserDelegationKey, generate_blob_sas

# Sign from a few minutes back so a service clock running behind ours still accepts the key.
CLOCK_SKEW = timedelta(minutes=5)
# A delegation key is replaced once it would expire less than this after the longest SAS signed with it.
REFRESH_MARGIN = timedelta(minutes=10)
# Shortest key lifetime asked for; longer SAS lifetimes get a proportionally longer key. The service
# refuses keys expiring more than 7 days ahead of its clock; a day's headroom absorbs skew.
MIN_KEY_LIFETIME = timedelta(hours=6)
MAX_KEY_LIFETIME = timedelta(days=6)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class SasSigner(Protocol):
    def sign(self, container: str, blob: str, expiry: datetime) -> str:
        """A SAS query string (no leading '?') allowing a read of this one blob until `expiry`."""
        ...


class AccountKeySigner:
    """Service SAS signed with the storage account key (connection strings, Azurite)."""

    def __init__(self, account_name: str, account_key: str) -> None:
        self._account_name = account_name
        self._account_key = account_key

    def sign(self, container: str, blob: str, expiry: datetime) -> str:
        return generate_blob_sas(
            self._account_name,
            container,
            blob,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
        )


def key_lifetime(sas_ttl: timedelta) -> timedelta:
    """How long a requested delegation key lives: long enough to sign SAS tokens for a while."""
    return min(MAX_KEY_LIFETIME, max(MIN_KEY_LIFETIME, 2 * (sas_ttl + REFRESH_MARGIN)))


def needs_new_key(key_expiry: datetime | None, now: datetime, sas_ttl: timedelta) -> bool:
    """True when there is no key, or a SAS signed now would outlive the key's expiry less the margin."""
    return key_expiry is None or key_expiry - now < sas_ttl + REFRESH_MARGIN


class UserDelegationSigner:
    """User-delegation SAS: the key comes from Entra ID credentials and is cached, refreshed before expiry.

    Thread-safe: concurrent callers with a stale key wait for one fetch instead of each making one.
    """

    def __init__(
        self, service: BlobServiceClient, account_name: str, sas_ttl: timedelta, clock: Clock = utc_now
    ) -> None:
        self._service = service
        self._account_name = account_name
        self._sas_ttl = sas_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._key: UserDelegationKey | None = None
        self._key_expiry: datetime | None = None

    def sign(self, container: str, blob: str, expiry: datetime) -> str:
        return generate_blob_sas(
            self._account_name,
            container,
            blob,
            user_delegation_key=self.current_key(),
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
        )

    def current_key(self) -> UserDelegationKey:
        """The cached delegation key, fetched first when missing or close to expiry."""
        with self._lock:
            now = self._clock()
            if self._key is None or needs_new_key(self._key_expiry, now, self._sas_ttl):
                start, expiry = now - CLOCK_SKEW, now + key_lifetime(self._sas_ttl)
                self._key = self._service.get_user_delegation_key(start, expiry)
                self._key_expiry = expiry
            return self._key
