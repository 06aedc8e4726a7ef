"""The bot's own token: msal against Entra ID, with a secret or a certificate."""

from __future__ import annotations

import asyncio
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import ValidationError

from bots.settings import AppSettings as Settings
from bots.teams.credentials import ManagedIdentityTokenSource, token_source
from core.errors import ConfigurationError
from tests.support.fake_openid import FakeEntra


def teams_settings(**values: object) -> Settings:
    return Settings(_env_file=None, microsoft_app_id="app-1", **values)


async def test_certificate_credential_signs_a_client_assertion_entra_can_verify(
    entra: FakeEntra, tls_files: tuple[Path, Path], tmp_path: Path
):
    cert_path, key_path = tls_files
    pem = tmp_path / "bot.pem"
    pem.write_bytes(key_path.read_bytes() + cert_path.read_bytes())
    source = token_source(
        teams_settings(
            microsoft_app_tenant_id="tenant-9",
            microsoft_app_certificate=pem,
            entra_authority_host=entra.base_url,
        )
    )
    assert source is not None
    token, expires_in = await asyncio.to_thread(source.acquire)
    assert token == entra.issued[-1] and expires_in > 300

    grant = entra.grants[-1]
    assert grant.tenant == "tenant-9" and "client_secret" not in grant.form
    assertion = grant.form["client_assertion"]
    certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    claims = jwt.decode(
        assertion,
        certificate.public_key(),
        algorithms=["RS256", "PS256"],
        options={"verify_aud": False},
    )
    assert claims["iss"] == claims["sub"] == "app-1"
    # The assertion names the certificate by its SHA-1 thumbprint, as Entra ID expects.
    header = jwt.get_unverified_header(assertion)
    assert jwt.utils.base64url_decode(header["x5t"]) == certificate.fingerprint(hashes.SHA1())


def test_half_done_bot_registration_is_refused_at_start():
    # Caught when the settings are read, with the variable to set named.
    with pytest.raises(ValidationError, match="MICROSOFT_APP_TENANT_ID"):
        teams_settings(microsoft_app_password="s")
    with pytest.raises(ValidationError, match="MICROSOFT_APP_PASSWORD"):
        teams_settings(microsoft_app_tenant_id="t")
    # …and by the token source itself, whatever built the settings.
    unchecked = Settings(_env_file=None).model_copy(update={"microsoft_app_id": "app-1"})
    with pytest.raises(ConfigurationError, match="MICROSOFT_APP_TENANT_ID"):
        token_source(unchecked)


def test_managed_identity_needs_no_secret():
    source = token_source(teams_settings(microsoft_app_type="UserAssignedMSI"))
    assert isinstance(source, ManagedIdentityTokenSource)


def test_no_app_id_means_anonymous_local_mode():
    assert token_source(Settings(_env_file=None)) is None
