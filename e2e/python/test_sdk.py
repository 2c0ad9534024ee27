"""End-to-end tests of s2-lite with the official Python SDK (`s2-sdk`).

The SDK speaks HTTP/2 with prior knowledge (h2c) for every call: the control
plane and unary calls as ordinary HTTP/2 requests, and append/read sessions as
S2S framed streams.
"""

import asyncio
import time

import pytest
from conftest import make_client, unique_basin
from s2_sdk import (
    AppendInput,
    CommandRecord,
    Compression,
    EnsureStatus,
    FencingTokenMismatchError,
    ReadLimit,
    ReadUnwrittenError,
    Record,
    SeqNum,
    SeqNumMismatchError,
    StreamConfig,
    TailOffset,
    Timestamp,
    Timestamping,
    TimestampingMode,
)


def records(*bodies: bytes, headers=None) -> list[Record]:
    return [Record(body=b, headers=list(headers or [])) for b in bodies]


async def collect(session, n: int, timeout: float = 15.0) -> list:
    """The first `n` records of a read session (heartbeats are skipped)."""

    async def run():
        got = []
        async for batch in session:
            got.extend(batch.records)
            if len(got) >= n:
                break
        return got

    return await asyncio.wait_for(run(), timeout)


async def drain(session, timeout: float = 15.0) -> list:
    """Every record until the session ends by itself."""

    async def run():
        got = []
        async for batch in session:
            got.extend(batch.records)
        return got

    return await asyncio.wait_for(run(), timeout)


async def test_control_plane(s2):
    name = unique_basin("cp")
    info = await s2.create_basin(name)
    assert info.name == name
    try:
        page = await s2.list_basins(prefix=name)
        assert [b.name for b in page.items] == [name]
        assert not page.has_more

        basin = s2.basin(name)
        created = await basin.create_stream("orders/eu")
        assert created.name == "orders/eu"
        assert created.deleted_at is None
        await basin.create_stream("orders/us", config=StreamConfig(retention_policy=3600))

        streams = await basin.list_streams(prefix="orders/")
        assert [s.name for s in streams.items] == ["orders/eu", "orders/us"]
        assert [s.name async for s in basin.list_all_streams()] == ["orders/eu", "orders/us"]

        config = await basin.get_stream_config("orders/us")
        assert config.retention_policy == 3600

        ensured = await basin.ensure_stream("orders/eu")
        assert ensured.status == EnsureStatus.CONFIG_UNCHANGED

        await basin.delete_stream("orders/us")
        tail = await basin.stream("orders/eu").check_tail()
        assert (tail.seq_num, tail.timestamp) == (0, 0)
    finally:
        await s2.delete_basin(name)


async def test_unary_append_and_read(basin):
    stream = basin.stream("unary")
    ack = await stream.append(AppendInput(records=records(b"one", b"two", b"three")))
    assert (ack.start.seq_num, ack.end.seq_num, ack.tail.seq_num) == (0, 3, 3)

    binary = bytes([0, 1, 2, 250, 255])
    ack = await stream.append(
        AppendInput(records=records(binary, headers=[(b"k", b"\x00\xff"), (b"k", b"v")]))
    )
    assert (ack.start.seq_num, ack.end.seq_num) == (3, 4)

    batch = await stream.read(start=SeqNum(0), limit=ReadLimit(count=10))
    assert [r.seq_num for r in batch.records] == [0, 1, 2, 3]
    assert [r.body for r in batch.records] == [b"one", b"two", b"three", binary]
    assert batch.records[3].headers == [(b"k", b"\x00\xff"), (b"k", b"v")]
    timestamps = [r.timestamp for r in batch.records]
    assert timestamps == sorted(timestamps)

    tail = await stream.check_tail()
    assert tail.seq_num == 4


async def test_stream_config_header_applies_only_when_the_request_creates_the_stream(basin):
    # The SDK sends `stream_config` as the `s2-stream-config` header.
    wanted = StreamConfig(
        retention_policy=600, timestamping=Timestamping(mode=TimestampingMode.ARRIVAL)
    )
    await basin.stream("cfg-append").append(
        AppendInput(records=records(b"a"), stream_config=wanted)
    )
    async with basin.stream("cfg-session").append_session(stream_config=wanted) as session:
        await (await session.submit(AppendInput(records=records(b"a"))))
    for name in ("cfg-append", "cfg-session"):
        config = await basin.get_stream_config(name)
        assert config.retention_policy == 600, name
        assert config.timestamping.mode == TimestampingMode.ARRIVAL, name

    # Ignored once the stream exists.
    await basin.stream("cfg-append").append(
        AppendInput(records=records(b"b"), stream_config=StreamConfig(retention_policy=60))
    )
    assert (await basin.get_stream_config("cfg-append")).retention_policy == 600


