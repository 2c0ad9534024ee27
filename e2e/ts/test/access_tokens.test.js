// Access tokens with the official TypeScript SDK: issue with each kind of
// scope, list with pagination, revoke, and enforcement (403 outside the
// scope, 401 after revoking). Runs only against a server that enforces
// tokens (e2e/run.sh with E2E_AUTH=1, where S2_ACCESS_TOKEN is the root).

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { AppendInput, AppendRecord } from "@s2-dev/streamstore";

import { basinName, client } from "../lib/helpers.js";

const enforced = process.env.S2_ACCESS_TOKEN && process.env.S2_ACCESS_TOKEN !== "ignored";

describe("access tokens", { skip: enforced ? false : "the server does not enforce access tokens" }, () => {
  const s2 = client();
  const basin = basinName("tok");
  const other = basinName("tok2");
  const run = basin.slice(-8);
  const id = (name) => `ts-${run}-${name}`;

  async function rejects(promise, status, code) {
    await assert.rejects(promise, (e) => {
      assert.equal(e.status, status, `${e.status} ${e.code} ${e.message}`);
      assert.equal(e.code, code);
      return true;
    });
  }

  before(async () => {
    for (const name of [basin, other]) {
      await s2.basins.create({ basin: name });
      await s2.basin(name).streams.create({ stream: "logs/app" });
      await s2
        .basin(name)
        .stream("logs/app")
        .append(AppendInput.create([AppendRecord.string({ body: `hello from ${name}` })]));
    }
  });

  after(async () => {
    await s2.basins.delete({ basin });
    await s2.basins.delete({ basin: other });
  });

  test("issue each kind of scope, list with pagination, revoke", async () => {
    const scopes = {
      exact: { basins: { exact: basin }, streams: { exact: "logs/app" }, ops: ["read"] },
      prefix: { basins: { prefix: "e2e-ts-" }, streams: { prefix: "logs/" }, ops: ["read", "append"] },
      groups: { basins: { prefix: "" }, opGroups: { stream: { read: true } } },
      tokens: { accessTokens: { prefix: id("") }, ops: ["list-access-tokens"] },
    };
    const secrets = {};
    for (const [name, scope] of Object.entries(scopes)) {
      const issued = await s2.accessTokens.issue({ id: id(name), scope, expiresAt: new Date("2099-01-01T00:00:00Z") });
      secrets[name] = issued.accessToken;
      assert.ok(issued.accessToken.length >= 43);
    }
    await rejects(s2.accessTokens.issue({ id: id("exact"), scope: { ops: ["read"] } }), 409, "resource_already_exists");

    const first = await s2.accessTokens.list({ prefix: id(""), limit: 2 });
    assert.deepEqual(first.accessTokens.map((t) => t.id), [id("exact"), id("groups")]);
    assert.equal(first.hasMore, true);
    const rest = await s2.accessTokens.list({ prefix: id(""), startAfter: id("groups") });
    assert.deepEqual(rest.accessTokens.map((t) => t.id), [id("prefix"), id("tokens")]);
    assert.equal(rest.hasMore, false);
    const prefix = rest.accessTokens[0];
    assert.deepEqual(prefix.scope.streams, { prefix: "logs/" });
    assert.deepEqual([...prefix.scope.ops].sort(), ["append", "read"]);
    assert.equal(new Date(prefix.expiresAt).toISOString(), "2099-01-01T00:00:00.000Z");
    assert.ok(!JSON.stringify(rest).includes(secrets.prefix), "a listing shows a secret");

    // A token lists only what its scope covers.
    const lister = client({ accessToken: secrets.tokens });
    const own = await lister.accessTokens.list();
    assert.deepEqual(own.accessTokens.map((t) => t.id), [id("exact"), id("groups"), id("prefix"), id("tokens")]);

    await s2.accessTokens.revoke({ id: id("groups") });
    const all = [];
    for await (const token of s2.accessTokens.listAll({ prefix: id("") })) all.push(token.id);
    assert.deepEqual(all, [id("exact"), id("prefix"), id("tokens")]);
  });

  test("a read-only prefix token reads, is refused elsewhere, and is rejected once revoked", async () => {
    const { accessToken } = await s2.accessTokens.issue({
      id: id("reader"),
      scope: { basins: { exact: basin }, streams: { prefix: "logs/" }, ops: ["read"] },
    });
    const reader = client({ accessToken });
    const batch = await reader
      .basin(basin)
      .stream("logs/app")
      .read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 1 } } });
    assert.equal(batch.records[0].body, `hello from ${basin}`);

    const append = AppendInput.create([AppendRecord.string({ body: "nope" })]);
    await rejects(reader.basin(basin).stream("logs/app").append(append), 403, "permission_denied");
    await rejects(
      reader.basin(other).stream("logs/app").read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 1 } } }),
      403,
      "permission_denied",
    );

    await s2.accessTokens.revoke({ id: id("reader") });
    await rejects(
      reader.basin(basin).stream("logs/app").read({ start: { from: { seqNum: 0 } }, stop: { limits: { count: 1 } } }),
      401,
      "authn",
    );
  });
});
