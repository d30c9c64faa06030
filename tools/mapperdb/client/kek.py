"""Key-encryption keys (KEKs): wrap and unwrap a tenant's data keys, RSA-OAEP-256.

Two providers with one interface, chosen by configuration, not by code paths:

* :class:`KeyVaultKeks`: Azure Key Vault through azure-keyvault-keys' ``CryptographyClient``
  (``wrap_key``/``unwrap_key``); the key never leaves the vault. The identity needs
  ``wrapKey``, ``unwrapKey`` and ``get`` on the key (infra grants exactly that).
* :class:`LocalKeks`: RSA keys in a local directory, for tests and the sandbox. Same
  algorithm, same key ids (``https://<vault>.vault.azure.net/keys/<name>/<version>``), so the
  rows it writes look exactly like production's.

A KEK is named by the tenant's ``key_vault_key_uri`` (tenant_configs); with a version, that
version is used, without one, the current version.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mapperdb.errors import ConfigError

ALGORITHM = "RSA-OAEP-256"
KEY_URI = re.compile(
    r"^(?P<vault>https://[a-z0-9-]+\.vault\.azure\.net)/keys/(?P<name>[A-Za-z0-9-]+)"
    r"(?:/(?P<version>[0-9a-f]+))?$"
)
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


@dataclass(frozen=True)
class KeyRef:
    vault: str
    name: str
    version: str | None

    @classmethod
    def parse(cls, uri: str) -> KeyRef:
        match = KEY_URI.match(uri)
        if match is None:
            raise ConfigError(f"not a Key Vault key id: {uri!r}")
        return cls(match["vault"], match["name"], match["version"])

    @property
    def unversioned(self) -> str:
        return f"{self.vault}/keys/{self.name}"

    def at(self, version: str) -> str:
        return f"{self.unversioned}/{version}"


@dataclass(frozen=True)
class Wrapped:
    kek_key_id: str  # versioned key id
    algorithm: str
    wrapped_key: bytes


class KekProvider(Protocol):
    def current(self, key_uri: str) -> str:
        """The versioned key id that wraps new data keys (the URI's version, else the newest)."""
        ...

    def wrap(self, key_uri: str, data_key: bytes) -> Wrapped: ...

    def unwrap(self, kek_key_id: str, wrapped_key: bytes) -> bytes: ...


class LocalKeks:
    """RSA-3072 KEKs as PEM files: ``<dir>/<name>/<version>.pem``, the newest is current.

    ``rotate(uri)`` adds a version, as Key Vault's rotation policy does."""

    def __init__(self, directory: Path, *, key_size: int = 3072) -> None:
        self.directory = directory
        self.key_size = key_size
        # Loading a PEM validates the RSA key (hundreds of milliseconds): once per version.
        self._loaded: dict[str, rsa.RSAPrivateKey] = {}

    def _versions(self, ref: KeyRef) -> list[str]:
        """Versions, oldest first (``<name>/versions`` lists them in creation order)."""
        try:
            return (self.directory / ref.name / "versions").read_text().split()
        except FileNotFoundError:
            return []

    def rotate(self, key_uri: str) -> str:
        ref = KeyRef.parse(key_uri)
        folder = self.directory / ref.name
        folder.mkdir(parents=True, exist_ok=True)
        version = secrets.token_hex(16)
        key = rsa.generate_private_key(public_exponent=65537, key_size=self.key_size)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = folder / f"{version}.pem"
        path.touch(mode=0o600)
        path.write_bytes(pem)
        with (folder / "versions").open("a") as fh:
            fh.write(version + "\n")
        return ref.at(version)

    def current(self, key_uri: str) -> str:
        ref = KeyRef.parse(key_uri)
        if ref.version is not None:
            return key_uri
        versions = self._versions(ref)
        if not versions:
            return self.rotate(key_uri)  # first use creates the key, as infra would have
        return ref.at(versions[-1])

    def _key(self, kek_key_id: str) -> rsa.RSAPrivateKey:
        loaded = self._loaded.get(kek_key_id)
        if loaded is not None:
            return loaded
        ref = KeyRef.parse(kek_key_id)
        path = self.directory / ref.name / f"{ref.version}.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise ConfigError(f"local KEK {kek_key_id} not found in {self.directory}") from None
        assert isinstance(key, rsa.RSAPrivateKey)
        self._loaded[kek_key_id] = key
        return key

    def wrap(self, key_uri: str, data_key: bytes) -> Wrapped:
        kek_key_id = self.current(key_uri)
        wrapped = self._key(kek_key_id).public_key().encrypt(data_key, _OAEP)
        return Wrapped(kek_key_id, ALGORITHM, wrapped)

    def unwrap(self, kek_key_id: str, wrapped_key: bytes) -> bytes:
        return self._key(kek_key_id).decrypt(wrapped_key, _OAEP)


class KeyVaultKeks:
    """Azure Key Vault: the KEK stays in the vault (HSM-backed for Premium), only wrap and
    unwrap calls cross the network."""

    def __init__(
        self, credential: Any, *, client_factory: Callable[[str], Any] | None = None
    ) -> None:
        """``client_factory(kek_key_id)`` makes the ``CryptographyClient`` of a key version
        (default: a remote client with ``credential``)."""
        self._credential = credential
        self._factory = client_factory
        self._clients: dict[str, Any] = {}

    def _crypto(self, kek_key_id: str) -> Any:
        client = self._clients.get(kek_key_id)
        if client is None:
            if self._factory is not None:
                client = self._factory(kek_key_id)
            else:
                from azure.keyvault.keys.crypto import CryptographyClient

                client = CryptographyClient(kek_key_id, self._credential)
            self._clients[kek_key_id] = client
        return client

    def current(self, key_uri: str) -> str:
        ref = KeyRef.parse(key_uri)
        if ref.version is not None:
            return key_uri
        from azure.keyvault.keys import KeyClient

        key = KeyClient(ref.vault, self._credential).get_key(ref.name)
        return ref.at(str(key.properties.version))

    def wrap(self, key_uri: str, data_key: bytes) -> Wrapped:
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        kek_key_id = self.current(key_uri)
        result = self._crypto(kek_key_id).wrap_key(KeyWrapAlgorithm.rsa_oaep_256, data_key)
        return Wrapped(kek_key_id, ALGORITHM, bytes(result.encrypted_key))

    def unwrap(self, kek_key_id: str, wrapped_key: bytes) -> bytes:
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        result = self._crypto(kek_key_id).unwrap_key(KeyWrapAlgorithm.rsa_oaep_256, wrapped_key)
        return bytes(result.key)
