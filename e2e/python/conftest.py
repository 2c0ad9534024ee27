"""Fixtures for the Python SDK end-to-end tests: a client of the server that
e2e/run.sh started (from the S2_* environment) and a fresh basin per test."""

import os
import secrets
from datetime import timedelta

import pytest
from s2_sdk import S2, BasinConfig, Compression, Endpoints, Retry, Timeout


def _require_env() -> None:
    missing = [
        name
        for name in ("S2_ACCOUNT_ENDPOINT", "S2_BASIN_ENDPOINT", "S2_ACCESS_TOKEN")
        if not os.environ.get(name)
    ]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set; run the tests through e2e/run.sh")


def make_client(compression: Compression = Compression.NONE) -> S2:
    _require_env()
    return S2(
        os.environ["S2_ACCESS_TOKEN"],
        endpoints=Endpoints.from_env(),
        # A failing server should fail the test, not be retried around.
        retry=Retry(max_attempts=1),
        timeout=Timeout(request=timedelta(seconds=10)),
        compression=compression,
    )


def unique_basin(tag: str) -> str:
    return f"e2e-py-{tag}-{secrets.token_hex(4)}"


@pytest.fixture
async def s2():
    async with make_client() as client:
        yield client


@pytest.fixture
async def basin(s2):
    """A basin whose streams are created by their first append or read."""
    name = unique_basin("b")
    await s2.create_basin(
        name,
        config=BasinConfig(create_stream_on_append=True, create_stream_on_read=True),
    )
    yield s2.basin(name)
    await s2.delete_basin(name, ignore_not_found=True)
