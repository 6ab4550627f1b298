// The ES module build: `import packedge, { init, track, tracking } from "@packedge/js-sdk"`.
import { createTracking, serverFromAssetUrl, sharedPackedge } from "./core.js";

// Imported straight from a PackEdge server (…/static/sdk/packedge.mjs): send events back to it.
// From a bundle or a CDN the URL says nothing about the server: `endpoint` is then required.
let assetUrl = "";
try {
  assetUrl = import.meta.url;
} catch (e) {}

const packedge = sharedPackedge(globalThis, serverFromAssetUrl(assetUrl));

if (!packedge.tracking) {
  // OpenFeature tracking to PackEdge (see createTracking); the same function as the <script> build's.
  packedge.tracking = (options) => createTracking(globalThis, options);
}

export const init = packedge.init;
export const track = packedge.track;
export const flush = packedge.flush;
export const stats = packedge.stats;
/** OpenFeature tracking to PackEdge: `tracking({endpoint, sdkKey}).provider(ofrepProvider)`. */
export const tracking = packedge.tracking;
export default packedge;
