import assert from "node:assert/strict";
import { mock, test } from "node:test";

import { backoffMs, DEFAULTS, retryAfterMs } from "../src/core.js";
import { SERVER, START, advance, fakeTab, useFakeTime } from "./fakes.mjs";

function tabWithOneEvent(answers) {
  const tab = fakeTab();
  tab.server.answers = answers;
  tab.packedge.init("pk_test", { endpoint: SERVER, batchSize: 1 });
  tab.packedge.track("export_pdf");
  return tab;
}

test("network errors are retried with exponential backoff", async (t) => {
  useFakeTime(t);
  mock.method(Math, "random", () => 0); // no jitter: half of each capped delay
  t.after(() => mock.restoreAll());
  const tab = tabWithOneEvent(["network", "network", "network", 200]);
  await advance(0);
  assert.equal(tab.server.requests.length, 1);
  // Delays 500, 1000, 2000 ms: base 1 s doubling, halved by the jitter's lower end.
  for (const [delay, expected] of [
    [499, 1],
    [1, 2],
    [999, 2],
    [1, 3],
    [1999, 3],
    [1, 4],
  ]) {
    await advance(delay);
    assert.equal(tab.server.requests.length, expected);
  }
  assert.equal(tab.server.stored.size, 1);
  assert.equal(tab.packedge.stats().queued, 0);
  await advance(600000);
  assert.equal(tab.server.requests.length, 4);
});

test("the jitter spreads a delay between half and all of the capped backoff", () => {
  const settings = { ...DEFAULTS };
  assert.equal(backoffMs(1, settings, () => 0), 500);
  assert.equal(backoffMs(1, settings, () => 0.999999), 1000);
  assert.equal(backoffMs(3, settings, () => 0.5), 3000); // cap 4 s: 2 s + 0.5 × 2 s
  assert.equal(backoffMs(30, settings, () => 1), 60000); // never over retryMaxDelay
});

test("a 429 is retried after exactly its Retry-After seconds", async (t) => {
  useFakeTime(t);
  const tab = tabWithOneEvent([{ status: 429, headers: { "Retry-After": "7" } }, 200]);
  await advance(0);
  await advance(6999);
  assert.equal(tab.server.requests.length, 1);
  await advance(1);
  assert.equal(tab.server.requests.length, 2);
  assert.equal(tab.server.stored.size, 1);
});

test("a 503 with an HTTP-date Retry-After waits until that date", async (t) => {
  useFakeTime(t);
  const date = new Date(START + 30000).toUTCString();
  const tab = tabWithOneEvent([{ status: 503, headers: { "Retry-After": date } }, 200]);
  await advance(0);
  await advance(29999);
  assert.equal(tab.server.requests.length, 1);
  await advance(1);
  assert.equal(tab.server.requests.length, 2);
});

test("a Retry-After told to one tab holds back the other tabs too", async (t) => {
  useFakeTime(t);
  const first = tabWithOneEvent([{ status: 429, headers: { "Retry-After": "10" } }, 200, 200]);
  await advance(0);
  const second = fakeTab({ storage: first.storage, server: first.server });
  second.packedge.init("pk_test", { endpoint: SERVER, batchSize: 1 });
  second.packedge.track("from_second_tab");
  await advance(9999);
  assert.equal(first.server.requests.length, 1);
  await advance(1);
  assert.deepEqual(
    first.server.sentEvents.map((e) => e.event),
    ["export_pdf", "export_pdf", "from_second_tab"],
  );
});

test("a retry after a lost answer sends the same uuids, so the server counts the event once", async (t) => {
  useFakeTime(t);
  mock.method(Math, "random", () => 0);
  t.after(() => mock.restoreAll());
  const tab = tabWithOneEvent(["stored-then-network", 200]);
  await advance(0);
  await advance(500);
  const [first, second] = tab.server.requests.map((r) => r.body.events.map((e) => e.uuid));
  assert.deepEqual(first, second);
  assert.equal(tab.server.stored.size, 1);
});

test("another 4xx drops the batch without a retry and counts it as rejected", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.server.answers = [{ status: 401, body: { error: { code: "invalid_public_key", message: "public_key: unknown" } } }];
  tab.packedge.init("pk_unknown", { endpoint: SERVER });
  tab.packedge.track("a");
  tab.packedge.track("b");
  await advance(2000);
  await advance(600000);
  assert.equal(tab.server.requests.length, 1);
  assert.deepEqual(tab.packedge.stats(), { queued: 0, dropped: 0, rejected: 2 });
});

test("a 400 naming one event drops that event and sends the others", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.server.answers = [
    { status: 400, body: { error: { code: "invalid", message: "events[1].timestamp: older than 366 days." } } },
    200,
  ];
  tab.packedge.init("pk_test", { endpoint: SERVER });
  for (const name of ["a", "b", "c"]) {
    tab.packedge.track(name);
  }
  await advance(2000);
  assert.deepEqual(
    tab.server.requests.map((r) => r.body.events.map((e) => e.event)),
    [
      ["a", "b", "c"],
      ["a", "c"],
    ],
  );
  assert.deepEqual(tab.packedge.stats(), { queued: 0, dropped: 0, rejected: 1 });
});

test("a Retry-After of 0 still waits a second", async (t) => {
  useFakeTime(t);
  const tab = tabWithOneEvent([{ status: 503, headers: { "Retry-After": "0" } }, 200]);
  await advance(0);
  await advance(999);
  assert.equal(tab.server.requests.length, 1);
  await advance(1);
  assert.equal(tab.server.requests.length, 2);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(retryAfterMs("5", START), 5000);
  assert.equal(retryAfterMs("0", START), 0);
  assert.equal(retryAfterMs(new Date(START + 12000).toUTCString(), START), 12000);
  assert.equal(retryAfterMs(new Date(START - 12000).toUTCString(), START), 0);
  assert.equal(retryAfterMs(null, START), null);
  assert.equal(retryAfterMs("soon", START), null);
});