async def test_append_conditions_and_unwritten_reads(basin):
    stream = basin.stream("conditions")
    await stream.append(AppendInput(records=records(b"a", b"b")))
    with pytest.raises(SeqNumMismatchError) as e:
        await stream.append(AppendInput(records=records(b"c"), match_seq_num=9))
    assert e.value.expected_seq_num == 2

    await stream.append(AppendInput(records=[CommandRecord.fence("owner-1")]))
    with pytest.raises(FencingTokenMismatchError) as e:
        await stream.append(AppendInput(records=records(b"c"), fencing_token="intruder"))
    assert e.value.expected_fencing_token == "owner-1"

    ack = await stream.append(
        AppendInput(records=records(b"c"), fencing_token="owner-1", match_seq_num=3)
    )
    assert ack.start.seq_num == 3

    with pytest.raises(ReadUnwrittenError) as e:
        await stream.read(start=SeqNum(50))
    assert e.value.tail.seq_num == 4


async def test_append_session_then_bounded_read_session(basin):
    stream = basin.stream("session")
    expected = []
    async with stream.append_session() as session:
        tickets = []
        for i in range(25):
            bodies = [f"batch-{i}-{j}".encode() for j in range(4)]
            expected.extend(bodies)
            tickets.append(await session.submit(AppendInput(records=records(*bodies))))
        acks = [await t for t in tickets]
    for i, ack in enumerate(acks):
        assert (ack.start.seq_num, ack.end.seq_num) == (4 * i, 4 * i + 4)
        assert ack.tail.seq_num >= ack.end.seq_num

    got = await drain(stream.read_session(start=SeqNum(0), limit=ReadLimit(count=100)))
    assert [r.seq_num for r in got] == list(range(100))
    assert [r.body for r in got] == expected

    # A session starting midway with a (strict) bytes bound: each of these
    # records meters 8 + 10 bytes, so 40 bytes hold two of them.
    got = await drain(stream.read_session(start=SeqNum(90), limit=ReadLimit(bytes=40)))
    assert [r.seq_num for r in got] == [90, 91]


async def test_read_session_with_zero_wait_ends_when_caught_up(basin):
    stream = basin.stream("catch-up")
    await stream.append(AppendInput(records=records(b"x", b"y", b"z")))
    got = await drain(stream.read_session(start=SeqNum(0), wait=0))
    assert [r.body for r in got] == [b"x", b"y", b"z"]
    # From the tail too: nothing to read, and it ends instead of failing with
    # 416 ("load the whole state" of a possibly empty stream).
    assert await drain(stream.read_session(start=SeqNum(3), wait=0)) == []
    assert await drain(stream.read_session(start=TailOffset(0), wait=0)) == []


async def test_read_session_with_zero_wait_on_an_empty_stream_ends_at_once(basin):
    await basin.create_stream("empty-catch-up")
    stream = basin.stream("empty-catch-up")
    assert await drain(stream.read_session(start=SeqNum(0), wait=0)) == []


async def test_read_session_follows_while_appending(basin):
    stream = basin.stream("follow")
    await stream.append(AppendInput(records=records(b"before-0", b"before-1")))
    reader = stream.read_session(start=SeqNum(0))
    try:
        reading = asyncio.ensure_future(collect(reader, 2 + 40, timeout=20))
        caught_up = await asyncio.wait_for(reader.caught_up(), 10)
        assert caught_up.seq_num == 2

        async with stream.append_session() as writer:
            for i in range(40):
                if i % 10 == 0:
                    await asyncio.sleep(0.1)
                await writer.submit(AppendInput(records=records(f"live-{i}".encode())))
        got = await reading
    finally:
        await reader.close()
    assert [r.seq_num for r in got] == list(range(42))
    assert [r.body for r in got] == [b"before-0", b"before-1"] + [
        f"live-{i}".encode() for i in range(40)
    ]


async def test_read_session_from_the_tail_sees_new_records(basin):
    stream = basin.stream("from-tail")
    await stream.append(AppendInput(records=records(b"old-0", b"old-1")))
    reader = stream.read_session(start=TailOffset(0), wait=10)
    try:
        reading = asyncio.ensure_future(collect(reader, 2))
        # Append once the reader follows at the tail.
        caught_up = await asyncio.wait_for(reader.caught_up(), 10)
        assert caught_up.seq_num == 2
        await stream.append(AppendInput(records=records(b"new-0", b"new-1")))
        got = await reading
    finally:
        await reader.close()
    assert [(r.seq_num, r.body) for r in got] == [(2, b"new-0"), (3, b"new-1")]


async def test_read_session_by_timestamp_until_and_clamp(basin):
    stream = basin.stream("timestamps")
    # Client timestamps in the past are kept as given (client-prefer).
    base = int(time.time() * 1000) - 60_000
    await stream.append(
        AppendInput(records=[Record(body=f"t{i}".encode(), timestamp=base + 10 * i) for i in range(10)])
    )
    got = await drain(stream.read_session(start=Timestamp(base + 25), until_timestamp=base + 70))
    assert [r.body for r in got] == [b"t3", b"t4", b"t5", b"t6"]
    assert [r.timestamp for r in got] == [base + 30, base + 40, base + 50, base + 60]

    got = await drain(stream.read_session(start=SeqNum(1000), clamp_to_tail=True, wait=1))
    assert got == []
    with pytest.raises(ReadUnwrittenError):
        await drain(stream.read_session(start=SeqNum(1000), wait=1))


