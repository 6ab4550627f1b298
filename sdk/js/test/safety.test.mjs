import assert from "node:assert/strict";
import { test } from "node:test";

import { createPackedge, newUuid, serverFromAssetUrl } from "../src/core.js";
import { SERVER, advance, fakeTab, useFakeTime } from "./fakes.mjs";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("bad calls answer false and never throw", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  const circular = {};
  circular.self = circular;
  assert.equal(tab.packedge.track("before_init"), false);
  tab.packedge.init("pk_test", { endpoint: SERVER });
  assert.equal(tab.packedge.track(), false);
  assert.equal(tab.packedge.track(""), false);
  assert.equal(tab.packedge.track(null, "x"), false);
  assert.equal(tab.packedge.track({ event: "x" }), false);
  assert.equal(tab.packedge.track("circular", circular), false);
  assert.equal(tab.packedge.track("too_big", { text: "x".repeat(70000) }), false);
  assert.equal(tab.packedge(undefined).track("x"), false);
  assert.equal(tab.packedge("pk_test", "not options").track("x"), false); // no endpoint known
  assert.equal(tab.packedge.track("fine", ["arrays are not properties"]), true);
  await advance(2000);
  assert.deepEqual(
    tab.server.sentEvents.map((e) => [e.event, e.properties]),
    [["fine", undefined]],
  );
});

test("a browser whose every API throws gets false and no exception", async (t) => {
  useFakeTime(t);
  const hostile = new Proxy(
    {},
    {
      get(target, name) {
        if (name === "setTimeout" || name === "clearTimeout") {
          return (fn, ms) => setTimeout(fn, ms);
        }
        throw new Error(`no ${String(name)} for you`);
      },
    },
  );
  const packedge = createPackedge(hostile);
  packedge.init("pk_test", { endpoint: SERVER });
  assert.equal(typeof packedge.track("x"), "boolean");
  await advance(60000);
  await packedge.flush();
  assert.equal(typeof packedge.stats().queued, "number");
});

test("a fetch that throws at once is retried like a network error", async (t) => {
  useFakeTime(t);
  const tab = fakeTab();
  let calls = 0;
  tab.root.fetch = () => {
    calls++;
    throw new TypeError("fetch is broken");
  };
  tab.packedge.init("pk_test", { endpoint: SERVER, batchSize: 1 });
  assert.equal(tab.packedge.track("x"), true);
  await advance(0);
  await advance(1000);
  assert.equal(calls, 2);
  assert.equal(tab.packedge.stats().queued, 1);
});

test("every event gets a v4 uuid, with or without crypto.randomUUID", () => {
  assert.match(newUuid({ crypto: globalThis.crypto }), UUID_V4);
  const withoutRandomUuid = { crypto: { getRandomValues: (bytes) => globalThis.crypto.getRandomValues(bytes) } };
  assert.match(newUuid(withoutRandomUuid), UUID_V4);
  const ids = new Set(Array.from({ length: 1000 }, () => newUuid({})));
  assert.equal(ids.size, 1000);
  assert.ok([...ids].every((id) => UUID_V4.test(id)));
});

test("only a URL under /static/sdk/ names the server the SDK came from", () => {
  assert.equal(serverFromAssetUrl("https://edge.example.net/static/sdk/packedge.js"), "https://edge.example.net");
  assert.equal(serverFromAssetUrl("http://127.0.0.1:8000/prefix/static/sdk/packedge.mjs"), "http://127.0.0.1:8000/prefix");
  assert.equal(serverFromAssetUrl("https://unpkg.com/@packedge/js-sdk/dist/index.global.js"), "");
  assert.equal(serverFromAssetUrl("file:///app/static/sdk/packedge.mjs"), "");
  assert.equal(serverFromAssetUrl(""), "");
});
