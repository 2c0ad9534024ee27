// Shared setup for the TypeScript SDK end-to-end tests: a client built from
// the S2_* environment (as e2e/run.sh exports it), unique resource names, and
// small utilities for sessions.

import { randomBytes } from "node:crypto";

import { S2, S2Environment } from "@s2-dev/streamstore";

export function requireEnv() {
  for (const name of ["S2_ACCOUNT_ENDPOINT", "S2_BASIN_ENDPOINT", "S2_ACCESS_TOKEN"]) {
    if (!process.env[name]) {
      throw new Error(`${name} is not set; run the tests through e2e/run.sh`);
    }
  }
}

/** A client of the server under test. */
export function client(options = {}) {
  requireEnv();
  return new S2({
    ...S2Environment.parse(),
    accessToken: process.env.S2_ACCESS_TOKEN,
    // Fail fast: a hung server should fail a test, not stall it.
    retry: { maxAttempts: 1 },
    ...options,
  });
}

/** A fresh basin name (8-48 chars, lowercase letters, digits, hyphens). */
export function basinName(tag) {
  return `e2e-ts-${tag}-${randomBytes(4).toString("hex")}`;
}

/** Rejects if `promise` does not settle within `ms`. */
export function within(ms, promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Collects `n` records from a read session, then stops iterating. */
export async function take(session, n) {
  const records = [];
  if (n === 0) {
    return records;
  }
  for await (const record of session) {
    records.push(record);
    if (records.length >= n) {
      break;
    }
  }
  return records;
}

/** Collects every record until the session ends by itself. */
export async function drain(session) {
  const records = [];
  for await (const record of session) {
    records.push(record);
  }
  return records;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
