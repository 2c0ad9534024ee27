// End-to-end tests of s2-lite with the official TypeScript SDK
// (@s2-dev/streamstore), run with node's built-in test runner.
//
// In Node the SDK runs sessions over HTTP/2 with prior knowledge ("s2s"
// transport) and unary calls over fetch (HTTP/1.1); `forceTransport: "fetch"`
// switches sessions to SSE reads and unary appends. Both are exercised.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  AppendInput,
  AppendRecord,
  FencingTokenMismatchError,
  RangeNotSatisfiableError,
  SeqNumMismatchError,
} from "@s2-dev/streamstore";

import { basinName, client, drain, sleep, take, within } from "../lib/helpers.js";

const TRANSPORTS = ["fetch", "s2s"];

const s2 = client();
const basin = basinName("main");
const opened = [];

/** A stream handle that is closed after the suite. */
function stream(name, options) {
  const handle = s2.basin(basin).stream(name, options);
  opened.push(handle);
  return handle;
}

function bodies(records) {
  return records.map((r) => r.body);
}

function seqNums(records) {
  return records.map((r) => r.seqNum);
}

function range(start, end) {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

async function appendLines(handle, lines) {
  return handle.append(AppendInput.create(lines.map((body) => AppendRecord.string({ body }))));
}

before(async () => {
  // Streams are created by their first append (or read).
  await s2.basins.create({ basin, config: { createStreamOnAppend: true, createStreamOnRead: true } });
});

after(async () => {
  for (const handle of opened) {
    await handle.close();
  }
  await s2.basins.delete({ basin });
});

describe("control plane", () => {
  test("creates, lists and describes basins and streams", async () => {
    const listed = await s2.basins.list({ prefix: basin });
    assert.deepEqual(
      listed.basins.map((b) => b.name),
      [basin],
    );
    const config = await s2.basins.getConfig({ basin });
    assert.equal(config.createStreamOnAppend, true);
    assert.equal(config.createStreamOnRead, true);

    const streams = s2.basin(basin).streams;
    const created = await streams.create({ stream: "cp/a" });
    assert.equal(created.name, "cp/a");
    await streams.create({ stream: "cp/b", config: { retentionPolicy: { ageSecs: 3600 } } });
    const page = await streams.list({ prefix: "cp/" });
    assert.deepEqual(
      page.streams.map((s) => s.name),
      ["cp/a", "cp/b"],
    );
    assert.equal(page.hasMore, false);
    const streamConfig = await streams.getConfig({ stream: "cp/b" });
    assert.deepEqual(streamConfig.retentionPolicy, { ageSecs: 3600 });

    const ensured = await streams.ensure({ stream: "cp/a" });
    assert.equal(ensured.result, "noop");
    await streams.delete({ stream: "cp/b" });
  });
});

describe("unary append and read", () => {
  test("appends string and binary records and reads them back in order", async () => {
    const handle = stream("unary");
    const first = await appendLines(handle, ["one", "two", "three"]);
    assert.equal(first.start.seqNum, 0);
    assert.equal(first.end.seqNum, 3);
    assert.equal(first.tail.seqNum, 3);

    const binary = new Uint8Array([0, 1, 2, 250, 255]);
    const second = await handle.append(
      AppendInput.create([
        AppendRecord.bytes({ body: binary, headers: [["kind", new Uint8Array([9, 0, 9])]] }),
        AppendRecord.string({ body: "four", headers: [["k", "v"], ["k", "w"]] }),
      ]),
    );
    assert.equal(second.start.seqNum, 3);
    assert.equal(second.end.seqNum, 5);

    const batch = await handle.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 10 } } });
    assert.deepEqual(seqNums(batch.records), [0, 1, 2, 3, 4]);
    assert.deepEqual(bodies(batch.records).slice(0, 3), ["one", "two", "three"]);
    assert.equal(batch.records[4].body, "four");
    assert.deepEqual(batch.records[4].headers, [["k", "v"], ["k", "w"]]);

    const raw = await handle.read({ start: { from: { seqNum: 3 } }, stop: { limits: { count: 1 } } }, { as: "bytes" });
    assert.deepEqual(Array.from(raw.records[0].body), Array.from(binary));
    assert.deepEqual(Array.from(raw.records[0].headers[0][1]), [9, 0, 9]);

    const { tail } = await handle.checkTail();
    assert.equal(tail.seqNum, 5);
    // Timestamps never go backwards along the stream.
    for (let i = 1; i < batch.records.length; i++) {
      assert.ok(batch.records[i].timestamp >= batch.records[i - 1].timestamp);
    }
  });

  test("reports append conditions and reads beyond the tail", async () => {
    const handle = stream("conditions");
    await appendLines(handle, ["a", "b"]);
    await assert.rejects(
      handle.append(AppendInput.create([AppendRecord.string({ body: "c" })], { matchSeqNum: 7 })),
      (e) => e instanceof SeqNumMismatchError && e.expectedSeqNum === 2,
    );
    await handle.append(AppendInput.create([AppendRecord.fence("token-1")]));
    await assert.rejects(
      handle.append(AppendInput.create([AppendRecord.string({ body: "c" })], { fencingToken: "wrong" })),
      (e) => e instanceof FencingTokenMismatchError && e.expectedFencingToken === "token-1",
    );
    const ack = await handle.append(
      AppendInput.create([AppendRecord.string({ body: "c" })], { fencingToken: "token-1", matchSeqNum: 3 }),
    );
    assert.equal(ack.start.seqNum, 3);
    await assert.rejects(
      handle.read({ start: { from: { seqNum: 100 } } }),
      (e) => e instanceof RangeNotSatisfiableError && e.tail?.seqNum === 4,
    );
  });
});

