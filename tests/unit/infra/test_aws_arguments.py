"""`make provision-queues` (and every SQS client of the suite) against real AWS: with no
SQS_ENDPOINT_URL the client goes to the region's public endpoint and, unless access keys are
set, takes its credentials from the default chain (here a shared credentials file, in
production the pod's identity) instead of the local server's placeholder keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import Settings
from shared.messaging.sqs import session_arguments, sqs_client

AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\naws_access_key_id = AKIACHAIN\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    return monkeypatch


async def client_identity(settings: Settings) -> tuple[str, str]:
    async with sqs_client(settings) as client:
        credentials = await client._get_credentials().get_frozen_credentials()
        return client.meta.endpoint_url, credentials.access_key


async def test_without_an_endpoint_the_region_endpoint_and_the_credential_chain_apply(
    aws_environment: pytest.MonkeyPatch,
) -> None:
    aws_environment.setenv("SQS_ENDPOINT_URL", "")
    settings = Settings(_env_file=None)
    assert session_arguments(settings) == {"region_name": "eu-west-1"}
    endpoint, key = await client_identity(settings)
    assert endpoint == "https://sqs.eu-west-1.amazonaws.com"
    assert key == "AKIACHAIN"


async def test_keys_set_for_real_aws_are_used(aws_environment: pytest.MonkeyPatch) -> None:
    aws_environment.setenv("SQS_ENDPOINT_URL", "")
    aws_environment.setenv("AWS_ACCESS_KEY_ID", "AKIAGIVEN")
    aws_environment.setenv("AWS_SECRET_ACCESS_KEY", "given")
    settings = Settings(_env_file=None)
    assert session_arguments(settings)["aws_access_key_id"] == "AKIAGIVEN"
    assert (await client_identity(settings))[1] == "AKIAGIVEN"


async def test_the_local_server_gets_its_endpoint_and_placeholder_keys(
    aws_environment: pytest.MonkeyPatch,
) -> None:
    aws_environment.setenv("SQS_ENDPOINT_URL", "http://127.0.0.1:4566")
    settings = Settings(_env_file=None)
    endpoint, key = await client_identity(settings)
    assert endpoint == "http://127.0.0.1:4566"
    assert key == settings.aws_access_key_id == "test"
