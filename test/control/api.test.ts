import { readFile } from "node:fs/promises";
import path from "node:path";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CURRENT_POINTER_KEY } from "../../control/store/keys.js";
import { parsePrometheusText } from "../../policies/telemetry/prometheus-parse.js";
import { parseAllDocuments } from "yaml";
import { REPO_ROOT } from "../../scripts/lib/bundle-worker.js";
import { extraServiceEntry } from "./support/extra-service.js";
import { READER_TOKEN, startTestMesh, type ApiAnswer, type TestMesh } from "./support/control-fixture.js";

/**
 * The control API worker in workerd with a real KV namespace and its ConfigStore Durable Object,
 * beside the ingress gateway reading the same namespace. Every refusal is checked against the
 * store itself: after a rejected write, KV and the API hold exactly what they held before.
 */

let bookinfo: string;
let canary: string;
let broken: string;

beforeAll(async () => {
  [bookinfo, canary, broken] = (await Promise.all(
    ["bookinfo.yaml", "canary-90-10.yaml", "broken-canary.yaml"].map((name) => readFile(path.join(REPO_ROOT, "examples", name), "utf8")),
  )) as [string, string, string];
});

const yaml = (body: string) => ({ body, contentType: "application/yaml" });
const json = (value: unknown) => ({ body: JSON.stringify(value), contentType: "application/json" });

/** Everything a rejected write must leave untouched: every KV key and value, the resources, the history. */
async function storeState(mesh: TestMesh) {
  const keys = await mesh.listKv();
  const values = await Promise.all(keys.map((key) => mesh.readKv(key)));
  const resources = await mesh.api("GET", "/v1/resources");
  const history = await mesh.api("GET", "/v1/history");
  return { kv: Object.fromEntries(keys.map((key, index) => [key, values[index]])), resources: resources.body, history: history.body };
}

function expectError(answer: ApiAnswer, status: number, code: string): void {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.headers.get("content-type")).toContain("application/json");
  expect(answer.body).toEqual({ error: expect.objectContaining({ code, message: expect.any(String) }) });
}

