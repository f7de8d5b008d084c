// src/api.ts against a scripted fetch: the bearer token, one refresh-and-retry on 401 (shared by
// concurrent calls), sign-out when the refresh is refused, problem documents, and no storage.
// Run: npm test (bundles api.ts with esbuild, then node's test runner).
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";
import { bundled } from "./bundle.mjs";

const apiModule = await bundled("api.ts");

// Storage a script could read: the module must never touch it.
const touched = [];
const spyStorage = (name) =>
  new Proxy({}, { get: (_, key) => (touched.push(`${name}.${String(key)}`), () => null) });
globalThis.localStorage = spyStorage("localStorage");
globalThis.sessionStorage = spyStorage("sessionStorage");

let routes; // [method, path] -> list of responses, consumed in order
let calls;
const json = (status, body, headers = {}) => ({ status, body, headers });
globalThis.fetch = async (url, init = {}) => {
  const method = init.method ?? "GET";
  const path = String(url);
  calls.push({ method, path, headers: init.headers ?? {}, body: init.body });
  const queue = routes.get(`${method} ${path.split("?")[0]}`);
  assert.ok(queue?.length, `unexpected ${method} ${path}`);
  const answer = queue.length > 1 ? queue.shift() : queue[0];
  const text = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body ?? null);
  return new Response(answer.status === 204 ? null : text, { status: answer.status, statusText: answer.statusText ?? "", headers: answer.headers });
};

const api = await import(apiModule);
const ME = { user_id: "u1", email: "a@b.c", client_id: "c1", role: "analyst", kind: "user" };

function route(key, ...answers) {
  routes.set(key, answers);
}

async function signedIn(access = "A1", refresh = "R1") {
  route("POST /api/auth/login", json(200, { access_token: access, refresh_token: refresh, token_type: "Bearer", expires_in: 900 }));
  route("GET /api/auth/me", json(200, ME));
  return api.signIn("a@b.c", "pw");
}

beforeEach(async () => {
  routes = new Map();
  calls = [];
  await api.signOut().catch(() => {});
  routes = new Map();
  calls = [];
});

test("given a sign-in, calls carry the access token as a Bearer header", async () => {
  const me = await signedIn();
  assert.equal(me.role, "analyst");
  route("GET /api/v1/forecast/skus", json(200, { items: [], next_cursor: null }));
  await api.get("/api/v1/forecast/skus", { limit: 5, cursor: undefined });
  const last = calls.at(-1);
  assert.equal(last.path, "/api/v1/forecast/skus?limit=5");
  assert.equal(last.headers.Authorization, "Bearer A1");
});

test("given an expired access token, one refresh rotates the pair and the call is retried once", async () => {
  await signedIn("A1", "R1");
  route("GET /api/v1/forecast/runs", json(401, { title: "Unauthorized", status: 401 }), json(200, { items: [{ run_id: "r" }], next_cursor: null }));
  route("POST /api/auth/refresh", json(200, { access_token: "A2", refresh_token: "R2", expires_in: 900 }));
  const page = await api.get("/api/v1/forecast/runs");
  assert.equal(page.items[0].run_id, "r");
  const refreshes = calls.filter((call) => call.path === "/api/auth/refresh");
  assert.equal(refreshes.length, 1);
  assert.deepEqual(JSON.parse(refreshes[0].body), { refresh_token: "R1" });
  assert.equal(calls.at(-1).headers.Authorization, "Bearer A2");
});

test("given concurrent 401s, they share one refresh (a refresh token works once)", async () => {
  await signedIn("A1", "R1");
  let refreshed = false;
  routes.set("GET /api/v1/forecast/alerts", []);
  globalThis.fetch = wrap(globalThis.fetch, (url, init) => {
    if (String(url).startsWith("/api/v1/forecast/alerts")) {
      calls.push({ method: "GET", path: String(url), headers: init.headers });
      const ok = refreshed && init.headers.Authorization === "Bearer A2";
      return new Response(JSON.stringify(ok ? { items: [], next_cursor: null } : { title: "Unauthorized", status: 401 }), { status: ok ? 200 : 401 });
    }
    if (String(url) === "/api/auth/refresh") {
      calls.push({ method: "POST", path: "/api/auth/refresh", headers: init.headers, body: init.body });
      refreshed = true;
      return new Response(JSON.stringify({ access_token: "A2", refresh_token: "R2", expires_in: 900 }), { status: 200 });
    }
    return null;
  });
  try {
    await Promise.all([api.get("/api/v1/forecast/alerts"), api.get("/api/v1/forecast/alerts"), api.get("/api/v1/forecast/alerts")]);
  } finally {
    globalThis.fetch = unwrap(globalThis.fetch);
  }
  assert.equal(calls.filter((call) => call.path === "/api/auth/refresh").length, 1);
});

test("given a refused refresh, the session ends and the app is told to sign in", async () => {
  await signedIn();
  let signedOut = 0;
  api.onSignedOut(() => signedOut++);
  route("GET /api/v1/forecast/runs", json(401, { title: "Unauthorized", status: 401 }));
  route("POST /api/auth/refresh", json(401, { title: "Unauthorized", status: 401 }));
  await assert.rejects(api.get("/api/v1/forecast/runs"), (error) => error.problem.status === 401);
  assert.equal(signedOut, 1);
  assert.equal(api.hasSession(), false);
  api.onSignedOut(() => {});
});

test("given a problem document, its title, detail and field errors reach the screen", async () => {
  await signedIn();
  const problem = {
    type: "https://skucast.dev/problems/validation",
    title: "Unprocessable Content",
    status: 422,
    detail: "The adjustment is not valid.",
    errors: [{ field: "start", code: "outside_forecast", message: "2020-01-01 is not a forecast period" }],
  };
  route("POST /api/v1/forecast/runs/r/results/s/adjustments", json(422, problem, { "Content-Type": "application/problem+json" }));
  await assert.rejects(api.post("/api/v1/forecast/runs/r/results/s/adjustments", { start: "2020-01-01" }), (error) => {
    assert.equal(error.problem.title, "Unprocessable Content");
    assert.equal(error.problem.detail, "The adjustment is not valid.");
    assert.equal(error.problem.errors[0].field, "start");
    return true;
  });
});

test("given an answer that is not a problem document, the status line stands in", async () => {
  await signedIn();
  routes.set("GET /api/v1/forecast/methods", [{ status: 502, statusText: "Bad Gateway", body: "<html>oops</html>" }]);
  await assert.rejects(api.get("/api/v1/forecast/methods"), (error) => error.problem.status === 502 && error.problem.title === "Bad Gateway");
});

test("given sign-out, the refresh token is revoked and later calls carry no token", async () => {
  await signedIn("A1", "R9");
  route("POST /api/auth/logout", json(204));
  await api.signOut();
  assert.deepEqual(JSON.parse(calls.at(-1).body), { refresh_token: "R9" });
  route("GET /api/monitoring/health", json(200, { status: "ok" }));
  await api.get("/api/monitoring/health");
  assert.equal(calls.at(-1).headers.Authorization, undefined);
});

test("tokens are never written to or read from web storage", () => {
  assert.deepEqual(touched, []);
});

function wrap(inner, handler) {
  const outer = async (url, init = {}) => (await handler(url, init)) ?? inner(url, init);
  outer.inner = inner;
  return outer;
}

function unwrap(outer) {
  return outer.inner ?? outer;
}
