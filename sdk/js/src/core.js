// The whole SDK: clients (one per public key) over a page's persistent, bounded queue,
// sent in batches. `createPackedge(root)` takes the global object (a browser's window,
// or a fake one in tests) so nothing here touches a global directly.
//
// Rule for every function reachable from the host page, a timer or an event listener:
// it never throws. Analytics must not break our customers' customers' pages.

export const VERSION = "1.0.0";

const BATCH_PATH = "/public/v1/events";
// One queue per page (`packedge:queue:v1:<page id>`), written only by its page.
const QUEUE_PREFIX = "packedge:queue:v1:";
const COUNTERS_KEY = "packedge:counters:v1";
const RETRY_KEY = "packedge:retry-at:v1";
// A page with events queued refreshes its heartbeat this often; one silent for ORPHAN_MS
// is gone (background tabs may run timers only once a minute, hence the margin).
const HEARTBEAT_MS = 30000;
const ORPHAN_MS = 180000;
const CLAIM_MS = 500;
const CLAIM_EXPIRY_MS = 10000;
const MIN_RETRY_AFTER_MS = 1000;
const ASSET_MARKER = "/static/sdk/";
// An endpoint given as the single or batch ingestion URL still means "this server".
const INGEST_PATH_SUFFIX = /\/public\/v1\/events?\/*$/;
const BATCH_INDEX = /^events\[(\d+)\]/;
// Room for `{"public_key": …, "events": [` around the events of one request.
const ENVELOPE_BYTES = 200;

export const DEFAULTS = Object.freeze({
  batchSize: 20, // events waiting that trigger a send at once
  flushInterval: 2000, // ms an event may wait for companions before a send
  maxQueueEvents: 1000, // the persistent queue's bounds: past them the oldest events go first
  maxQueueBytes: 512 * 1024,
  maxBatchEvents: 100,
  // fetch(keepalive) and sendBeacon refuse bodies over 64 KiB: stay under it so a batch
  // can always go out while the page unloads.
  maxBatchBytes: 60000,
  retryBaseDelay: 1000,
  retryMaxDelay: 60000,
  requestTimeout: 10000, // a request still unanswered then is aborted and retried
});

const TUNABLE = Object.keys(DEFAULTS);

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A v4 UUID: crypto.randomUUID where it exists (secure contexts), else built from random bytes. */
export function newUuid(root) {
  try {
    const cryptoApi = root && root.crypto;
    if (cryptoApi && typeof cryptoApi.randomUUID === "function") {
      return cryptoApi.randomUUID();
    }
    let bytes = null;
    if (cryptoApi && typeof cryptoApi.getRandomValues === "function") {
      bytes = cryptoApi.getRandomValues(new Uint8Array(16));
    } else {
      bytes = new Uint8Array(16);
      for (let i = 0; i < 16; i++) {
        bytes[i] = Math.floor(Math.random() * 256);
      }
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = "";
    for (let i = 0; i < 16; i++) {
      hex += (bytes[i] + 256).toString(16).slice(1);
    }
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  } catch (e) {
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}-${Math.random().toString(36).slice(2)}`;
  }
}

/** The server a URL of ours was loaded from: `https://host/prefix` for `https://host/prefix/static/sdk/x.js`. */
export function serverFromAssetUrl(assetUrl) {
  try {
    const url = new URL(String(assetUrl));
    const at = url.pathname.lastIndexOf(ASSET_MARKER);
    if ((url.protocol !== "http:" && url.protocol !== "https:") || at < 0) {
      return ""; // e.g. a CDN copy or the app's own bundle: the endpoint must be given
    }
    return url.origin + url.pathname.slice(0, at);
  } catch (e) {
    return "";
  }
}

/**
 * Seconds or an HTTP date, as Retry-After allows, in milliseconds; null when absent or unreadable.
 */
export function retryAfterMs(value, nowMs) {
  if (value === null || value === undefined || value === "") {
    return null;
  }
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    return Math.round(Number(text) * 1000);
  }
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - nowMs);
}

