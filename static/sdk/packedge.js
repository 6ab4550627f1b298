/*! PackEdge JS SDK: packedge.init(publicKey, {licenseKey, endpoint}); packedge.track(event, properties).
 *  No build step, no dependencies. Works from a <script> tag (global `packedge`), loaded as a module, or
 *  imported from packedge.mjs beside this file. Never throws: analytics must not break the host page. */
(function (root) {
  "use strict";
  if (!root || (root.packedge && root.packedge.version)) {
    return; // loaded twice (script tag and module): keep the first copy and its configuration
  }

  var EVENT_PATH = "/public/v1/event";
  var defaultEndpoint = "";
  try {
    var script = root.document && root.document.currentScript;
    if (script && script.src) {
      // By default, send events to the server this file came from.
      defaultEndpoint = new URL(EVENT_PATH, script.src).href;
    }
  } catch (e) {}

  function endpointFrom(value) {
    if (typeof value !== "string" || !value) {
      return defaultEndpoint;
    }
    try {
      var url = new URL(value, root.location ? root.location.href : undefined);
      if (url.pathname === "/" || url.pathname === "") {
        url.pathname = EVENT_PATH; // a bare origin such as https://packedge.example.com
      }
      return url.href;
    } catch (e) {
      return "";
    }
  }

  function newId() {
    var cryptoApi = root.crypto;
    try {
      if (cryptoApi && typeof cryptoApi.randomUUID === "function") {
        return cryptoApi.randomUUID();
      }
      if (cryptoApi && typeof cryptoApi.getRandomValues === "function") {
        var bytes = cryptoApi.getRandomValues(new Uint8Array(16));
        var hex = "";
        for (var i = 0; i < bytes.length; i++) {
          hex += (bytes[i] + 256).toString(16).slice(1);
        }
        return hex;
      }
    } catch (e) {}
    return Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }

  function hostname() {
    try {
      return (root.location && root.location.hostname) || "";
    } catch (e) {
      return "";
    }
  }

  function send(config, event, properties) {
    try {
      if (!config.publicKey || !config.endpoint || typeof event !== "string" || !event) {
        return false;
      }
      var body = {
        public_key: config.publicKey,
        event: event,
        timestamp: new Date().toISOString(),
        // Lets the server drop a copy when a retry or a double send delivers the event twice.
        uuid: newId(),
      };
      if (properties && typeof properties === "object" && !Array.isArray(properties)) {
        body.properties = properties;
      }
      if (config.licenseKey) {
        body.license_key = String(config.licenseKey);
      }
      var site = config.site || hostname();
      if (site) {
        body.site = site;
      }
      var payload = JSON.stringify(body);
      var nav = root.navigator;
      // A string body goes out as text/plain, which needs no CORS preflight and survives page unload.
      if (nav && typeof nav.sendBeacon === "function" && nav.sendBeacon(config.endpoint, payload)) {
        return true;
      }
      if (typeof root.fetch === "function") {
        var pending = root.fetch(config.endpoint, {
          method: "POST",
          body: payload,
          headers: { "Content-Type": "text/plain;charset=UTF-8" },
          keepalive: true,
          mode: "cors",
          credentials: "omit",
        });
        if (pending && typeof pending.catch === "function") {
          pending.catch(function () {});
        }
        return true;
      }
    } catch (e) {}
    return false;
  }

  function client(publicKey, options) {
    var config = { publicKey: "", licenseKey: "", endpoint: "", site: "" };
    try {
      options = options && typeof options === "object" ? options : {};
      config.publicKey = typeof publicKey === "string" ? publicKey : "";
      config.licenseKey = options.licenseKey ? String(options.licenseKey) : "";
      config.site = typeof options.site === "string" ? options.site : "";
      config.endpoint = endpointFrom(options.endpoint);
    } catch (e) {}
    return {
      track: function (event, properties) {
        return send(config, event, properties);
      },
    };
  }

  var current = client("", {});

  /** The one-liner form: packedge(publicKey, options?).track(event, properties?). */
  function packedge(publicKey, options) {
    return client(publicKey, options);
  }
  packedge.version = "1.0.0";
  packedge.init = function (publicKey, options) {
    current = client(publicKey, options);
    return current;
  };
  packedge.track = function (event, properties) {
    return current.track(event, properties);
  };
  packedge.setDefaultEndpoint = function (url) {
    try {
      defaultEndpoint = endpointFrom(url) || defaultEndpoint;
    } catch (e) {}
  };

  root.packedge = packedge;
})(typeof globalThis !== "undefined" ? globalThis : typeof window !== "undefined" ? window : undefined);
