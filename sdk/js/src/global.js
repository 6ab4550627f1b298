// The <script> build: defines the global `packedge`.
import { createTracking, serverFromAssetUrl, sharedPackedge } from "./core.js";

const root = typeof globalThis !== "undefined" ? globalThis : typeof window !== "undefined" ? window : {};
let assetUrl = "";
try {
  // Loaded from a PackEdge server (…/static/sdk/packedge.js): send events back to it.
  assetUrl = (root.document && root.document.currentScript && root.document.currentScript.src) || "";
} catch (e) {}
// Loaded twice (two script tags, or the script and the module): keep the first copy and its configuration.
if (!(root.packedge && root.packedge.version)) {
  root.packedge = sharedPackedge(root, serverFromAssetUrl(assetUrl));
}
if (root.packedge && !root.packedge.tracking) {
  // OpenFeature tracking to PackEdge, as the ES module's `tracking`.
  root.packedge.tracking = (options) => createTracking(root, options);
}