describe("s2-stream-config header", () => {
  // The SDK sends `streamConfig` as the `s2-stream-config` header.
  const wanted = { retentionPolicy: { ageSecs: 600 }, timestamping: { mode: "arrival" } };
  const configOf = (name) => s2.basin(basin).streams.getConfig({ stream: name });

  for (const transport of TRANSPORTS) {
    test(`applies only to a stream the request creates (${transport})`, async () => {
      const unary = stream(`cfg-unary-${transport}`, { forceTransport: transport });
      await unary.append(AppendInput.create([AppendRecord.string({ body: "a" })], { streamConfig: wanted }));
      const session = stream(`cfg-session-${transport}`, { forceTransport: transport });
      const writer = await session.appendSession({ streamConfig: wanted });
      await (await writer.submit(AppendInput.create([AppendRecord.string({ body: "a" })]))).ack();
      await writer.close();
      for (const name of [`cfg-unary-${transport}`, `cfg-session-${transport}`]) {
        const config = await configOf(name);
        assert.deepEqual(config.retentionPolicy, { ageSecs: 600 }, name);
        assert.equal(config.timestamping?.mode, "arrival", name);
      }
      // Ignored once the stream exists.
      await unary.append(
        AppendInput.create([AppendRecord.string({ body: "b" })], { streamConfig: { retentionPolicy: { ageSecs: 60 } } }),
      );
      assert.deepEqual((await configOf(`cfg-unary-${transport}`)).retentionPolicy, { ageSecs: 600 });
    });
  }
});

