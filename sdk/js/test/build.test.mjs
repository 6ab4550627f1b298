// The built files (`npm test` builds first): the <script> build in a fresh global scope,
// the ES module build, and the declarations against what the module exports.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import vm from "node:vm";

import { FakeServer, FakeStorage, advance, useFakeTime } from "./fakes.mjs";

const dist = (name) => new URL(`../dist/${name}`, import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

function windowLoading(src, server) {
  const window = {
    document: { currentScript: { src }, addEventListener() {}, visibilityState: "visible" },
    navigator: { onLine: true },
    localStorage: new FakeStorage(),
    location: { href: "https://customer.example/", hostname: "customer.example" },
    fetch: (url, init) => server.fetch(url, init),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (id) => clearTimeout(id),
    addEventListener() {},
    URL,
    JSON,
    Date,
    Math,
  };
  window.globalThis = window;
  window.window = window;
  return vm.createContext(window);
}

test("the script build defines a global packedge that sends to the server it was loaded from", async (t) => {
  useFakeTime(t);
  const server = new FakeServer();
  const window = windowLoading("https://edge.example.net/static/sdk/packedge.js", server);
  vm.runInContext(readFileSync(dist("index.global.js"), "utf8"), window);
  assert.equal(window.packedge.version, pkg.version);
  window.packedge.init("pk_test");
  assert.equal(window.packedge.track("feature_used", { feature: "export" }), true);
  assert.equal(window.packedge("pk_other").track("one_liner"), true);
  await advance(2000);
  assert.deepEqual(
    server.requests.map((r) => [r.url, r.body.public_key, r.body.events[0].event]),
    [
      ["https://edge.example.net/public/v1/events", "pk_test", "feature_used"],
      ["https://edge.example.net/public/v1/events", "pk_other", "one_liner"],
    ],
  );
});

test("a second copy of the script keeps the first copy and its configuration", (t) => {
  useFakeTime(t);
  const window = windowLoading("https://edge.example.net/static/sdk/packedge.js", new FakeServer());
  const code = readFileSync(dist("index.global.js"), "utf8");
  vm.runInContext(code, window);
  const first = window.packedge;
  first.init("pk_test");
  vm.runInContext(code, window);
  assert.equal(window.packedge, first);
  assert.equal(window.packedge.track("still_configured"), true);
});

test("from a CDN the script needs an endpoint", (t) => {
  useFakeTime(t);
  const window = windowLoading("https://unpkg.com/@packedge/js-sdk/dist/index.global.js", new FakeServer());
  vm.runInContext(readFileSync(dist("index.global.js"), "utf8"), window);
  window.packedge.init("pk_test");
  assert.equal(window.packedge.track("nowhere_to_go"), false);
  window.packedge.init("pk_test", { endpoint: "https://edge.example.net" });
  assert.equal(window.packedge.track("now_it_goes"), true);
});

test("the module build exports what the declarations declare", async () => {
  const module = await import(dist("index.mjs"));
  const declarations = readFileSync(dist("index.d.ts"), "utf8");
  const declared = [...declarations.matchAll(/^export declare const (\w+)/gm)].map((m) => m[1]);
  assert.deepEqual(Object.keys(module).sort(), ["default", ...declared].sort());
  for (const name of declared) {
    assert.equal(module[name], module.default[name]);
  }
  assert.equal(module.default.version, pkg.version);
  for (const member of ["init", "track", "flush", "stats", "setDefaultEndpoint", "version"]) {
    assert.ok(declarations.includes(`${member}`), member);
    assert.ok(member in module.default, member);
  }
});

test("package.json points at files the build makes", () => {
  const exported = pkg.exports["."];
  assert.deepEqual(
    [exported.import, exported.types, pkg.types, pkg.unpkg],
    ["./dist/index.mjs", "./dist/index.d.ts", "./dist/index.d.ts", "./dist/index.global.js"],
  );
  for (const file of pkg.files.filter((f) => f.startsWith("dist/"))) {
    assert.ok(readFileSync(new URL(`../${file}`, import.meta.url), "utf8").length > 0, file);
  }
  assert.deepEqual(pkg.dependencies, undefined); // nothing for a customer's bundle to pull in
});
