// OpenFeature tracking: createTracking batches client.track() events to POST /ofrep/v1/track.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createTracking } from "../src/core.js";
import { START, advance, settle, useFakeTime } from "./fakes.mjs";

/** The tracking endpoint: stores each id once, as the server does; `answers` consumed one per request. */
function trackServer() {
  const server = {
    requests: [],
    stored: new Map(),
    answers: [],
    async fetch(url, init) {
      const body = JSON.parse(init.body);
      server.requests.push({ url, init, body });
      let answer = server.answers.length ? server.answers.shift() : 200;
      if (answer === "network") {
        throw new TypeError("Failed to fetch");
      }
      if (answer === 200 || answer === "stored-then-network") {
        for (const event of body.events) {
          if (!server.stored.has(event.id)) {
            server.stored.set(event.id, event);
          }
        }
        if (answer === "stored-then-network") {
          throw new TypeError("Failed to fetch");
        }
      }
      const headers = typeof answer === "object" ? answer.headers : {};
      const status = typeof answer === "object" ? answer.status : answer;
      return { status, headers: { get: (name) => headers?.[name] ?? null } };
    },
  };
  return server;
}

function tracker(server, options = {}) {
  const root = { crypto: globalThis.crypto, setTimeout, clearTimeout };
  return createTracking(root, {
    endpoint: "https://packedge.example/ofrep",
    sdkKey: "sdk_live_1",
    fetch: server.fetch,
    random: () => 0.5,
    ...options,
  });
}

test("client.track events go in one batch to /ofrep/v1/track with the SDK key", async (t) => {
  useFakeTime(t);
  const server = trackServer();
  const tracking = tracker(server);
  assert.equal(tracking.track("export_csv", { targetingKey: "u1", licenseKey: "LIC-A", email: "x@y.z" }, { value: 3 }), true);
  assert.equal(tracking.track("bulk_edit", { targetingKey: "user-2" }), true);
  await advance(1999);
  assert.equal(server.requests.length, 0);
  await advance(1);
  assert.equal(server.requests.length, 1);
  const [request] = server.requests;
  assert.equal(request.url, "https://packedge.example/ofrep/v1/track");
  assert.equal(request.init.headers.Authorization, "Bearer sdk_live_1");
  assert.equal(request.init.headers["Content-Type"], "application/json");
  const when = new Date(START).toISOString();
  assert.deepEqual(
    request.body.events.map(({ id, ...rest }) => rest),
    [
      // only the attributes PackEdge attributes by leave the process: no email
      { trackingEventName: "export_csv", timestamp: when, context: { targetingKey: "u1", licenseKey: "LIC-A" }, trackingEventDetails: { value: 3 } },
      { trackingEventName: "bulk_edit", timestamp: when, context: { targetingKey: "user-2" } },
    ],
  );
  assert.equal(new Set(request.body.events.map((e) => e.id)).size, 2);
  assert.deepEqual(tracking.stats(), { queued: 0, sent: 2, dropped: 0, rejected: 0 });
});

test("a lost answer is retried with the same ids, so the server keeps one copy", async (t) => {
  useFakeTime(t);
  const server = trackServer();
  server.answers = ["stored-then-network", { status: 503, headers: { "Retry-After": "5" } }, 200];
  const tracking = tracker(server);
  tracking.track("export_csv", { licenseKey: "LIC-A" });
  await tracking.flush();
  assert.equal(server.requests.length, 1);
  assert.equal(tracking.stats().queued, 1);
  // first retry after backoff: half of 1 s plus half the jitter (random 0.5) = 750 ms
  await advance(749);
  assert.equal(server.requests.length, 1);
  await advance(1);
  assert.equal(server.requests.length, 2);
  // 503 with Retry-After: 5 s
  await advance(4999);
  assert.equal(server.requests.length, 2);
  await advance(1);
  assert.equal(server.requests.length, 3);
  const ids = server.requests.map((r) => r.body.events[0].id);
  assert.equal(new Set(ids).size, 1);
  assert.equal(server.stored.size, 1);
  assert.deepEqual(tracking.stats(), { queued: 0, sent: 1, dropped: 0, rejected: 0 });
});

test("a 400 drops the batch and counts it; later events still go", async (t) => {
  useFakeTime(t);
  const server = trackServer();
  server.answers = [400, 200];
  const tracking = tracker(server);
  tracking.track("a");
  await tracking.flush();
  tracking.track("b");
  await tracking.flush();
  assert.deepEqual(server.requests.map((r) => r.body.events.map((e) => e.trackingEventName)), [["a"], ["b"]]);
  assert.deepEqual(tracking.stats(), { queued: 0, sent: 1, dropped: 0, rejected: 1 });
});

test("the batch size sends at once, in requests of at most maxBatchEvents", async (t) => {
  useFakeTime(t);
  const server = trackServer();
  const tracking = tracker(server, { batchSize: 3, maxBatchEvents: 2 });
  for (const name of ["a", "b", "c"]) {
    tracking.track(name);
  }
  await settle();
  assert.deepEqual(server.requests.map((r) => r.body.events.length), [2]);
  // the one left waits for companions, as any event does
  await advance(2000);
  assert.deepEqual(server.requests.map((r) => r.body.events.length), [2, 1]);
});

test("it refuses what it cannot send, without throwing", (t) => {
  useFakeTime(t);
  const server = trackServer();
  assert.equal(tracker(server, { sdkKey: "" }).track("x"), false);
  assert.equal(tracker(server, { endpoint: "" }).track("x"), false);
  const tracking = tracker(server);
  assert.equal(tracking.track(""), false);
  assert.equal(tracking.track("   "), false);
  assert.equal(tracking.track(42), false);
  const circular = {};
  circular.self = circular;
  assert.equal(tracking.track("x", {}, circular), false);
  assert.equal(tracking.stats().queued, 0);
});

test("provider() gives an OpenFeature provider a track method and keeps its own", async (t) => {
  useFakeTime(t);
  const server = trackServer();
  const tracking = tracker(server);
  const ownCalls = [];
  // The shape OpenFeature's clients call: provider.track(name, evaluationContext, details).
  const ofrepProvider = {
    metadata: { name: "OFREP Web Provider" },
    resolveBooleanEvaluation: () => ({ value: true }),
    track: (...args) => ownCalls.push(args),
  };
  const provider = tracking.provider(ofrepProvider);
  assert.equal(provider, ofrepProvider);
  assert.equal(provider.metadata.name, "OFREP Web Provider");
  provider.track("checkout", { targetingKey: "LIC-9" }, { value: 49.5, plan: "pro" });
  await tracking.flush();
  assert.deepEqual(ownCalls, [["checkout", { targetingKey: "LIC-9" }, { value: 49.5, plan: "pro" }]]);
  const [event] = server.requests[0].body.events;
  assert.equal(event.trackingEventName, "checkout");
  assert.deepEqual(event.context, { targetingKey: "LIC-9" });
  assert.deepEqual(event.trackingEventDetails, { value: 49.5, plan: "pro" });
});

test("the endpoint may be the server, its /ofrep or the track URL itself", async (t) => {
  useFakeTime(t);
  for (const endpoint of ["https://p.example", "https://p.example/", "https://p.example/ofrep/v1", "https://p.example/ofrep/v1/track"]) {
    const server = trackServer();
    const tracking = tracker(server, { endpoint });
    tracking.track("x");
    await tracking.flush();
    assert.equal(server.requests[0].url, "https://p.example/ofrep/v1/track", endpoint);
  }
});
