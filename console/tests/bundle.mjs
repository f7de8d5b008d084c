// Bundles one module of src/ with esbuild into a temporary directory, so node's test runner can
// import it (not a test file itself: node --test picks *.test.mjs).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";

/** The URL of the bundled module, to import() once the test has set up its globals. */
export async function bundled(entry, options = {}) {
  const out = join(mkdtempSync(join(tmpdir(), "skucast-console-")), basename(entry).replace(/\.tsx?$/, ".mjs"));
  await build({
    entryPoints: [new URL(`../src/${entry}`, import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "neutral",
    outfile: out,
    logLevel: "silent",
    ...options,
  });
  return pathToFileURL(out).href;
}
