import assert from "node:assert/strict";
import { test } from "node:test";

import { FakeServer, FakeStorage, SERVER, advance, fakeTab, settle, useFakeTime } from "./fakes.mjs";

test("events tracked offline survive a reload and are sent once back online", async (t) => {
  useFakeTime(t);
  const storage = new FakeStorage();
  const server = new FakeServer();
  const before = fakeTab({ storage, server, online: false });
  before.packedge.init("pk_test", { endpoint: SERVER });
  before.packedge.track("offline_1");
  before.packedge.track("offline_2");
  await advance(60000);
  assert.equal(server.requests.length, 0);
  before.fire("pagehide"); // offline: nothing is beaconed, the events stay queued
  assert.deepEqual(before.beacons, []);

  // The reload: a new page with the same localStorage, still offline. It claims the queue
  // the gone page left, and adopts it a moment later.
  const after = fakeTab({ storage, server, online: false });
  await advance(500);
  assert.equal(after.packedge.stats().queued, 2);
  assert.equal(storage.queues().length, 1);
  await advance(60000);
  assert.equal(server.requests.length, 0);

  after.goOnline();
  await settle();
  assert.deepEqual(
    server.sentEvents.map((e) => e.event),
    ["offline_1", "offline_2"],
  );
  assert.equal(after.packedge.stats().queued, 0);
});

test("the queue keeps the newest events when it is over its event count, and counts the dropped", async (t) => {
  useFakeTime(t);
  const tab = fakeTab({ online: false });
  tab.packedge.init("pk_test", { endpoint: SERVER, maxQueueEvents: 3 });
  for (const name of ["e1", "e2", "e3", "e4", "e5"]) {
    assert.equal(tab.packedge.track(name), true);
  }
  assert.deepEqual(tab.packedge.stats(), { queued: 3, dropped: 2, rejected: 0 });
  tab.goOnline();
  await settle();
  assert.deepEqual(
    tab.server.sentEvents.map((e) => e.event),
    ["e3", "e4", "e5"],
  );
});

test("the queue keeps under its byte bound by dropping the oldest events", async (t) => {
  useFakeTime(t);
  const tab = fakeTab({ online: false });
  tab.packedge.init("pk_test", { endpoint: SERVER, maxQueueBytes: 3000 });
  for (let i = 0; i < 6; i++) {
    tab.packedge.track(`big_${i}`, { text: "x".repeat(900) });
  }
  await settle(); // the queue is written once the tracking task is done
  const [stored] = tab.storage.queues();
  // Each entry is about 1,100 characters of JSON: two fit in 3,000, not three.
  assert.ok(JSON.stringify(stored.q).length <= 3000);
  assert.deepEqual(tab.packedge.stats(), { queued: 2, dropped: 4, rejected: 0 });
  assert.deepEqual(
    stored.q.map((entry) => entry.e.event),
    ["big_4", "big_5"],
  );
});

test("a full localStorage costs the oldest events, not an exception", async (t) => {
  useFakeTime(t);
  const storage = new FakeStorage();
  storage.setItem("host-page-data", "y".repeat(2000)); // the host page's own data
  storage.maxChars = 5000;
  const tab = fakeTab({ storage, online: false });
  tab.packedge.init("pk_test", { endpoint: SERVER });
  for (let i = 0; i < 20; i++) {
    assert.equal(tab.packedge.track(`event_${i}`, { text: "x".repeat(200) }), true);
    await settle();
  }
  const { queued, dropped } = tab.packedge.stats();
  assert.ok(queued > 0 && dropped > 0, JSON.stringify({ queued, dropped }));
  assert.equal(storage.getItem("host-page-data").length, 2000);
  const names = storage.queues()[0].q.map((entry) => entry.e.event);
  assert.equal(names.at(-1), "event_19");
});

test("without localStorage the queue lives in memory", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  const throwing = {
    getItem() {
      throw new Error("SecurityError");
    },
    setItem() {
      throw new Error("SecurityError");
    },
  };
  Object.defineProperty(tab.root, "localStorage", { get: () => throwing });
  const { createPackedge } = await import("../src/core.js");
  const packedge = createPackedge(tab.root);
  packedge.init("pk_test", { endpoint: SERVER });
  assert.equal(packedge.track("in_memory"), true);
  assert.equal(packedge.stats().queued, 1);
  await advance(2000);
  assert.deepEqual(
    tab.server.sentEvents.map((e) => e.event),
    ["in_memory"],
  );
});
