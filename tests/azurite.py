"""Azurite, the Blob Storage emulator, for tests: a pytest plugin with session-scoped fixtures.

`azurite_connection_string` is plain HTTP with the emulator's well-known account key;
`azurite_queue_connection_string` is the Queue service (where Event Grid delivers blob events) beside
it, likewise. `azurite_oauth`
is a second instance over HTTPS (self-signed certificate) that accepts Entra ID bearer tokens, which
the user-delegation SAS path needs; `FakeEntraCredential` makes tokens it accepts (it checks their
claims, not their signature).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_BIN = (
    Path(__file__).resolve().parents[1] / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
)
START_TIMEOUT_S = 30.0
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class AzuriteOAuth:
    account_url: str  # https://127.0.0.1:<port>/devstoreaccount1
    ca_file: Path  # the self-signed certificate clients must trust


class FakeEntraCredential:
    """A TokenCredential whose tokens pass Azurite's basic OAuth check (claims only, no signature)."""

    tenant_id = "72f988bf-86f1-41af-91ab-2d7cd011db47"
    object_id = "11059fcc-5514-4800-b5f8-49808b9cfab6"

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        now = int(time.time())
        claims = {
            "aud": "https://storage.azure.com",
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": self.object_id,
            "tid": self.tenant_id,
        }
        header = {"alg": "HS256", "typ": "JWT"}
        token = ".".join(_b64url(json.dumps(part).encode()) for part in (header, claims)) + ".c2ln"
        return AccessToken(token, now + 3600)


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string for a fresh in-memory Azurite blob service, shared by the whole session."""
    workdir = tmp_path_factory.mktemp("azurite")
    with _running_azurite(workdir, []) as port:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{LOOPBACK}:{port}/{ACCOUNT};"
        )


@pytest.fixture(scope="session")
def azurite_queue_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A connection string for a fresh in-memory Azurite queue service, shared by the whole session."""
    workdir = tmp_path_factory.mktemp("azurite-queue")
    with _running_azurite(workdir, [], service="queue") as port:
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"QueueEndpoint=http://{LOOPBACK}:{port}/{ACCOUNT};"
        )


@pytest.fixture(scope="session")
def azurite_oauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteOAuth]:
    """An Azurite blob service over HTTPS that accepts FakeEntraCredential's bearer tokens."""
    workdir = tmp_path_factory.mktemp("azurite-oauth")
    cert, key = _self_signed_certificate(workdir)
    args = ["--oauth", "basic", "--cert", str(cert), "--key", str(key)]
    with _running_azurite(workdir, args) as port:
        yield AzuriteOAuth(f"https://{LOOPBACK}:{port}/{ACCOUNT}", cert)


@contextmanager
def _running_azurite(workdir: Path, extra_args: list[str], service: str = "blob") -> Iterator[int]:
    """Starts azurite-<service> on a free port in its own process group, yields the port, kills the group."""
    binary = AZURITE_BIN.with_name(f"azurite-{service}")
    if shutil.which("node") is None or not binary.exists():
        pytest.skip("Azurite is not installed (needs node and tools/azurite/node_modules); run ./dev setup")
    port = _free_port()
    args = [str(binary), f"--{service}Host", LOOPBACK, f"--{service}Port", str(port), "--loose"]
    args += ["--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence", "--silent"]
    log = workdir / "azurite.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args + extra_args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_port(process, port, log)
        yield port
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Azurite exited with code {process.returncode} on start; see {log}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"Azurite did not listen on port {port} within {START_TIMEOUT_S:.0f} s; see {log}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, valid for a day, and its key, as PEM files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