/** Exponential backoff with "equal jitter": half the capped delay, plus up to as much again at random. */
export function backoffMs(attempt, settings, random) {
  const cap = Math.min(settings.retryMaxDelay, settings.retryBaseDelay * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** A key-value store with localStorage's interface, for when localStorage is missing or refuses to write. */
function memoryStorage() {
  const items = new Map();
  return {
    get length() {
      return items.size;
    },
    key: (index) => [...items.keys()][index] ?? null,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => {
      items.set(key, String(value));
    },
    removeItem: (key) => {
      items.delete(key);
    },
  };
}

function usableLocalStorage(root) {
  try {
    const storage = root.localStorage;
    if (!storage) {
      return null;
    }
    // Reading the property throws where storage is disabled; writing throws in some private modes.
    const probe = "packedge:probe";
    storage.setItem(probe, "1");
    storage.removeItem(probe);
    return storage;
  } catch (e) {
    return null;
  }
}

export function createPackedge(root, boot) {
  root = root || {};
  boot = boot || {};
  const settings = { ...DEFAULTS };
  const tabId = newUuid(root);
  const ownKey = QUEUE_PREFIX + tabId;
  let storage = usableLocalStorage(root) || memoryStorage();
  let defaultServer = boot.defaultServer || "";
  // This page's queue. The page is the only writer of its key while it lives, so memory is
  // the truth and storage its copy: no read-modify-write of data other pages write.
  let queue = [];
  const inFlight = new Set(); // uuids this page is sending right now
  let timer = null;
  let timerAt = 0;
  let heartbeat = null;
  let othersQueued = false; // other pages had events queued at the last look
  // Set by pagehide: the page is leaving (the visibilitychange that follows must not make it
  // look alive again), until a pageshow brings it back from the back/forward cache.
  let gone = false;
  let failures = 0; // consecutive failed sends, for the backoff
  let flushing = null;
  let writePending = false;

  const now = () => Date.now();
  const random = () => Math.random();

  function readJson(key, fallback) {
    try {
      const raw = storage.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch (e) {
      return fallback;
    }
  }

  function writeRaw(key, text) {
    try {
      storage.setItem(key, text);
      return true;
    } catch (e) {
      return false;
    }
  }

  function removeKey(key) {
    try {
      storage.removeItem(key);
    } catch (e) {}
  }

  function storedKeys() {
    const keys = [];
    try {
      for (let i = 0; i < storage.length; i++) {
        const key = storage.key(i);
        if (typeof key === "string") {
          keys.push(key);
        }
      }
    } catch (e) {}
    return keys;
  }

  function validEntries(list) {
    // Another page (perhaps an older version of this SDK) wrote them: keep only what can be sent.
    const valid = (entry) =>
      isObject(entry) && typeof entry.k === "string" && typeof entry.u === "string" && isObject(entry.e) && entry.e.uuid;
    return Array.isArray(list) ? list.filter(valid) : [];
  }

  function counters() {
    const stored = readJson(COUNTERS_KEY, {});
    return {
      dropped: Number((stored && stored.dropped) || 0),
      rejected: Number((stored && stored.rejected) || 0),
    };
  }

  function count(name, n) {
    if (n > 0) {
      const current = counters();
      current[name] += n;
      writeRaw(COUNTERS_KEY, JSON.stringify(current));
    }
  }

  const sizes = new WeakMap(); // entry -> its JSON length, computed once

  function sizeOf(entry) {
    let size = sizes.get(entry);
    if (size === undefined) {
      size = JSON.stringify(entry).length + 1;
      sizes.set(entry, size);
    }
    return size;
  }

  /** Keeps the queue within its bounds, dropping (and counting) the oldest events first. */
  function bound() {
    let dropped = 0;
    while (queue.length > settings.maxQueueEvents) {
      queue.shift();
      dropped++;
    }
    let total = queue.reduce((sum, entry) => sum + sizeOf(entry), 2);
    while (queue.length && total > settings.maxQueueBytes) {
      total -= sizeOf(queue.shift());
      dropped++;
    }
    count("dropped", dropped);
  }

  /** Writes the queue's copy with a heartbeat (`t`): 0 marks a page that has gone. */
  function persist() {
    writePending = false;
    bound();
    let dropped = 0;
    if (!queue.length) {
      removeKey(ownKey);
    } else {
      // localStorage is shared with the host page: when it is full, give up our oldest events,
      // and if even one cannot be written, carry on in memory for this page's life.
      while (queue.length && !writeRaw(ownKey, JSON.stringify({ t: gone ? 0 : now(), q: queue }))) {
        if (queue.length === 1) {
          storage = memoryStorage();
          break;
        }
        dropped += queue.splice(0, Math.ceil(queue.length / 4)).length;
      }
    }
    count("dropped", dropped);
    keepHeartbeat();
  }

  /**
   * persist() once the current task is done: a page that tracks in a loop writes its queue
   * once, not once per event (a full queue is half a megabyte of JSON to write).
   */
  function persistSoon() {
    bound();
    if (!writePending) {
      writePending = true;
      Promise.resolve()
        .then(() => {
          if (writePending) {
            persist();
          }
        })
        .catch(() => {});
    }
  }

  // While it has events queued, a page refreshes its heartbeat, so that other pages can
  // tell a live page (throttled to a timer a minute when in the background) from a dead one;
  // while other pages have events queued, it watches for them to go silent. Otherwise no
  // timer runs (a server-side import must not keep Node alive).
  function keepHeartbeat() {
    try {
      if ((queue.length || othersQueued) && heartbeat === null) {
        heartbeat = root.setTimeout(() => {
          heartbeat = null;
          if (queue.length) {
            persist();
          }
          adoptOrphans();
        }, HEARTBEAT_MS);
      }
    } catch (e) {}
  }

  /**
   * Queues left by pages that are gone (closed, reloaded, crashed) are adopted by a live
   * page: it writes a claim into the queue, and takes it CLAIM_MS later if its claim is still
   * the one there. localStorage reaches other tabs a moment late, so two pages may rarely
   * both take one; they then send the same uuids, which the server counts once.
   */
  function adoptOrphans() {
    try {
      const t = now();
      const claimed = [];
      othersQueued = false;
      for (const key of storedKeys()) {
        if (!key.startsWith(QUEUE_PREFIX) || key === ownKey) {
          continue;
        }
        othersQueued = true;
        const record = readJson(key, null);
        if (!isObject(record)) {
          continue;
        }
        const left = !record.t || t - record.t > ORPHAN_MS;
        const freeToClaim = !isObject(record.c) || t - record.c.at > CLAIM_EXPIRY_MS;
        if (left && freeToClaim) {
          writeRaw(key, JSON.stringify({ ...record, c: { id: tabId, at: t } }));
          claimed.push(key);
        }
      }
      keepHeartbeat();
      if (claimed.length) {
        root.setTimeout(() => {
          try {
            adoptClaimed(claimed);
          } catch (e) {}
        }, CLAIM_MS);
      }
    } catch (e) {}
  }

  function adoptClaimed(keys) {
    let adopted = 0;
    const known = new Set(queue.map((entry) => entry.e.uuid));
    for (const key of keys) {
      const record = readJson(key, null);
      if (!isObject(record) || !isObject(record.c) || record.c.id !== tabId) {
        continue; // another page claimed it, or its owner turned out to be alive
      }
      removeKey(key);
      for (const entry of validEntries(record.q)) {
        if (!known.has(entry.e.uuid)) {
          known.add(entry.e.uuid);
          queue.push(entry);
          adopted++;
        }
      }
    }
    if (adopted) {
      // Oldest first, so the bounds drop the oldest of everything.
      queue.sort((a, b) => String(a.e.timestamp).localeCompare(String(b.e.timestamp)));
      persist();
      schedule(0);
    }
  }

  function retryAt() {
    return Number(readJson(RETRY_KEY, 0)) || 0;
  }

  function offline() {
    try {
      return Boolean(root.navigator && root.navigator.onLine === false);
    } catch (e) {
      return false;
    }
  }

  function schedule(delay) {
    try {
      const at = now() + Math.max(0, delay);
      if (timer !== null && timerAt <= at) {
        return; // an earlier send is already planned
      }
      if (timer !== null) {
        root.clearTimeout(timer);
      }
      timerAt = at;
      timer = root.setTimeout(
        () => {
          timer = null;
          flush();
        },
        Math.max(0, delay),
      );
    } catch (e) {}
  }

  /** The next batch: the oldest event's (server, public key), up to the event and byte limits. */
  function nextBatch() {
    const pending = queue.filter((entry) => !inFlight.has(entry.e.uuid));
    if (!pending.length) {
      return [];
    }
    const { k, u } = pending[0];
    const batch = [];
    let bytes = ENVELOPE_BYTES + k.length;
    for (const entry of pending) {
      if (entry.k !== k || entry.u !== u) {
        continue;
      }
      const size = JSON.stringify(entry.e).length + 1;
      if (batch.length >= settings.maxBatchEvents || (batch.length && bytes + size > settings.maxBatchBytes)) {
        break;
      }
      batch.push(entry);
      bytes += size;
    }
    return batch;
  }

  function payload(batch) {
    return JSON.stringify({ public_key: batch[0].k, events: batch.map((entry) => entry.e) });
  }

  function removeFromQueue(uuids) {
    const done = new Set(uuids);
    queue = queue.filter((entry) => !done.has(entry.e.uuid));
    persist();
  }

  /** Sends one batch and says what to do with it: sent, dropped (whole or one event), or retry later. */
  async function send(batch) {
    const url = batch[0].u + BATCH_PATH;
    const body = payload(batch);
    if (typeof root.fetch !== "function") {
      const nav = root.navigator;
      const beaconed = nav && typeof nav.sendBeacon === "function" && nav.sendBeacon(url, body);
      return beaconed ? { outcome: "sent" } : { outcome: "retry", delay: null };
    }
    let response;
    let abortTimer = null;
    try {
      const controller = typeof root.AbortController === "function" ? new root.AbortController() : null;
      if (controller) {
        abortTimer = root.setTimeout(() => controller.abort(), settings.requestTimeout);
      }
      response = await root.fetch(url, {
        method: "POST",
        body,
        // text/plain is a "simple" request: no CORS preflight, and the server accepts it as JSON.
        headers: { "Content-Type": "text/plain;charset=UTF-8" },
        keepalive: true,
        mode: "cors",
        credentials: "omit",
        signal: controller ? controller.signal : undefined,
      });
    } catch (e) {
      return { outcome: "retry", delay: null }; // offline, refused, aborted, blocked by CORS
    } finally {
      if (abortTimer !== null) {
        root.clearTimeout(abortTimer);
      }
    }
    const status = Number(response && response.status);
    if (status >= 200 && status < 300) {
      return { outcome: "sent" };
    }
    if (status === 429 || status === 408 || status >= 500 || !status) {
      let header = null;
      try {
        header = response.headers.get("Retry-After");
      } catch (e) {}
      return { outcome: "retry", delay: retryAfterMs(header, now()) };
    }
    if (status === 400) {
      // All-or-nothing batches name the first bad event (`events[7].site: …`): drop just
      // that one and send the rest, rather than losing the whole batch for it.
      try {
        const answer = await response.json();
        const match = BATCH_INDEX.exec(answer.error.message);
        if (match && Number(match[1]) < batch.length) {
          return { outcome: "drop", entries: [batch[Number(match[1])]] };
        }
      } catch (e) {}
    }
    return { outcome: "drop", entries: batch }; // another 4xx: sending it again cannot succeed
  }

  async function flushQueue() {
    for (;;) {
      if (offline()) {
        return; // the `online` listener resumes
      }
      const t = now();
      const wait = retryAt() - t;
      if (wait > 0) {
        schedule(wait); // a Retry-After told to any page of this site
        return;
      }
      const batch = nextBatch();
      if (!batch.length) {
        return;
      }
      const uuids = batch.map((entry) => entry.e.uuid);
      uuids.forEach((uuid) => inFlight.add(uuid));
      let result;
      try {
        result = await send(batch);
      } finally {
        uuids.forEach((uuid) => inFlight.delete(uuid));
      }
      if (result.outcome === "sent") {
        failures = 0;
        removeFromQueue(uuids);
      } else if (result.outcome === "drop") {
        failures = 0;
        count("rejected", result.entries.length);
        removeFromQueue(result.entries.map((entry) => entry.e.uuid));
      } else {
        failures++;
        // Retry-After is waited as given, but never less than a second: "0" must not make a loop.
        const delay = result.delay !== null ? Math.max(MIN_RETRY_AFTER_MS, result.delay) : backoffMs(failures, settings, random);
        if (result.delay !== null) {
          writeRaw(RETRY_KEY, JSON.stringify(now() + delay));
        }
        schedule(delay);
        return;
      }
    }
  }

  function flush() {
    try {
      if (!flushing) {
        flushing = flushQueue()
          .catch(() => {})
          .then(() => {
            flushing = null;
          });
      }
      return flushing;
    } catch (e) {
      return Promise.resolve();
    }
  }

  /**
   * The page is going away or out of sight: hand its queue to sendBeacon, which the browser
   * delivers after the page is gone. Not while offline or told to wait: the events stay in
   * storage, and a leaving page marks them as left (t = 0) for the next page to adopt.
   */
  function flushOnHide(leaving) {
    try {
      const nav = root.navigator;
      if (!offline() && retryAt() <= now() && nav && typeof nav.sendBeacon === "function") {
        for (;;) {
          const batch = nextBatch();
          if (!batch.length || !nav.sendBeacon(batch[0].u + BATCH_PATH, payload(batch))) {
            break; // the browser's beacon budget is spent: the rest waits in storage
          }
          const sent = new Set(batch.map((entry) => entry.e.uuid));
          queue = queue.filter((entry) => !sent.has(entry.e.uuid));
        }
      }
      gone = gone || leaving;
      persist();
    } catch (e) {}
  }

  function serverFrom(endpoint) {
    if (typeof endpoint !== "string" || !endpoint) {
      return defaultServer;
    }
    try {
      const url = new URL(endpoint, root.location ? String(root.location.href) : undefined);
      return url.origin + url.pathname.replace(/\/+$/, "").replace(INGEST_PATH_SUFFIX, "");
    } catch (e) {
      return "";
    }
  }

  function hostname() {
    try {
      return (root.location && root.location.hostname) || "";
    } catch (e) {
      return "";
    }
  }

  function enqueue(config, event, properties) {
    if (!config.publicKey || typeof event !== "string" || !event) {
      return false;
    }
    const server = config.server || serverFrom("");
    if (!server) {
      return false;
    }
    const body = {
      event,
      timestamp: new Date(now()).toISOString(),
      // The server stores an event once per uuid, so a batch sent twice counts once.
      uuid: newUuid(root),
    };
    if (isObject(properties)) {
      body.properties = properties;
    }
    if (config.licenseKey) {
      body.license_key = config.licenseKey;
    }
    const site = config.site || hostname();
    if (site) {
      body.site = site;
    }
    // A snapshot now (the caller may change its object later); throws on circular values.
    const text = JSON.stringify(body);
    if (text.length + ENVELOPE_BYTES > settings.maxBatchBytes) {
      return false; // could never be sent
    }
    queue.push({ k: config.publicKey, u: server, e: JSON.parse(text) });
    persistSoon();
    schedule(queue.length >= settings.batchSize ? 0 : settings.flushInterval);
    return true;
  }

  function configure(options) {
    for (const name of TUNABLE) {
      const value = options[name];
      if (typeof value === "number" && value >= 0 && Number.isFinite(value)) {
        settings[name] = value;
      }
    }
  }

  function client(publicKey, options) {
    const config = { publicKey: "", licenseKey: "", server: "", site: "" };
    try {
      options = isObject(options) ? options : {};
      config.publicKey = typeof publicKey === "string" ? publicKey : "";
      config.licenseKey = options.licenseKey ? String(options.licenseKey) : "";
      config.site = typeof options.site === "string" ? options.site : "";
      config.server = serverFrom(options.endpoint);
      configure(options);
    } catch (e) {}
    return {
      track(event, properties) {
        try {
          return enqueue(config, event, properties);
        } catch (e) {
          return false;
        }
      },
      flush,
    };
  }

  let current = client("", {});

  /** The one-liner form: packedge(publicKey, options?).track(event, properties?). */
  function packedge(publicKey, options) {
    return client(publicKey, options);
  }
  packedge.version = VERSION;
  packedge.init = (publicKey, options) => {
    current = client(publicKey, options);
    return current;
  };
  packedge.track = (event, properties) => current.track(event, properties);
  packedge.flush = flush;
  packedge.stats = () => {
    try {
      return { queued: queue.length, ...counters() };
    } catch (e) {
      return { queued: 0, dropped: 0, rejected: 0 };
    }
  };
  packedge.setDefaultEndpoint = (endpoint) => {
    try {
      defaultServer = serverFrom(endpoint) || defaultServer;
    } catch (e) {}
  };

  try {
    if (typeof root.addEventListener === "function") {
      root.addEventListener("online", () => flush());
      root.addEventListener("pagehide", () => flushOnHide(true));
      // Back from the back/forward cache: the page lives again, and so does its queue.
      root.addEventListener("pageshow", (event) => {
        if (event && event.persisted) {
          gone = false;
          persist();
          schedule(0);
        }
      });
      // Another page of the site went away leaving events: adopt them now rather than at the next heartbeat.
      root.addEventListener("storage", (event) => {
        try {
          if (event && typeof event.key === "string" && event.key.startsWith(QUEUE_PREFIX) && event.newValue) {
            if (JSON.parse(event.newValue).t === 0) {
              adoptOrphans();
            }
          }
        } catch (e) {}
      });
    }
    const doc = root.document;
    if (doc && typeof doc.addEventListener === "function") {
      // The last event a mobile browser reliably fires before it discards a page.
      doc.addEventListener("visibilitychange", () => {
        if (doc.visibilityState === "hidden") {
          flushOnHide(false);
        }
      });
    }
    // Events left by an earlier page (a reload, an offline period) go out without waiting for a track().
    adoptOrphans();
  } catch (e) {}

  return packedge;
}

/**
 * The page's one instance, shared by the <script> build and the ES module build when a
 * page loads both, so one tab never runs two queues.
 */
export function sharedPackedge(root, defaultServer) {
  const slot = typeof Symbol === "function" ? Symbol.for("packedge.sdk") : "__packedge_sdk__";
  try {
    const existing = root[slot];
    if (existing && existing.version) {
      return existing;
    }
  } catch (e) {}
  const instance = createPackedge(root, { defaultServer });
  try {
    root[slot] = instance;
  } catch (e) {}
  return instance;
}

// ---------------------------------------------------------------- OpenFeature tracking
//
// OpenFeature's `client.track(name, context?, details?)` reaches the provider's `track`
// method; the stock OFREP providers have none that sends anywhere (OFREP has no tracking
// endpoint yet). `createTracking` batches such events to PackEdge's `POST /ofrep/v1/track`
// with the environment's SDK key, and `.provider(p)` gives an existing provider that
// `track` method. In memory only (a server or a page that evaluates flags keeps running);
// every event carries an `id`, so a batch retried after a lost answer is stored once.

const TRACK_PATH = "/ofrep/v1/track";
const OFREP_PATH_SUFFIX = /\/ofrep(\/v1(\/track)?)?\/*$/;
const TRACKING_DEFAULTS = Object.freeze({
  batchSize: 20,
  flushInterval: 2000,
  maxBatchEvents: 100,
  maxQueueEvents: 1000,
  retryBaseDelay: 1000,
  retryMaxDelay: 60000,
});
// The context attributes PackEdge reads: licenseKey, else targetingKey, names the license.
const TRACKED_CONTEXT = ["licenseKey", "targetingKey"];

function trackingEndpoint(endpoint) {
  const text = String(endpoint || "").trim().replace(OFREP_PATH_SUFFIX, "").replace(/\/+$/, "");
  return text ? text + TRACK_PATH : "";
}

export function createTracking(root, options) {
  const opts = isObject(options) ? options : {};
  const settings = { ...TRACKING_DEFAULTS };
  for (const name of Object.keys(TRACKING_DEFAULTS)) {
    if (Number.isFinite(opts[name]) && opts[name] > 0) {
      settings[name] = opts[name];
    }
  }
  const url = trackingEndpoint(opts.endpoint);
  const sdkKey = typeof opts.sdkKey === "string" ? opts.sdkKey.trim() : "";
  const fetchFn = typeof opts.fetch === "function" ? opts.fetch : root && root.fetch;
  const random = typeof opts.random === "function" ? opts.random : Math.random;
  const counters = { queued: 0, sent: 0, dropped: 0, rejected: 0 };
  let queue = [];
  let timer = null;
  let sending = null;
  let attempt = 0;
  const setTimer = root && typeof root.setTimeout === "function" ? (fn, ms) => root.setTimeout(fn, ms) : setTimeout;
  const clearTimer = root && typeof root.clearTimeout === "function" ? (id) => root.clearTimeout(id) : clearTimeout;

  function schedule(ms) {
    if (timer === null && queue.length) {
      timer = setTimer(() => {
        timer = null;
        send();
      }, ms);
    }
  }

  function track(trackingEventName, context, details) {
    try {
      if (!url || !sdkKey || typeof fetchFn !== "function") {
        return false;
      }
      if (typeof trackingEventName !== "string" || !trackingEventName.trim()) {
        return false;
      }
      const event = { trackingEventName, id: newUuid(root), timestamp: new Date().toISOString() };
      if (isObject(context)) {
        const kept = {};
        for (const name of TRACKED_CONTEXT) {
          if (typeof context[name] === "string" && context[name]) {
            kept[name] = context[name];
          }
        }
        event.context = kept;
      }
      if (isObject(details)) {
        event.trackingEventDetails = JSON.parse(JSON.stringify(details));
      }
      queue.push(event);
      if (queue.length > settings.maxQueueEvents) {
        counters.dropped += queue.length - settings.maxQueueEvents;
        queue = queue.slice(queue.length - settings.maxQueueEvents);
      }
      if (queue.length >= settings.batchSize && attempt === 0) {
        send();
      } else {
        schedule(settings.flushInterval);
      }
      return true;
    } catch (e) {
      return false; // details that are not JSON, or anything else: never an exception in the caller
    }
  }

  function send() {
    if (sending) {
      return sending;
    }
    if (timer !== null) {
      clearTimer(timer);
      timer = null;
    }
    if (!queue.length) {
      return Promise.resolve();
    }
    const batch = queue.slice(0, settings.maxBatchEvents);
    sending = (async () => {
      let retry = false;
      let wait = null;
      try {
        const response = await fetchFn(url, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${sdkKey}` },
          body: JSON.stringify({ events: batch }),
          keepalive: true,
        });
        const status = response.status;
        if (status === 408 || status === 429 || status >= 500) {
          retry = true;
          wait = retryAfterMs(response.headers && response.headers.get("Retry-After"), Date.now());
        } else {
          queue = queue.filter((event) => !batch.includes(event));
          if (status >= 200 && status < 300) {
            counters.sent += batch.length;
          } else {
            counters.rejected += batch.length; // 4xx: the same body would be refused again
          }
        }
      } catch (e) {
        retry = true; // a network error: the same ids go again, the server keeps one copy
      }
      sending = null;
      if (retry) {
        attempt += 1;
        schedule(wait !== null ? Math.max(MIN_RETRY_AFTER_MS, wait) : backoffMs(attempt, settings, random));
      } else {
        attempt = 0;
        if (queue.length >= settings.batchSize) {
          return send();
        }
        schedule(settings.flushInterval);
      }
    })();
    return sending;
  }

  async function flush() {
    try {
      while (queue.length) {
        const before = queue.length;
        await send();
        if (queue.length >= before || attempt > 0) {
          return; // nothing went (a retry is scheduled): do not spin
        }
      }
    } catch (e) {}
  }

  function provider(wrapped) {
    if (!wrapped || typeof wrapped !== "object") {
      return wrapped;
    }
    const own = typeof wrapped.track === "function" ? wrapped.track.bind(wrapped) : null;
    wrapped.track = (trackingEventName, context, details) => {
      track(trackingEventName, context, details);
      if (own) {
        try {
          own(trackingEventName, context, details);
        } catch (e) {}
      }
    };
    return wrapped;
  }

  return {
    track,
    flush,
    provider,
    stats: () => ({ queued: queue.length, sent: counters.sent, dropped: counters.dropped, rejected: counters.rejected }),
  };
}
