// Streams with a cipher through the official TypeScript SDK: round trips with
// the key (unary and sessions, both ciphers, both session transports), and
// the errors without the key or with another one.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";

import { AppendInput, AppendRecord, S2Error } from "@s2-dev/streamstore";

import { basinName, client, drain, within } from "../lib/helpers.js";

const CIPHERS = ["aegis-256", "aes-256-gcm"];
const TRANSPORTS = ["fetch", "s2s"];
const KEY = randomBytes(32);
const OTHER_KEY = randomBytes(32);

const s2 = client();
const basins = [];
const opened = [];

/** A fresh basin whose new streams get `cipher`. */
async function encryptedBasin(cipher) {
  const basin = basinName("enc");
  await s2.basins.create({ basin, config: { streamCipher: cipher, createStreamOnAppend: true } });
  basins.push(basin);
  return basin;
}

function stream(basin, name, options) {
  const handle = s2.basin(basin).stream(name, options);
  opened.push(handle);
  return handle;
}

function appendLines(handle, lines) {
  return handle.append(AppendInput.create(lines.map((body) => AppendRecord.string({ body }))));
}

function bodies(records) {
  return records.map((r) => r.body);
}

/** Asserts that `promise` rejects with this HTTP status and error code. */
async function rejectsWith(promise, status, code) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof S2Error, `expected an S2Error, got ${e}`);
    assert.equal(e.status, status, `status of ${e.message}`);
    assert.equal(e.code, code, `code of ${e.message}`);
    return true;
  });
}

after(async () => {
  for (const handle of opened) {
    await handle.close();
  }
  for (const basin of basins) {
    await s2.basins.delete({ basin });
  }
});

for (const cipher of CIPHERS) {
  for (const transport of TRANSPORTS) {
    describe(`${cipher} over ${transport}`, () => {
      test("records round-trip with the key, unary and in sessions", async () => {
        const basin = await encryptedBasin(cipher);
        const info = await s2.basin(basin).streams.create({ stream: "s" });
        assert.equal(info.cipher, cipher);
        const handle = stream(basin, "s", { forceTransport: transport, encryptionKey: KEY });

        await appendLines(handle, ["one", "two"]);
        const read = await handle.read({ start: { from: { seqNum: 0 } } });
        assert.deepEqual(bodies(read.records), ["one", "two"]);

        const session = await handle.appendSession();
        const tickets = [];
        for (let i = 0; i < 10; i++) {
          tickets.push(await session.submit(AppendInput.create([AppendRecord.string({ body: `s${i}` })])));
        }
        await Promise.all(tickets.map((t) => t.ack()));
        await session.close();

        const reader = await handle.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 12 } } });
        const records = await within(10_000, drain(reader), "encrypted read session");
        assert.deepEqual(bodies(records), ["one", "two", ...Array.from({ length: 10 }, (_, i) => `s${i}`)]);

        const listed = await s2.basin(basin).streams.list();
        assert.deepEqual(
          listed.streams.map((s) => [s.name, s.cipher]),
          [["s", cipher]],
        );
      });

      test("without the key appends and reads are refused; check-tail needs none", async () => {
        const basin = await encryptedBasin(cipher);
        await appendLines(stream(basin, "s", { forceTransport: transport, encryptionKey: KEY }), ["x"]);
        const keyless = stream(basin, "s", { forceTransport: transport });
        await rejectsWith(appendLines(keyless, ["y"]), 400, "bad_header");
        await rejectsWith(keyless.read({ start: { from: { seqNum: 0 } } }), 400, "bad_header");
        await rejectsWith(
          (async () => drain(await keyless.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 1 } } })))(),
          400,
          "bad_header",
        );
        const tail = await keyless.checkTail();
        assert.equal(tail.tail.seqNum, 1);
      });

      test("another key is decryption_failed", async () => {
        const basin = await encryptedBasin(cipher);
        await appendLines(stream(basin, "s", { forceTransport: transport, encryptionKey: KEY }), ["secret"]);
        const wrong = stream(basin, "s", { forceTransport: transport, encryptionKey: OTHER_KEY });
        await rejectsWith(wrong.read({ start: { from: { seqNum: 0 } } }), 400, "decryption_failed");
        const session = (async () =>
          drain(await wrong.readSession({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 1 } } })))();
        if (transport === "s2s") {
          await rejectsWith(session, 400, "decryption_failed");
        } else {
          // The SDK turns every SSE `error` event into a retryable 503 whose
          // message is the event's data: the server's error body.
          await assert.rejects(session, (e) => {
            assert.ok(e instanceof S2Error, `expected an S2Error, got ${e}`);
            assert.equal(JSON.parse(e.message).code, "decryption_failed");
            return true;
          });
        }
      });
    });
  }
}