for (const transport of TRANSPORTS) {
  describe(`sessions over ${transport === "s2s" ? "S2S (HTTP/2)" : "SSE and fetch"}`, () => {
    test("an append session acks pipelined batches in order", async () => {
      const handle = stream(`append-session-${transport}`, { forceTransport: transport });
      const session = await handle.appendSession();
      const tickets = [];
      for (let i = 0; i < 20; i++) {
        const records = [0, 1, 2].map((j) => AppendRecord.string({ body: `batch-${i}-${j}` }));
        tickets.push(await session.submit(AppendInput.create(records)));
      }
      const acks = await Promise.all(tickets.map((t) => t.ack()));
      await session.close();
      acks.forEach((ack, i) => {
        assert.equal(ack.start.seqNum, 3 * i);
        assert.equal(ack.end.seqNum, 3 * i + 3);
        assert.ok(ack.tail.seqNum >= ack.end.seqNum);
      });
      assert.equal(session.lastAckedPosition()?.end.seqNum, 60);

      const read = await handle.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 1000 } } });
      const expected = [];
      for (let i = 0; i < 20; i++) {
        for (let j = 0; j < 3; j++) expected.push(`batch-${i}-${j}`);
      }
      assert.deepEqual(bodies(read.records), expected);
      assert.deepEqual(seqNums(read.records), range(0, 60));
    });

    test("a read session catches up and stops at its count", async () => {
      const handle = stream(`read-bounded-${transport}`, { forceTransport: transport });
      const lines = range(0, 50).map((i) => `line ${i}`);
      await appendLines(handle, lines.slice(0, 25));
      await appendLines(handle, lines.slice(25));
      const session = await handle.readSession({ start: { from: { seqNum: 5 } }, stop: { limits: { count: 40 } } });
      const records = await within(10_000, drain(session), "bounded read session");
      assert.deepEqual(seqNums(records), range(5, 45));
      assert.deepEqual(bodies(records), lines.slice(5, 45));
    });

    test("a read session with wait=0 ends once caught up", async () => {
      const handle = stream(`read-catchup-${transport}`, { forceTransport: transport });
      await appendLines(handle, ["x", "y", "z"]);
      const session = await handle.readSession({ start: { from: { seqNum: 0 } }, stop: { waitSecs: 0 } });
      const records = await within(10_000, drain(session), "catch-up read session");
      assert.deepEqual(bodies(records), ["x", "y", "z"]);
    });

    test("a read session with wait=0 and no bounds ends at once on an empty stream", async () => {
      const handle = stream(`read-empty-${transport}`, { forceTransport: transport });
      // The "load the whole state" pattern: from the start to the end, no
      // waiting (the basin creates the stream on read).
      const session = await handle.readSession({ start: { from: { seqNum: 0 } }, stop: { waitSecs: 0 } });
      const records = await within(10_000, drain(session), "read session of an empty stream");
      assert.deepEqual(records, []);
    });

    test("a read session follows the tail while another session appends", async () => {
      const handle = stream(`follow-${transport}`, { forceTransport: transport });
      await appendLines(handle, ["before-0", "before-1"]);
      const reader = await handle.readSession({ start: { from: { seqNum: 0 } } });
      const total = 2 + 30;
      const collected = within(20_000, take(reader, total), "following read session");

      // Append once the reader follows at the tail, so that the new records
      // arrive live.
      const caughtUp = await within(10_000, reader.caughtUp(), "caught-up signal");
      assert.equal(caughtUp.seqNum, 2);
      const writer = await handle.appendSession();
      for (let i = 0; i < 30; i++) {
        await writer.submit(AppendInput.create([AppendRecord.string({ body: `live-${i}` })]));
      }
      await writer.close();

      const records = await collected;
      assert.deepEqual(seqNums(records), range(0, total));
      assert.deepEqual(bodies(records), ["before-0", "before-1", ...range(0, 30).map((i) => `live-${i}`)]);
      // Live batches carry the tail: after the last one it is the end.
      assert.equal(reader.lastObservedTail()?.seqNum, total);
      await reader.cancel();
    });

    test("a read session from the tail sees only new records", async () => {
      const handle = stream(`from-tail-${transport}`, { forceTransport: transport });
      await appendLines(handle, ["old-0", "old-1", "old-2"]);
      const reader = await handle.readSession({ start: { from: { tailOffset: 0 } }, stop: { waitSecs: 10 } });
      const collected = within(15_000, take(reader, 2), "read session from the tail");
      const caughtUp = await within(10_000, reader.caughtUp(), "caught-up signal");
      assert.equal(caughtUp.seqNum, 3);
      await appendLines(handle, ["new-0", "new-1"]);
      const records = await collected;
      assert.deepEqual(seqNums(records), [3, 4]);
      assert.deepEqual(bodies(records), ["new-0", "new-1"]);
      await reader.cancel();
    });

    test("a read session starts at a timestamp, stops at until, and clamps", async () => {
      const handle = stream(`timestamps-${transport}`, { forceTransport: transport });
      // Client timestamps in the past are kept as given (client-prefer).
      const base = Date.now() - 60_000;
      await handle.append(
        AppendInput.create(range(0, 10).map((i) => AppendRecord.string({ body: `t${i}`, timestamp: base + 10 * i }))),
      );
      const batch = await handle.read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 10 } } });
      assert.deepEqual(
        batch.records.map((r) => r.timestamp.getTime()),
        range(0, 10).map((i) => base + 10 * i),
      );

      const window = await handle.readSession({
        start: { from: { timestamp: base + 25 } },
        stop: { untilTimestamp: base + 70 },
      });
      const inWindow = await within(10_000, drain(window), "timestamp-bounded read session");
      assert.deepEqual(bodies(inWindow), ["t3", "t4", "t5", "t6"]);

      const clamped = await handle.readSession({ start: { from: { seqNum: 1000 }, clamp: true }, stop: { waitSecs: 1 } });
      assert.deepEqual(await within(10_000, drain(clamped), "clamped read session"), []);

      await assert.rejects(
        handle.readSession({ start: { from: { seqNum: 1000 } }, stop: { waitSecs: 1 } }).then(drain),
        (e) => e instanceof RangeNotSatisfiableError || e?.status === 416,
      );
    });

    test("stream names with reserved characters stay one path segment", async () => {
      for (const name of [`odd ${transport}/a%2Fb?c#d&e=f+g`, `odd ${transport}/../ünï`]) {
        const handle = stream(name, { forceTransport: transport });
        const writer = await handle.appendSession();
        await (await writer.submit(AppendInput.create([AppendRecord.string({ body: "session" })]))).ack();
        await writer.close();
        await appendLines(handle, ["unary"]);
        const session = await handle.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } });
        assert.deepEqual(bodies(await within(10_000, drain(session), "read session")), ["session", "unary"]);
        assert.equal((await handle.checkTail()).tail.seqNum, 2);
      }
      const listed = await s2.basin(basin).streams.list({ prefix: `odd ${transport}/` });
      assert.deepEqual(
        listed.streams.map((s) => s.name),
        [`odd ${transport}/../ünï`, `odd ${transport}/a%2Fb?c#d&e=f+g`],
      );
    });

    test("binary records keep their bytes through a read session", async () => {
      const handle = stream(`binary-${transport}`, { forceTransport: transport });
      const payloads = [new Uint8Array([0, 255, 128, 10, 13]), new Uint8Array(2048).map((_, i) => i % 251)];
      await handle.append(
        AppendInput.create(
          payloads.map((body, i) => AppendRecord.bytes({ body, headers: [[`h${i}`, new Uint8Array([i, 0, 255])]] })),
        ),
      );
      const session = await handle.readSession(
        { start: { from: { seqNum: 0 } }, stop: { limits: { count: 2 } } },
        { as: "bytes" },
      );
      const records = await within(10_000, drain(session), "binary read session");
      assert.equal(records.length, 2);
      records.forEach((record, i) => {
        assert.deepEqual(Array.from(record.body), Array.from(payloads[i]));
        assert.deepEqual(new TextDecoder().decode(record.headers[0][0]), `h${i}`);
        assert.deepEqual(Array.from(record.headers[0][1]), [i, 0, 255]);
      });
    });

    test("an append session surfaces a fencing failure", async () => {
      const handle = stream(`fenced-${transport}`, { forceTransport: transport });
      await handle.append(AppendInput.create([AppendRecord.fence("owner")]));
      const session = await handle.appendSession();
      const ok = await session.submit(
        AppendInput.create([AppendRecord.string({ body: "mine" })], { fencingToken: "owner" }),
      );
      assert.equal((await ok.ack()).start.seqNum, 1);
      const bad = await session.submit(
        AppendInput.create([AppendRecord.string({ body: "theirs" })], { fencingToken: "intruder" }),
      );
      await assert.rejects(bad.ack(), (e) => e instanceof FencingTokenMismatchError);
      // Closing reports the same failure, not any error.
      await assert.rejects(session.close(), (e) => e instanceof FencingTokenMismatchError);
      const { tail } = await handle.checkTail();
      assert.equal(tail.seqNum, 2);
    });
  });
}

