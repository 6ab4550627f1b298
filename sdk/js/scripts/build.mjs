// Builds the package from src/ with nothing but Node: the sources are plain modern
// JavaScript, so "building" is joining src/core.js with one entry file each:
//   dist/index.mjs        ES module (core + src/index.js)
//   dist/index.global.js  <script> build, global `packedge` (core + src/global.js in an IIFE)
//   dist/index.d.ts       the declarations (src/index.d.ts)
// and copies the two browser files to the server's static/sdk/ (packedge.mjs, packedge.js)
// when run inside the PackEdge repository, so the server serves exactly this build.
//
//   node scripts/build.mjs          build
//   node scripts/build.mjs --check  exit 1 if static/sdk/ differs from a fresh build (CI)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(PACKAGE_DIR, "dist");
const SERVER_STATIC = resolve(PACKAGE_DIR, "..", "..", "static", "sdk");
const CORE_IMPORT = /^import \{[^}]*\} from "\.\/core\.js";\n/m;

const read = (name) => readFileSync(join(PACKAGE_DIR, name), "utf8");

function fail(message) {
  console.error(`build: ${message}`);
  process.exit(1);
}

/** core.js without `export` keywords: its declarations become locals of the file they are pasted into. */
function coreBody() {
  const body = read("src/core.js").replace(/^export (?=(const|function|async function|class|let) )/gm, "");
  if (/^(export|import) /m.test(body)) {
    fail("src/core.js: only `export const|function|class` declarations can be joined; no imports.");
  }
  return body;
}

/** An entry file without its import of core.js (whose names are then in scope). */
function entryBody(name) {
  const text = read(name);
  const body = text.replace(CORE_IMPORT, "");
  if (body === text || /^import /m.test(body)) {
    fail(`${name}: expected exactly one \`import { … } from "./core.js"\` and no other import.`);
  }
  return body;
}

function build() {
  const pkg = JSON.parse(read("package.json"));
  if (!read("src/core.js").includes(`export const VERSION = "${pkg.version}";`)) {
    fail(`src/core.js: VERSION must equal package.json's version ${pkg.version}.`);
  }
  const banner = `/*! ${pkg.name} ${pkg.version} | ${pkg.license} | built from sdk/js/src by scripts/build.mjs: do not edit */\n`;
  const esm = `${banner}${coreBody()}\n${entryBody("src/index.js")}`;
  const indented = `${coreBody()}\n${entryBody("src/global.js")}`
    .split("\n")
    .map((line) => (line ? `  ${line}` : line))
    .join("\n");
  const global = `${banner}(function () {\n  "use strict";\n${indented}})();\n`;
  return {
    [join(DIST, "index.mjs")]: esm,
    [join(DIST, "index.global.js")]: global,
    [join(DIST, "index.d.ts")]: read("src/index.d.ts"),
    ...(existsSync(SERVER_STATIC)
      ? { [join(SERVER_STATIC, "packedge.mjs")]: esm, [join(SERVER_STATIC, "packedge.js")]: global }
      : {}),
  };
}

const outputs = build();
if (process.argv.includes("--check")) {
  if (!existsSync(SERVER_STATIC)) {
    fail(`${SERVER_STATIC} is missing: --check compares the server's copies with a fresh build.`);
  }
  const stale = Object.entries(outputs)
    .filter(([path]) => !path.startsWith(DIST))
    .filter(([path, text]) => !existsSync(path) || readFileSync(path, "utf8") !== text)
    .map(([path]) => relative(process.cwd(), path));
  if (stale.length) {
    fail(`${stale.join(", ")} differ from a fresh build of sdk/js: run \`npm run build\` in sdk/js and commit.`);
  }
  console.log("build: static/sdk/ matches a fresh build");
} else {
  for (const [path, text] of Object.entries(outputs)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    console.log(`build: wrote ${relative(process.cwd(), path)}`);
  }
}
