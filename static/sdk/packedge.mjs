/*! PackEdge JS SDK as an ES module: import packedge from ".../static/sdk/packedge.mjs". */
import "./packedge.js";

const packedge = globalThis.packedge;
try {
  // Imported straight from a PackEdge server: send events back to it unless told otherwise.
  if (import.meta.url.startsWith("http")) {
    packedge.setDefaultEndpoint(new URL("/", import.meta.url).href);
  }
} catch (e) {}

export const init = packedge.init;
export const track = packedge.track;
export default packedge;
