import assert from "node:assert/strict";
import { test } from "node:test";

import { SERVER, advance, fakeTab, settle, useFakeTime } from "./fakes.mjs";

test("it waits for the time threshold and then sends the events in one batch", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.packedge.init("pk_test", { endpoint: SERVER, licenseKey: "LIC-1" });
  assert.equal(tab.packedge.track("export_pdf"), true);
  assert.equal(tab.packedge.track("feature_used", { feature: "export", format: "csv" }), true);
  assert.equal(tab.packedge.track("bulk_edit", { rows: 12 }), true);

  await advance(1999);
  assert.equal(tab.server.requests.length, 0);
  await advance(1);

  assert.equal(tab.server.requests.length, 1);
  const [request] = tab.server.requests;
  assert.equal(request.url, "https://packedge.example/public/v1/events");
  assert.equal(request.init.headers["Content-Type"], "text/plain;charset=UTF-8");
  assert.equal(request.init.keepalive, true);
  assert.equal(request.body.public_key, "pk_test");
  const events = request.body.events;
  assert.deepEqual(
    events.map((e) => [e.event, e.properties, e.license_key, e.site, e.timestamp]),
    [
      ["export_pdf", undefined, "LIC-1", "customer.example", "2026-11-30T12:00:00.000Z"],
      ["feature_used", { feature: "export", format: "csv" }, "LIC-1", "customer.example", "2026-11-30T12:00:00.000Z"],
      ["bulk_edit", { rows: 12 }, "LIC-1", "customer.example", "2026-11-30T12:00:00.000Z"],
    ],
  );
  assert.equal(new Set(events.map((e) => e.uuid)).size, 3);
  assert.ok(events.every((e) => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(e.uuid)));
  assert.deepEqual(tab.packedge.stats(), { queued: 0, dropped: 0, rejected: 0 });
});

test("it sends at once when the size threshold is reached", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.packedge.init("pk_test", { endpoint: SERVER, batchSize: 3 });
  tab.packedge.track("a");
  tab.packedge.track("b");
  await advance(0);
  assert.equal(tab.server.requests.length, 0);
  tab.packedge.track("c");
  await advance(0);
  assert.deepEqual(
    tab.server.requests.map((r) => r.body.events.map((e) => e.event)),
    [["a", "b", "c"]],
  );
});

test("it splits a large queue into requests under the event and byte limits", async (t) => {
  useFakeTime(t);
  const tab = fakeTab({ online: false });
  tab.packedge.init("pk_test", { endpoint: SERVER, maxBatchEvents: 4, maxBatchBytes: 2000 });
  for (let i = 0; i < 10; i++) {
    tab.packedge.track(`small_${i}`);
  }
  tab.packedge.track("large", { text: "x".repeat(1500) });
  tab.goOnline();
  await settle();
  // 10 small events by fours (the limit of 4 events), then the large one alone (bytes).
  assert.deepEqual(
    tab.server.requests.map((r) => r.body.events.length),
    [4, 4, 2, 1],
  );
  assert.ok(tab.server.requests.every((r) => r.init.body.length <= 2000));
  assert.equal(tab.server.stored.size, 11);
});

test("events of two public keys and two servers go in separate batches", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.packedge.init("pk_one", { endpoint: SERVER });
  tab.packedge.track("a");
  tab.packedge("pk_two", { endpoint: "https://other.example/base/" }).track("b");
  tab.packedge.track("c");
  await advance(2000);
  assert.deepEqual(
    tab.server.requests.map((r) => [r.url, r.body.public_key, r.body.events.map((e) => e.event)]),
    [
      ["https://packedge.example/public/v1/events", "pk_one", ["a", "c"]],
      ["https://other.example/base/public/v1/events", "pk_two", ["b"]],
    ],
  );
});

test("an endpoint given as an ingestion URL means its server", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.packedge.init("pk_test", { endpoint: "https://packedge.example/public/v1/event" });
  tab.packedge.track("a");
  tab.packedge("pk_test", { endpoint: "/public/v1/events" }).track("b");
  await advance(2000);
  assert.deepEqual(
    tab.server.requests.map((r) => r.url),
    ["https://packedge.example/public/v1/events", "https://customer.example/public/v1/events"],
  );
});