describe("control API", () => {
  let mesh: TestMesh;
  let v1: string;

  beforeAll(async () => {
    mesh = await startTestMesh();
  });
  afterAll(() => mesh?.dispose());

  it("applies YAML, answers the version as ETag, and the gateway serves that version", async () => {
    const applied = await mesh.api("POST", "/v1/apply?source=bookinfo.yaml", yaml(bookinfo));
    expect(applied.status, applied.text).toBe(200);
    v1 = applied.body.version;
    expect(applied.etag).toBe(v1);
    expect(applied.body).toMatchObject({ changed: true, previousVersion: null, dryRun: false, historySeq: 1 });
    expect(applied.body.resources.created).toHaveLength(10);
    expect(JSON.parse((await mesh.readKv(CURRENT_POINTER_KEY))!)).toEqual({ version: v1 });

    let served: string | null = null;
    for (let tries = 0; tries < 50 && served !== v1; tries++) {
      served = ((await (await mesh.gateway("/__mesh/healthz")).json()) as { configVersion: string | null }).configVersion;
      if (served !== v1) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(served).toBe(v1);
  });

  it("lists and reads resources as they were applied, filtered by kind and namespace", async () => {
    const all = await mesh.api("GET", "/v1/resources");
    expect(all.status).toBe(200);
    expect(all.etag).toBe(v1);
    expect(all.body.items).toHaveLength(10);
    const services = await mesh.api("GET", "/v1/resources?kind=se&namespace=bookinfo");
    expect(services.body.items.map((item: { metadata: { name: string } }) => item.metadata.name)).toEqual(["details", "flaky", "productpage", "ratings", "reviews"]);
    expect((await mesh.api("GET", "/v1/resources?namespace=elsewhere")).body.items).toEqual([]);
    const one = await mesh.api("GET", "/v1/resources/virtualservices/bookinfo/bookinfo");
    expect(one.status).toBe(200);
    // Exactly as written (the durations are still strings, not the compiler's milliseconds).
    expect(one.body.spec.http.find((route: { name: string }) => route.name === "details").timeout).toBe("3s");
    expectError(await mesh.api("GET", "/v1/resources?kind=Sidecar"), 400, "bad_request");
    expectError(await mesh.api("GET", "/v1/resources/vs/bookinfo/nope"), 404, "not_found");
  });

  it("validates a change without storing it, and says what it would change", async () => {
    const before = await storeState(mesh);
    const dry = await mesh.api("POST", "/v1/validate", yaml(canary));
    expect(dry.status, dry.text).toBe(200);
    expect(dry.etag).toBe(v1);
    expect(dry.body).toMatchObject({ dryRun: true, changed: true, previousVersion: v1 });
    expect(dry.body.changes[0].fields).toContainEqual({ path: "spec.http[2].route[0].weight", from: 80, to: 90 });
    expect(await storeState(mesh)).toEqual(before);
  });

  it("rejects an invalid change with every issue and stores nothing", async () => {
    const before = await storeState(mesh);
    const answer = await mesh.api("POST", "/v1/apply?source=examples/broken-canary.yaml", yaml(broken));
    expectError(answer, 400, "invalid_config");
    expect(answer.etag).toBe(v1);
    expect(answer.body.error.issues).toEqual([
      expect.objectContaining({ code: "ERR_CONFIG_REFERENCE", resource: { kind: "VirtualService", namespace: "bookinfo", name: "bookinfo" }, path: "spec.http[1].route[0].destination", source: expect.objectContaining({ file: "examples/broken-canary.yaml", line: 10 }) }),
      expect.objectContaining({ code: "ERR_CONFIG_REFERENCE", path: "spec.http[2].route[1].destination", message: expect.stringContaining("unknown subset 'v4'") }),
    ]);
    const schema = await mesh.api("POST", "/v1/apply", yaml(canary.replace("weight: 90", "wieght: 90")));
    expectError(schema, 400, "invalid_config");
    expect(schema.body.error.issues).toEqual([expect.objectContaining({ code: "ERR_CONFIG_SCHEMA", path: "spec.http[2].route[0].wieght", message: "unknown field 'wieght'" })]);
    expect(await storeState(mesh)).toEqual(before);
  });

  it("answers malformed YAML and JSON with the parser's line and column", async () => {
    const before = await storeState(mesh);
    const yamlError = await mesh.api("POST", "/v1/apply", yaml("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: x\nspec: {}\n"));
    expectError(yamlError, 400, "invalid_config");
    expect(yamlError.body.error.issues[0]).toMatchObject({ code: "ERR_CONFIG_PARSE", source: { line: expect.any(Number), column: expect.any(Number) } });
    const jsonError = await mesh.api("POST", "/v1/apply", { body: '{"apiVersion": "networking.istio.io/v1",\n "kind": ', contentType: "application/json" });
    expectError(jsonError, 400, "invalid_config");
    expect(jsonError.body.error.issues[0].source.line).toBe(2);
    const rollbackError = await mesh.api("POST", "/v1/rollback", { body: '{\n  "version": [\n', contentType: "application/json" });
    expectError(rollbackError, 400, "bad_request");
    expect(rollbackError.body.error.message).toMatch(/line \d+, column \d+/);
    expectError(await mesh.api("POST", "/v1/rollback", json({ version: 7 })), 400, "bad_request");
    expect(await storeState(mesh)).toEqual(before);
  });

  it("accepts a JSON resource and a JSON list as well as YAML", async () => {
    const documents = parseAllDocuments(canary).map((document) => document.toJS());
    const asList = await mesh.api("POST", "/v1/validate", json({ items: documents }));
    expect(asList.status, asList.text).toBe(200);
    const single = await mesh.api("POST", "/v1/validate", json(documents[0]));
    expect(single.body.version).toBe(asList.body.version);
    const reformatted = await mesh.api("POST", "/v1/validate", yaml(stringify(documents[0])));
    expect(reformatted.body.version).toBe(asList.body.version);
  });

  it("refuses a write based on a stale version with 412 and changes nothing", async () => {
    const before = await storeState(mesh);
    const stale = await mesh.api("POST", "/v1/apply", { ...yaml(canary), headers: { "if-match": '"0123456789abcdef"' } });
    expectError(stale, 412, "precondition_failed");
    expect(stale.body.error.currentVersion).toBe(v1);
    expect(stale.etag).toBe(v1);
    expectError(await mesh.api("POST", "/v1/rollback", { ...json({ version: v1 }), headers: { "if-match": '"0123456789abcdef"' } }), 412, "precondition_failed");
    expectError(await mesh.api("DELETE", "/v1/resources/se/bookinfo/flaky", { headers: { "if-match": "0123456789abcdef" } }), 412, "precondition_failed");
    expect(await storeState(mesh)).toEqual(before);
  });

  it("lets one of several concurrent writers based on the same version win; the others get 412", async () => {
    const weights = [91, 92, 93, 94, 95, 96];
    const answers = await Promise.all(
      weights.map((weight) => mesh.api("POST", "/v1/apply", { ...yaml(canary.replace("weight: 90", `weight: ${weight}`)), headers: { "if-match": `"${v1}"`, "x-mesh-author": `writer-${weight}` } })),
    );
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 412, 412, 412, 412, 412]);
    const winner = answers.find((answer) => answer.status === 200)!;
    const history = (await mesh.api("GET", "/v1/history")).body.entries;
    expect(history[0]).toMatchObject({ version: winner.body.version, previous: v1, author: expect.stringMatching(/^writer-9\d$/) });
    expect(history).toHaveLength(2);
    const losers = answers.filter((answer) => answer.status === 412);
    expect(losers.every((answer) => answer.body.error.currentVersion === winner.body.version || answer.body.error.currentVersion === v1)).toBe(true);
    // Back to v1 for the tests that follow.
    expect((await mesh.api("POST", "/v1/rollback", json({ version: v1 }))).status).toBe(200);
  });

  it("serialises concurrent writers without If-Match: none loses another's change", async () => {
    const extra = (index: number) => extraServiceEntry(index, "concurrent");
    const answers = await Promise.all([0, 1, 2, 3, 4, 5].map((index) => mesh.api("POST", "/v1/apply", yaml(extra(index)))));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect((await mesh.api("GET", "/v1/resources?namespace=concurrent")).body.items).toHaveLength(6);
    const entries = (await mesh.api("GET", "/v1/history?limit=6")).body.entries.reverse();
    for (let index = 1; index < entries.length; index++) expect(entries[index].previous).toBe(entries[index - 1].version);
    const final = (await mesh.api("GET", "/v1/history?limit=1")).body.entries[0].version;
    expect(JSON.parse((await mesh.readKv(CURRENT_POINTER_KEY))!)).toEqual({ version: final });
  });

  it("refuses a delete that would break a route, with the reason, and deletes what nothing uses", async () => {
    const before = await storeState(mesh);
    const refused = await mesh.api("DELETE", "/v1/resources/ServiceEntry/bookinfo/reviews");
    expectError(refused, 409, "conflict");
    expect(refused.body.error.message).toContain("would leave the config invalid");
    expect(refused.body.error.issues).toContainEqual(expect.objectContaining({ resource: { kind: "VirtualService", namespace: "bookinfo", name: "bookinfo" }, message: expect.stringContaining("unknown host 'reviews.bookinfo.local'") }));
    expect(await storeState(mesh)).toEqual(before);
    const deleted = await mesh.api("DELETE", "/v1/resources/se/concurrent/extra-0", { headers: { "x-mesh-author": "dora" } });
    expect(deleted.status, deleted.text).toBe(200);
    expect(deleted.body.resources.deleted).toEqual([{ kind: "ServiceEntry", namespace: "concurrent", name: "extra-0" }]);
    expect((await mesh.api("GET", "/v1/history?limit=1")).body.entries[0]).toMatchObject({ action: "delete", author: "dora" });
    expectError(await mesh.api("DELETE", "/v1/resources/se/concurrent/extra-0"), 404, "not_found");
  });

  it("rolls back, diffs versions, serves snapshots and explains requests against any version", async () => {
    const applied = await mesh.api("POST", "/v1/apply", { ...yaml(canary), headers: { "x-mesh-author": "erin" } });
    const v2 = applied.body.version;
    const diff = await mesh.api("GET", `/v1/diff?from=${v1}&to=${v2}`);
    expect(diff.status).toBe(200);
    expect(diff.body.changes.filter((change: { change: string }) => change.change === "changed")).toEqual([
      expect.objectContaining({ resource: { kind: "VirtualService", namespace: "bookinfo", name: "bookinfo" } }),
    ]);
    expectError(await mesh.api("GET", "/v1/diff"), 400, "bad_request");
    expectError(await mesh.api("GET", "/v1/diff?from=ffffffffffffffff"), 404, "not_found");

    const snapshot = await mesh.api("GET", "/v1/snapshot");
    expect(snapshot.body.version).toBe(v2);
    expect(snapshot.body.snapshot).toEqual(JSON.parse((await mesh.readKv(`config/snapshots/${v2}`))!));

    const explainNow = await mesh.api("POST", "/v1/explain", json({ request: { url: "http://bookinfo.local/reviews/1" } }));
    expect(explainNow.status, explainNow.text).toBe(200);
    expect(explainNow.body).toMatchObject({ version: v2, route: "reviews" });
    expect(explainNow.body.action.destinations.map((d: { subset: string; probability: number }) => [d.subset, d.probability])).toEqual([["v1", 0.9], ["v3", 0.1]]);
    const explainThen = await mesh.api("POST", "/v1/explain", json({ version: v1, request: { url: "http://bookinfo.local/reviews/1" } }));
    expect(explainThen.body.action.destinations.map((d: { subset: string; probability: number }) => [d.subset, d.probability])).toEqual([["v1", 0.8], ["v2", 0.2]]);
    expectError(await mesh.api("POST", "/v1/explain", json({ request: { url: "nope" } })), 400, "bad_request");
    expectError(await mesh.api("POST", "/v1/explain", json({ version: "ffffffffffffffff", request: { url: "http://bookinfo.local/" } })), 404, "not_found");

    const back = await mesh.api("POST", "/v1/rollback", { ...json({ version: v1 }), headers: { "if-match": `"${v2}"`, "x-mesh-author": "frank" } });
    expect(back.status, back.text).toBe(200);
    expect(back.body).toMatchObject({ version: v1, previousVersion: v2, changed: true });
    expect(back.etag).toBe(v1);
    const history = (await mesh.api("GET", "/v1/history?limit=2")).body.entries;
    expect(history.map((entry: { action: string; author: string; version: string }) => [entry.action, entry.author, entry.version])).toEqual([
      ["rollback", "frank", v1],
      ["apply", "erin", v2],
    ]);
    expectError(await mesh.api("POST", "/v1/rollback", json({ version: "ffffffffffffffff" })), 404, "not_found");
  });

  it("authenticates every /v1/ call: 401 without or with a wrong token, 403 for a reader that writes", async () => {
    const before = await storeState(mesh);
    const none = await mesh.api("GET", "/v1/resources", { token: null });
    expectError(none, 401, "unauthorized");
    expect(none.headers.get("www-authenticate")).toContain("Bearer");
    expect(none.etag).toBeNull();
    expectError(await mesh.api("GET", "/v1/resources", { token: "wrong" }), 401, "unauthorized");
    expectError(await mesh.api("GET", "/v1/resources", { token: null, headers: { authorization: "Basic YTpi" } }), 401, "unauthorized");
    expectError(await mesh.api("GET", "/v1/openapi.json", { token: null }), 401, "unauthorized");
    expectError(await mesh.api("GET", "/v1/nowhere", { token: null }), 401, "unauthorized");

    expect((await mesh.api("GET", "/v1/resources", { token: READER_TOKEN })).status).toBe(200);
    expect((await mesh.api("POST", "/v1/validate", { ...yaml(canary), token: READER_TOKEN })).status).toBe(200);
    expect((await mesh.api("POST", "/v1/explain", { ...json({ request: { url: "http://bookinfo.local/" } }), token: READER_TOKEN })).status).toBe(200);
    expectError(await mesh.api("POST", "/v1/apply", { ...yaml(canary), token: READER_TOKEN }), 403, "forbidden");
    expectError(await mesh.api("POST", "/v1/rollback", { ...json({ version: v1 }), token: READER_TOKEN }), 403, "forbidden");
    expectError(await mesh.api("DELETE", "/v1/resources/se/bookinfo/flaky", { token: READER_TOKEN }), 403, "forbidden");
    expect(await storeState(mesh)).toEqual(before);
  });

  it("answers 404, 405, 413 and 415 in the same JSON shape, with the current version", async () => {
    const before = await storeState(mesh);
    const unknown = await mesh.api("GET", "/v1/nowhere");
    expectError(unknown, 404, "not_found");
    expect(unknown.etag).toBe(v1);
    const wrongMethod = await mesh.api("GET", "/v1/apply");
    expectError(wrongMethod, 405, "method_not_allowed");
    expect(wrongMethod.headers.get("allow")).toBe("POST");
    expect(wrongMethod.body.error.allowed).toEqual(["POST"]);
    expect((await mesh.api("PUT", "/v1/resources/vs/bookinfo/bookinfo")).headers.get("allow")).toBe("GET, DELETE");
    expectError(await mesh.api("POST", "/v1/history"), 405, "method_not_allowed");
    // The public pages too.
    const postDocs = await mesh.api("POST", "/docs");
    expectError(postDocs, 405, "method_not_allowed");
    expect(postDocs.headers.get("allow")).toBe("GET");

    const big = `# ${"x".repeat(1024 * 1024)}\n${canary}`;
    const tooLarge = await mesh.api("POST", "/v1/apply", yaml(big));
    expectError(tooLarge, 413, "payload_too_large");
    expect(tooLarge.etag).toBe(v1);
    // Without a declared length (chunked), the bound is enforced on the bytes read.
    const chunked = await fetch(new URL("/v1/apply", mesh.controlUrl), {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/yaml" },
      body: new Blob([big]).stream(),
      duplex: "half",
    } as RequestInit);
    expect(chunked.status).toBe(413);

    expectError(await mesh.api("POST", "/v1/apply", { body: canary, contentType: "application/x-www-form-urlencoded" }), 415, "unsupported_media_type");
    expect(await storeState(mesh)).toEqual(before);
  });

  it("documents itself: OpenAPI at /v1/openapi.json, an HTML reference at /docs", async () => {
    const document = await mesh.api("GET", "/v1/openapi.json", { token: READER_TOKEN });
    expect(document.status).toBe(200);
    expect(document.body.openapi).toBe("3.1.0");
    expect(Object.keys(document.body.paths).sort()).toEqual([
      "/v1/apply",
      "/v1/bundle",
      "/v1/dashboard",
      "/v1/diff",
      "/v1/explain",
      "/v1/history",
      "/v1/metrics",
      "/v1/resources",
      "/v1/resources/{kind}/{namespace}/{name}",
      "/v1/rollback",
      "/v1/snapshot",
      "/v1/svid/jwt",
      "/v1/svid/x509",
      "/v1/validate",
    ]);
    expect(Object.keys(document.body.paths["/v1/metrics"].get.responses["200"].content)).toEqual(["text/plain; version=0.0.4"]);
    const page = await fetch(new URL("/docs", mesh.controlUrl));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("POST /v1/apply");
  });

  it("serves the control plane's metrics to any token, in the Prometheus text format", async () => {
    expectError(await mesh.api("GET", "/v1/metrics", { token: null }), 401, "unauthorized");
    const scraped = await mesh.api("GET", "/v1/metrics", { token: READER_TOKEN });
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(scraped.headers.get("cache-control")).toBe("no-store");
    const families = parsePrometheusText(scraped.text);
    const value = (name: string, labels: Record<string, string> = {}) =>
      families.get(name)!.samples.find((sample) => Object.entries(labels).every(([label, wanted]) => sample.labels[label] === wanted))!.value;

    const current = (await mesh.api("GET", "/v1/history?limit=1")).body;
    expect(families.get("mesh_control_config_version_info")!.samples).toEqual([{ name: "mesh_control_config_version_info", labels: { version: current.version }, value: 1 }]);
    expect(value("mesh_control_config_history_entries")).toBe(current.entries[0].seq);
    expect(value("mesh_control_config_last_write_timestamp_seconds")).toBe(Date.parse(current.entries[0].at) / 1000);
    // The earlier tests of this file: applies that published, the broken canary, stale If-Match, a delete that would break a route.
    expect(families.get("mesh_control_config_writes_total")!.type).toBe("counter");
    expect(value("mesh_control_config_writes_total", { action: "apply", result: "published" })).toBeGreaterThanOrEqual(3);
    expect(value("mesh_control_config_writes_total", { action: "rollback", result: "published" })).toBeGreaterThanOrEqual(1);
    expect(value("mesh_control_config_writes_rejected_total", { action: "apply", reason: "invalid_config" })).toBeGreaterThanOrEqual(1);
    expect(value("mesh_control_config_writes_rejected_total", { action: "apply", reason: "precondition_failed" })).toBeGreaterThanOrEqual(5);
    expect(value("mesh_control_config_writes_rejected_total", { action: "delete", reason: "conflict" })).toBeGreaterThanOrEqual(1);
    expect(value("mesh_control_config_writes_rejected_total", { action: "rollback", reason: "not_found" })).toBeGreaterThanOrEqual(1);
    // Refused before reaching the store (403, 413 by declared length, 415): not counted as store refusals.
    expect(families.get("mesh_control_config_writes_rejected_total")!.samples.map((sample) => sample.labels.reason)).not.toContain("forbidden");

    const published = (await mesh.readKv(`config/snapshots/${current.version}`))!;
    expect(value("mesh_control_config_snapshot_bytes")).toBe(new TextEncoder().encode(published).length);
    const snapshot = JSON.parse(published);
    expect(value("mesh_control_config_snapshot_objects", { type: "routes" })).toBe(snapshot.routes.length);
    expect(value("mesh_control_config_snapshot_objects", { type: "clusters" })).toBe(Object.keys(snapshot.clusters).length);
    const resources = (await mesh.api("GET", "/v1/resources")).body.items as { kind: string }[];
    expect(value("mesh_control_config_resources", { kind: "ServiceEntry" })).toBe(resources.filter((item) => item.kind === "ServiceEntry").length);
  });
});

describe("a control API without an admin token", () => {
  it("refuses every /v1/ call (fails closed) and says how to configure it", async () => {
    const mesh = await startTestMesh({ controlBindings: { MESH_ADMIN_TOKEN: "", MESH_READER_TOKEN: "" } });
    try {
      const answer = await mesh.api("GET", "/v1/resources", { token: "anything" });
      expectError(answer, 503, "unavailable");
      expect(answer.body.error.message).toContain("MESH_ADMIN_TOKEN");
      expect(await mesh.listKv()).toEqual([]);
    } finally {
      await mesh.dispose();
    }
  });
});