// The SDK drops a session that hears nothing for 20 s (S2S) / 25 s (SSE);
// the server's heartbeats (S2S empty batches with a tail, SSE `ping`
// events) must keep an idle follower alive. Both transports wait at once.
describe("idle followers", { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    test(`survive on heartbeats over ${transport}`, async () => {
      const handle = stream(`idle-${transport}`, { forceTransport: transport });
      await appendLines(handle, ["first"]);
      const reader = await handle.readSession({ start: { from: { seqNum: 0 } } });
      const collected = within(40_000, take(reader, 2), "idle following read session");
      // Caught up: the heartbeat on switching to follow carries the tail.
      const tail = await within(10_000, reader.caughtUp(), "caught-up signal");
      assert.equal(tail.seqNum, 1);
      await sleep(26_000);
      await appendLines(handle, ["after the pause"]);
      const records = await collected;
      assert.deepEqual(bodies(records), ["first", "after the pause"]);
      await reader.cancel();
    });
  }
});

describe("S2S frame compression", () => {
  for (const compression of ["gzip"]) {
    test(`${compression}-compressed sessions round-trip large records`, async () => {
      const zipped = client({ compression });
      const handle = zipped.basin(basin).stream(`compressed-${compression}`, { forceTransport: "s2s" });
      opened.push(handle);
      const big = (i) => `${i}:`.padEnd(4096, String.fromCharCode(97 + (i % 26)));
      const writer = await handle.appendSession();
      const tickets = [];
      for (let i = 0; i < 10; i++) {
        tickets.push(await writer.submit(AppendInput.create([AppendRecord.string({ body: big(i) })])));
      }
      await Promise.all(tickets.map((t) => t.ack()));
      await writer.close();
      const session = await handle.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 10 } } });
      const records = await within(10_000, drain(session), "compressed read session");
      assert.deepEqual(
        bodies(records),
        range(0, 10).map((i) => big(i)),
      );
    });
  }
});
