// The ES module build: `import packedge, { init, track } from "@packedge/js-sdk"`.
import { serverFromAssetUrl, sharedPackedge } from "./core.js";

// Imported straight from a PackEdge server (…/static/sdk/packedge.mjs): send events back to it.
// From a bundle or a CDN the URL says nothing about the server: `endpoint` is then required.
let assetUrl = "";
try {
  assetUrl = import.meta.url;
} catch (e) {}

const packedge = sharedPackedge(globalThis, serverFromAssetUrl(assetUrl));

export const init = packedge.init;
export const track = packedge.track;
export const flush = packedge.flush;
export const stats = packedge.stats;
export default packedge;
