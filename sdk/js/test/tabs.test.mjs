import assert from "node:assert/strict";
import { test } from "node:test";

import { FakeServer, FakeStorage, SERVER, advance, fakeTab, settle, useFakeTime } from "./fakes.mjs";

function tabs(n, { storage = new FakeStorage(), server = new FakeServer(), online = true } = {}) {
  return Array.from({ length: n }, () => {
    const tab = fakeTab({ storage, server, online });
    tab.packedge.init("pk_test", { endpoint: SERVER });
    return tab;
  });
}

test("tabs of one site each send their own events, each event once", async (t) => {
  useFakeTime(t);
  const [a, b] = tabs(2);
  const server = a.server;
  a.packedge.track("from_a");
  b.packedge.track("from_b");
  await advance(2000);
  await advance(600000); // heartbeats and orphan checks come and go: nothing is sent again
  assert.deepEqual(
    server.requests.map((r) => r.body.events.map((e) => e.event)),
    [["from_a"], ["from_b"]],
  );
  assert.deepEqual(a.storage.queues(), []);
});

test("a page closed offline leaves its queue to the next page, which sends it once", async (t) => {
  useFakeTime(t);
  const storage = new FakeStorage();
  const server = new FakeServer();
  const [closing] = tabs(1, { storage, server, online: false });
  closing.packedge.track("left_behind");
  closing.fire("pagehide");
  assert.equal(storage.queues()[0].t, 0); // marked as left by a gone page

  // Three pages of the site open at once: one claim wins, one page adopts and sends.
  const opened = tabs(3, { storage, server });
  await advance(500);
  await settle();
  assert.deepEqual(
    server.requests.map((r) => r.body.events.map((e) => e.event)),
    [["left_behind"]],
  );
  assert.deepEqual(
    opened.map((tab) => tab.packedge.stats().queued),
    [0, 0, 0],
  );
  assert.deepEqual(storage.queues(), []);
});

test("a live tab's queue is left alone, however long it waits offline", async (t) => {
  useFakeTime(t);
  const storage = new FakeStorage();
  const server = new FakeServer();
  const [waiting] = tabs(1, { storage, server, online: false });
  waiting.packedge.track("mine");
  const [other] = tabs(1, { storage, server });
  await advance(30 * 60000); // its heartbeat goes on every 30 s
  assert.equal(other.packedge.stats().queued, 0);
  assert.equal(waiting.packedge.stats().queued, 1);
  waiting.goOnline();
  await settle();
  assert.deepEqual(server.sentEvents.map((e) => e.event), ["mine"]);
});

test("the queue of a tab that died without a word is adopted after three minutes of silence", async (t) => {
  useFakeTime(t);
  const storage = new FakeStorage();
  const server = new FakeServer();
  // The dying tab's view of localStorage goes dead when it crashes: no pagehide, no heartbeat.
  let crashed = false;
  const view = {
    getItem: (key) => storage.getItem(key),
    setItem: (key, value) => (crashed ? undefined : storage.setItem(key, value)),
    removeItem: (key) => (crashed ? undefined : storage.removeItem(key)),
    key: (index) => storage.key(index),
    get length() {
      return storage.length;
    },
  };
  const dying = fakeTab({ storage: view, server, online: false });
  dying.packedge.init("pk_test", { endpoint: SERVER });
  dying.packedge.track("orphaned");
  await settle();
  crashed = true;
  const [survivor] = tabs(1, { storage, server });
  await advance(179000);
  assert.equal(server.requests.length, 0);
  await advance(31000); // the survivor's next heartbeat sees three minutes of silence
  await advance(500);
  assert.deepEqual(server.sentEvents.map((e) => e.event), ["orphaned"]);
  assert.equal(survivor.packedge.stats().queued, 0);
});

test("leaving the page hands the queue to sendBeacon as a text body", async (t) => {
  useFakeTime(t);
  const [tab] = tabs(1);
  tab.packedge.track("before_leaving", { step: 1 });
  tab.fire("pagehide");
  assert.equal(tab.beacons.length, 1);
  assert.equal(tab.beacons[0].url, "https://packedge.example/public/v1/events");
  assert.deepEqual(
    tab.beacons[0].body.events.map((e) => [e.event, e.properties]),
    [["before_leaving", { step: 1 }]],
  );
  assert.equal(tab.packedge.stats().queued, 0);
  assert.deepEqual(tab.storage.queues(), []);
  await advance(10000);
  assert.equal(tab.server.requests.length, 0); // not sent a second time by fetch
});

test("a tab going to the background beacons too", async (t) => {
  useFakeTime(t);
  const [tab] = tabs(1);
  tab.packedge.track("hidden");
  tab.hide();
  assert.deepEqual(
    tab.beacons.map((b) => b.body.events.map((e) => e.event)),
    [["hidden"]],
  );
});

test("a page that tracks in a loop writes its queue once, when the loop is done", async (t) => {
  useFakeTime(t);
  const [tab] = tabs(1, { online: false });
  let writes = 0;
  const setItem = tab.storage.setItem.bind(tab.storage);
  tab.storage.setItem = (key, value) => {
    writes += key.startsWith("packedge:queue:v1:") ? 1 : 0;
    return setItem(key, value);
  };
  for (let i = 0; i < 100; i++) {
    tab.packedge.track(`loop_${i}`);
  }
  assert.equal(writes, 0);
  assert.equal(tab.packedge.stats().queued, 100);
  await settle();
  assert.equal(writes, 1);
  assert.equal(tab.storage.queues()[0].q.length, 100);
});

test("what sendBeacon refuses stays queued for the next page", async (t) => {
  useFakeTime(t);
  const tab = fakeTab({ beacon: () => false });
  tab.packedge.init("pk_test", { endpoint: SERVER });
  tab.packedge.track("kept");
  tab.fire("pagehide");
  assert.equal(tab.packedge.stats().queued, 1);
  assert.equal(tab.storage.queues()[0].q[0].e.event, "kept");
});

test("an event being sent by fetch is not beaconed again when the page hides", async (t) => {
  useFakeTime(t);
  const [tab] = tabs(1);
  tab.server.hold();
  tab.packedge.track("in_flight");
  await advance(2000);
  tab.packedge.track("not_yet_sent");
  tab.hide();
  assert.deepEqual(
    tab.beacons.map((b) => b.body.events.map((e) => e.event)),
    [["not_yet_sent"]],
  );
  tab.server.release();
  await settle();
  assert.equal(tab.packedge.stats().queued, 0);
});

test("the visibilitychange that follows pagehide does not make a leaving page look alive", async (t) => {
  useFakeTime(t);
  const [tab] = tabs(1, { online: false });
  tab.packedge.track("left_offline");
  tab.fire("pagehide"); // browsers fire pagehide, then visibilitychange to hidden
  tab.hide();
  assert.equal(tab.storage.queues()[0].t, 0);
  tab.fire("pageshow", { persisted: true }); // back from the back/forward cache
  assert.ok(tab.storage.queues()[0].t > 0);
});
