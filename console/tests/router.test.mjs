// src/router.tsx's pure parts: path segments decoded one by one, and the sign-in `next` target
// kept to same-origin paths (no open redirect through /signin?next=//elsewhere).
import assert from "node:assert/strict";
import { test } from "node:test";
import { bundled } from "./bundle.mjs";

const { safeNext, segments } = await import(await bundled("router.tsx", { jsx: "automatic", jsxImportSource: "preact" }));

test("a SKU with a slash, spaces, quotes and unicode is one segment", () => {
  const sku = 'Blue "Mug" 12/oz café ☕';
  assert.deepEqual(segments(`/skus/${encodeURIComponent(sku)}/adjust`), ["skus", sku, "adjust"]);
});

test("a malformed escape is kept as written rather than breaking the route", () => {
  assert.deepEqual(segments("/skus/100%"), ["skus", "100%"]);
});

test("next after sign-in is a same-origin path, else the overview", () => {
  assert.equal(safeNext("/skus/A%20B/adjust?run=r1"), "/skus/A%20B/adjust?run=r1");
  for (const bad of [null, "", "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/signin", "/signin?next=/x"]) {
    assert.equal(safeNext(bad), "/", String(bad));
  }
});
