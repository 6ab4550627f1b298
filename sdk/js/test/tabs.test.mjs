import assert from "node:assert/strict";
import { test } from "node:test";

import { FakeServer, FakeStorage, SERVER, advance, fakeTab, settle, useFakeTime } from "./fakes.mjs";

function twoTabs() {
  const storage = new FakeStorage();
  const server = new FakeServer();
  const a = fakeTab({ storage, server });
  const b = fakeTab({ storage, server });
  a.packedge.init("pk_test", { endpoint: SERVER });
  b.packedge.init("pk_test", { endpoint: SERVER });
  return { a, b, server };
}

test("two tabs sharing one queue send each event once, in one request", async (t) => {
  useFakeTime(t);
  const { a, b, server } = twoTabs();
  server.hold(); // keep the first request open while the other tab's timer fires
  a.packedge.track("from_a");
  b.packedge.track("from_b");
  await advance(2000);
  await advance(3000);
  assert.equal(server.requests.length, 1);
  server.release();
  await settle();
  await advance(30000);
  assert.equal(server.requests.length, 1);
  assert.deepEqual(
    server.sentEvents.map((e) => e.event),
    ["from_a", "from_b"],
  );
  assert.equal(a.packedge.stats().queued, 0);
});

test("when the tab holding the lease goes silent, another takes over and the server counts each event once", async (t) => {
  useFakeTime(t);
  const { a, b, server } = twoTabs();
  server.hold(); // tab a's request hangs (a frozen tab, a dead connection)
  a.packedge.track("stuck");
  await advance(2000);
  assert.equal(server.requests.length, 1);
  b.packedge.track("later");
  // a aborts its request after 10 s; its lease runs out after 15 s, then b sends everything.
  await advance(20000);
  server.pending = null;
  await advance(20000);
  const names = server.requests.map((r) => r.body.events.map((e) => e.event));
  assert.deepEqual(names[0], ["stuck"]);
  assert.deepEqual(names.at(-1).sort(), ["later", "stuck"]);
  assert.equal(server.stored.size, 2);
  assert.equal(b.packedge.stats().queued, 0);
});

test("leaving the page hands the queue to sendBeacon as a text body", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.packedge.init("pk_test", { endpoint: SERVER });
  tab.packedge.track("before_leaving", { step: 1 });
  tab.fire("pagehide");
  assert.equal(tab.beacons.length, 1);
  assert.equal(tab.beacons[0].url, "https://packedge.example/public/v1/events");
  assert.deepEqual(
    tab.beacons[0].body.events.map((e) => [e.event, e.properties]),
    [["before_leaving", { step: 1 }]],
  );
  assert.equal(tab.packedge.stats().queued, 0);
  await advance(10000);
  assert.equal(tab.server.requests.length, 0); // not sent a second time by fetch
});

test("a tab going to the background beacons too", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  tab.packedge.init("pk_test", { endpoint: SERVER });
  tab.packedge.track("hidden");
  tab.hide();
  assert.deepEqual(
    tab.beacons.map((b) => b.body.events.map((e) => e.event)),
    [["hidden"]],
  );
});

test("what sendBeacon refuses stays queued for the next page", async (t) => {
  useFakeTime(t);
  const tab = fakeTab({ beacon: () => false });
  tab.packedge.init("pk_test", { endpoint: SERVER });
  tab.packedge.track("kept");
  tab.fire("pagehide");
  assert.equal(tab.packedge.stats().queued, 1);
});

test("a hidden tab leaves the sending to the tab holding the lease", async (t) => {
  useFakeTime(t);
  const { a, b, server } = twoTabs();
  server.hold();
  a.packedge.track("first");
  await advance(2000); // a holds the lease, its request open
  b.packedge.track("second");
  b.fire("pagehide");
  assert.deepEqual(b.beacons, []);
  server.release();
  await settle();
  await advance(2000);
  assert.deepEqual(
    server.sentEvents.map((e) => e.event),
    ["first", "second"],
  );
});