async def test_unary_long_poll(basin):
    # A long-poll that was waiting when its record arrived answers with the
    # tail; one that found the record already there answers without it. A
    # round the append won proves nothing and is tried again with a later
    # append: the check is the tail, never the sleep.
    for i, delay in enumerate([0.05, 0.25, 1.0, 3.0]):
        stream = basin.stream(f"long-poll-{i}")
        await stream.append(AppendInput(records=records(b"now")))

        async def append_later():
            await asyncio.sleep(delay)
            await stream.append(AppendInput(records=records(b"later")))

        appending = asyncio.ensure_future(append_later())
        batch = await stream.read(start=SeqNum(1), wait=10)
        await appending
        assert [(r.seq_num, r.body) for r in batch.records] == [(1, b"later")]
        if batch.tail is not None:
            break
    else:
        pytest.fail("the append reached the server before the long-poll in every round")
    assert batch.tail.seq_num == 2

    # Nothing arrives: the long-poll ends empty once its wait is over (not
    # 416, as it would be without a wait), and the tail did not move.
    batch = await stream.read(start=SeqNum(2), wait=1)
    assert batch.records == []
    assert (await stream.check_tail()).seq_num == 2


async def test_append_session_fails_on_fencing_mismatch(basin):
    stream = basin.stream("fenced")
    await stream.append(AppendInput(records=[CommandRecord.fence("owner")]))
    session = stream.append_session()
    ok = await session.submit(AppendInput(records=records(b"mine"), fencing_token="owner"))
    assert (await ok).start.seq_num == 1
    bad = await session.submit(AppendInput(records=records(b"theirs"), fencing_token="other"))
    with pytest.raises(FencingTokenMismatchError):
        await bad
    with pytest.raises(FencingTokenMismatchError):
        await session.close()
    assert (await stream.check_tail()).seq_num == 2


async def test_stream_names_with_reserved_characters(basin):
    names = ["odd/a%2Fb?c#d&e=f+g h", "odd/../ünï"]
    for name in names:
        stream = basin.stream(name)
        async with stream.append_session() as session:
            await (await session.submit(AppendInput(records=records(b"session"))))
        await stream.append(AppendInput(records=records(b"unary")))
        got = await drain(stream.read_session(start=SeqNum(0), limit=ReadLimit(count=2)))
        assert [r.body for r in got] == [b"session", b"unary"]
        assert (await stream.check_tail()).seq_num == 2
    listed = await basin.list_streams(prefix="odd/")
    assert [s.name for s in listed.items] == sorted(names)


async def test_trim_command_is_read_back(basin):
    stream = basin.stream("trim")
    await stream.append(AppendInput(records=records(*[f"r{i}".encode() for i in range(5)])))
    ack = await stream.append(AppendInput(records=[CommandRecord.trim(3)]))
    assert ack.start.seq_num == 5
    batch = await stream.read(start=SeqNum(5), limit=ReadLimit(count=1))
    trim = batch.records[0]
    assert trim.is_command_record()
    assert trim.headers == [(b"", b"trim")]
    assert trim.body == (3).to_bytes(8, "big")


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.ZSTD])
async def test_compressed_sessions_and_unary_calls(compression):
    """Compressed request bodies (HTTP Content-Encoding on unary calls, frame
    compression in sessions) and compressed responses."""
    big = [f"{i}:".encode().ljust(4096, bytes([97 + i])) for i in range(8)]
    name = unique_basin(compression.value)
    async with make_client(compression) as s2:
        await s2.create_basin(name)
        try:
            basin = s2.basin(name)
            await basin.create_stream("big")
            stream = basin.stream("big")
            ack = await stream.append(AppendInput(records=records(*big[:4])))
            assert ack.end.seq_num == 4
            async with stream.append_session() as session:
                tickets = [
                    await session.submit(AppendInput(records=records(body))) for body in big[4:]
                ]
                assert [(await t).start.seq_num for t in tickets] == [4, 5, 6, 7]

            batch = await stream.read(start=SeqNum(0), limit=ReadLimit(count=8))
            assert [r.body for r in batch.records] == big
            got = await drain(stream.read_session(start=SeqNum(0), limit=ReadLimit(count=8)))
            assert [r.body for r in got] == big
        finally:
            await s2.delete_basin(name)


async def test_idle_follower_survives_on_heartbeats(basin):
    """The SDK drops a session after 20 s without a frame; heartbeats must
    keep an idle follower alive."""
    stream = basin.stream("idle")
    await stream.append(AppendInput(records=records(b"first")))
    reader = stream.read_session(start=SeqNum(0))
    try:
        reading = asyncio.ensure_future(collect(reader, 2, timeout=40))
        await asyncio.wait_for(reader.caught_up(), 10)
        await asyncio.sleep(23)
        await stream.append(AppendInput(records=records(b"after the pause")))
        got = await reading
    finally:
        await reader.close()
    assert [r.body for r in got] == [b"first", b"after the pause"]
