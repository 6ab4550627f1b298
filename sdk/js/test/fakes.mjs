// A fake browser around createPackedge: localStorage, navigator, fetch and a PackEdge
// server that stores each uuid once, as the real one does. Timers and Date are node:test's
// mock timers, so tests move time by hand.
import { mock } from "node:test";

import { createPackedge } from "../src/core.js";

export const START = Date.parse("2026-11-30T12:00:00Z");
export const SERVER = "https://packedge.example";

export function useFakeTime(t) {
  mock.timers.enable({ apis: ["setTimeout", "Date"], now: START });
  t.after(() => mock.timers.reset());
}

/** Lets pending promises (a fetch answer, its handling) run; time does not move. */
export async function settle() {
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Moves mock time forward and lets what it started finish. */
export async function advance(ms) {
  mock.timers.tick(ms);
  await settle();
}

export class FakeStorage {
  constructor() {
    this.items = new Map();
    this.maxChars = Infinity; // a quota, like a browser's
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    const size = [...this.items].reduce((n, [k, v]) => n + (k === key ? 0 : v.length), 0) + String(value).length;
    if (size > this.maxChars) {
      throw new Error("QuotaExceededError");
    }
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
  get length() {
    return this.items.size;
  }
  key(index) {
    return [...this.items.keys()][index] ?? null;
  }
  /** Every page's queued events, by key: what the SDK keeps in this localStorage. */
  queues() {
    return [...this.items]
      .filter(([key]) => key.startsWith("packedge:queue:v1:"))
      .map(([, value]) => JSON.parse(value));
  }
}

/**
 * The ingestion server. `answers` is a list consumed one per request: a status number,
 * `{status, headers, body, store}`, "network" (the request never arrives) or
 * "stored-then-network" (stored, but the answer is lost on the way back).
 */
export class FakeServer {
  constructor() {
    this.requests = [];
    this.stored = new Map(); // uuid -> event: the server's dedup
    this.answers = [];
    this.pending = null; // set to hold requests open until release()
  }

  async fetch(url, init) {
    const body = JSON.parse(init.body);
    this.requests.push({ url, body, init });
    if (this.pending) {
      const aborted = new Promise((resolve, reject) => {
        init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
      await Promise.race([this.pending.promise, aborted]);
    }
    let answer = this.answers.length ? this.answers.shift() : 200;
    if (answer === "network") {
      throw new TypeError("Failed to fetch");
    }
    if (typeof answer === "number") {
      answer = { status: answer };
    }
    if (answer === "stored-then-network" || answer.status === 200) {
      for (const event of body.events) {
        if (!this.stored.has(event.uuid)) {
          this.stored.set(event.uuid, event);
        }
      }
      if (answer === "stored-then-network") {
        throw new TypeError("Failed to fetch");
      }
    }
    const headers = answer.headers || {};
    return {
      status: answer.status,
      headers: { get: (name) => (name in headers ? headers[name] : null) },
      json: async () => answer.body || {},
    };
  }

  hold() {
    let release;
    const promise = new Promise((resolve) => {
      release = resolve;
    });
    this.pending = { promise, release };
  }

  release() {
    const pending = this.pending;
    this.pending = null;
    pending.release();
  }

  get sentEvents() {
    return this.requests.flatMap((request) => request.body.events);
  }
}

/** One browser tab. Tabs made with the same `storage` share a site's localStorage. */
export function fakeTab({ server = new FakeServer(), storage = new FakeStorage(), online = true, beacon = null } = {}) {
  const listeners = new Map();
  const documentListeners = new Map();
  const beacons = [];
  const root = {
    localStorage: storage,
    navigator: {
      onLine: online,
      sendBeacon:
        beacon ||
        ((url, body) => {
          beacons.push({ url, body: JSON.parse(body) });
          return true;
        }),
    },
    fetch: (url, init) => server.fetch(url, init),
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (id) => clearTimeout(id),
    AbortController,
    crypto: globalThis.crypto,
    location: { href: "https://customer.example/app/page", hostname: "customer.example" },
    addEventListener: (type, fn) => listeners.set(type, [...(listeners.get(type) || []), fn]),
    document: {
      visibilityState: "visible",
      addEventListener: (type, fn) => documentListeners.set(type, [...(documentListeners.get(type) || []), fn]),
    },
  };
  const packedge = createPackedge(root);
  return {
    root,
    packedge,
    server,
    storage,
    beacons,
    fire(type, event = {}) {
      for (const fn of listeners.get(type) || []) {
        fn({ type, ...event });
      }
    },
    hide() {
      root.document.visibilityState = "hidden";
      for (const fn of documentListeners.get("visibilitychange") || []) {
        fn({ type: "visibilitychange" });
      }
    },
    goOnline() {
      root.navigator.onLine = true;
      this.fire("online");
    },
  };
}
