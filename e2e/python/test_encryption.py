"""Streams with a cipher through the official Python SDK: round trips with the
key (unary and sessions, both ciphers), and the errors without it or with
another one."""

import asyncio
import os

import pytest
from conftest import unique_basin
from s2_sdk import (
    AppendInput,
    BasinConfig,
    Encryption,
    ReadLimit,
    Record,
    S2ServerError,
    SeqNum,
)

KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)


@pytest.fixture(params=[Encryption.AEGIS_256, Encryption.AES_256_GCM], ids=["aegis", "aes"])
async def encrypted(s2, request):
    """(basin, cipher): a basin whose new streams get the cipher."""
    name = unique_basin("enc")
    await s2.create_basin(
        name,
        config=BasinConfig(stream_cipher=request.param, create_stream_on_append=True),
    )
    yield s2.basin(name), request.param
    await s2.delete_basin(name, ignore_not_found=True)


def records(*bodies: bytes, headers=None) -> list[Record]:
    return [Record(body=b, headers=list(headers or [])) for b in bodies]


async def drain(session, timeout: float = 15.0) -> list:
    async def run():
        got = []
        async for batch in session:
            got.extend(batch.records)
        return got

    return await asyncio.wait_for(run(), timeout)


async def test_encrypted_round_trip_unary_and_sessions(encrypted):
    basin, cipher = encrypted
    info = await basin.create_stream("s")
    assert info.cipher == cipher
    stream = basin.stream("s", encryption_key=KEY)

    ack = await stream.append(AppendInput(records=records(b"one", b"two", headers=[(b"k", b"v")])))
    assert (ack.start.seq_num, ack.end.seq_num) == (0, 2)
    batch = await stream.read(start=SeqNum(0))
    assert [r.body for r in batch.records] == [b"one", b"two"]
    assert [list(r.headers) for r in batch.records] == [[(b"k", b"v")], [(b"k", b"v")]]

    async with stream.append_session() as session:
        tickets = [
            await session.submit(AppendInput(records=records(f"s{i}".encode()))) for i in range(10)
        ]
        acks = [await t for t in tickets]
    assert acks[-1].end.seq_num == 12

    got = await drain(stream.read_session(start=SeqNum(0), limit=ReadLimit(count=12)))
    assert [r.body for r in got] == [b"one", b"two"] + [f"s{i}".encode() for i in range(10)]

    listed = await basin.list_streams()
    assert [(s.name, s.cipher) for s in listed.items] == [("s", cipher)]


async def test_missing_key_is_refused_and_tail_needs_none(encrypted):
    basin, _ = encrypted
    await basin.stream("s", encryption_key=KEY).append(AppendInput(records=records(b"x")))
    keyless = basin.stream("s")
    with pytest.raises(S2ServerError) as e:
        await keyless.append(AppendInput(records=records(b"y")))
    assert (e.value.status_code, e.value.code) == (400, "bad_header")
    with pytest.raises(S2ServerError) as e:
        await keyless.read(start=SeqNum(0))
    assert (e.value.status_code, e.value.code) == (400, "bad_header")
    with pytest.raises(S2ServerError) as e:
        await drain(keyless.read_session(start=SeqNum(0), limit=ReadLimit(count=1)))
    assert (e.value.status_code, e.value.code) == (400, "bad_header")
    assert (await keyless.check_tail()).seq_num == 1


async def test_wrong_key_is_decryption_failed(encrypted):
    basin, _ = encrypted
    await basin.stream("s", encryption_key=KEY).append(AppendInput(records=records(b"secret")))
    wrong = basin.stream("s", encryption_key=OTHER_KEY)
    with pytest.raises(S2ServerError) as e:
        await wrong.read(start=SeqNum(0))
    assert (e.value.status_code, e.value.code) == (400, "decryption_failed")
    with pytest.raises(S2ServerError) as e:
        await drain(wrong.read_session(start=SeqNum(0), limit=ReadLimit(count=1)))
    assert (e.value.status_code, e.value.code) == (400, "decryption_failed")
