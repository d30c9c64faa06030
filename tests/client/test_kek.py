"""The Key Vault provider goes through azure-keyvault-keys' CryptographyClient (wrap_key,
unwrap_key, RSA-OAEP-256). Without a vault here, the SDK's own local implementation of the
same client (``CryptographyClient.from_jwk``) does the RSA work; what wraps there unwraps with
the local provider and back, so both speak the same algorithm."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from azure.keyvault.keys import JsonWebKey
from azure.keyvault.keys.crypto import CryptographyClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mapperdb.client.kek import KeyRef, KeyVaultKeks, LocalKeks
from mapperdb.errors import ConfigError
from tests.client.conftest import KEK_URI


def _int(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def sdk_client(keks: LocalKeks) -> KeyVaultKeks:
    def factory(kek_key_id: str) -> CryptographyClient:
        ref = KeyRef.parse(kek_key_id)
        pem = (keks.directory / ref.name / f"{ref.version}.pem").read_bytes()
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        n = key.private_numbers()
        jwk = JsonWebKey(
            kid=kek_key_id, kty="RSA", key_ops=["wrapKey", "unwrapKey"],
            n=_int(n.public_numbers.n), e=_int(n.public_numbers.e), d=_int(n.d),
            p=_int(n.p), q=_int(n.q), dp=_int(n.dmp1), dq=_int(n.dmq1), qi=_int(n.iqmp),
        )  # fmt: skip
        return CryptographyClient.from_jwk(jwk)

    return KeyVaultKeks(credential=None, client_factory=factory)


def test_key_vault_provider_and_local_provider_interoperate(tmp_path: Path) -> None:
    local = LocalKeks(tmp_path, key_size=2048)
    versioned = local.current(KEK_URI)  # creates the first version
    vault = sdk_client(local)
    data_key = os.urandom(32)
    wrapped = vault.wrap(versioned, data_key)
    assert (wrapped.kek_key_id, wrapped.algorithm) == (versioned, "RSA-OAEP-256")
    assert local.unwrap(wrapped.kek_key_id, wrapped.wrapped_key) == data_key
    back = local.wrap(KEK_URI, data_key)
    assert vault.unwrap(back.kek_key_id, back.wrapped_key) == data_key


def test_local_provider_versions_and_errors(tmp_path: Path) -> None:
    local = LocalKeks(tmp_path, key_size=2048)
    first = local.current(KEK_URI)
    assert local.current(KEK_URI) == first
    second = local.rotate(KEK_URI)
    assert second != first and local.current(KEK_URI) == second
    assert local.current(first) == first, "a versioned id names that version"
    with pytest.raises(ConfigError, match="not a Key Vault key id"):
        local.current("https://example.com/keys/x")
    with pytest.raises(ConfigError, match="not found"):
        local.unwrap(KEK_URI + "/" + "0" * 32, b"x" * 256)
