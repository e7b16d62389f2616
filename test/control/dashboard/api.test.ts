import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { destinationId } from "../../../control/dashboard/graph.js";
import { freePort } from "../../support/upstream.js";
import { startBookinfo, type Bookinfo } from "../support/bookinfo.js";
import { READER_TOKEN, startTestMesh, type TestMesh } from "../support/control-fixture.js";

/**
 * The dashboard's endpoints in workerd, beside a real gateway: the public page with its script and
 * style under a strict Content-Security-Policy, and `GET /v1/dashboard` behind the API's tokens,
 * answering the graph of the current snapshot with the gateway's live counts, which the control
 * worker reads from the gateway's /__mesh/metrics (MESH_GATEWAY_URLS, as npm start sets it).
 */

let bookinfo: Bookinfo;
let mesh: TestMesh;
let version: string;

beforeAll(async () => {
  bookinfo = await startBookinfo();
  const port = await freePort();
  mesh = await startTestMesh({ ingressPort: port, controlBindings: { MESH_GATEWAY_URLS: `http://127.0.0.1:${port}` } });
  const applied = await mesh.api("POST", "/v1/apply", { body: bookinfo.config, contentType: "application/yaml" });
  expect(applied.status, applied.text).toBe(200);
  version = applied.body.version;
  for (let tries = 0; tries < 100; tries++) {
    const served = ((await (await mesh.gateway("/__mesh/healthz")).json()) as { configVersion: string | null }).configVersion;
    if (served === version) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the gateway did not load the config");
});

afterAll(async () => {
  await mesh?.dispose();
  await bookinfo?.close();
});

describe("the dashboard's endpoints", () => {
  it("serves the page without a token, under a CSP that allows only its own script, style and API", async () => {
    const page = await fetch(new URL("/__mesh/dashboard", mesh.controlUrl));
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await page.text();
    expect(html).toContain('<script src="/__mesh/dashboard.js" defer></script>');
    expect(html).not.toMatch(/<script>/);

    const script = await fetch(new URL("/__mesh/dashboard.js", mesh.controlUrl));
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    const source = await script.text();
    expect(source).toContain('fetch("/v1/dashboard"');
    expect(() => new Function(source)).not.toThrow(); // it parses as JavaScript, as served
    const style = await fetch(new URL("/__mesh/dashboard.css", mesh.controlUrl));
    expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect((await fetch(new URL("/__mesh/elsewhere", mesh.controlUrl))).status).toBe(404);
  });

  it("answers the data to any token only", async () => {
    expect((await mesh.api("GET", "/v1/dashboard", { token: null })).status).toBe(401);
    expect((await mesh.api("GET", "/v1/dashboard", { token: "wrong" })).status).toBe(401);
    const answer = await mesh.api("GET", "/v1/dashboard", { token: READER_TOKEN });
    expect(answer.status).toBe(200);
    expect(answer.etag).toBe(version);
    const document = await mesh.api("GET", "/v1/openapi.json", { token: READER_TOKEN });
    expect(document.body.paths["/v1/dashboard"].get.responses["200"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Dashboard" });
  });

  it("draws the current snapshot with the gateway's counts per destination", async () => {
    const send = async (path: string, times: number, headers: Record<string, string> = {}, host = "bookinfo.local") => {
      for (let index = 0; index < times; index++) await (await mesh.gateway(path, { host, headers })).arrayBuffer();
    };
    await send("/reviews/1", 6, { "end-user": "jason" });
    await send("/ratings/1", 4, { "x-fault": "abort" });
    await send("/", 2, {}, "nowhere.local");

    let data: any;
    for (let tries = 0; tries < 100; tries++) {
      data = (await mesh.api("GET", "/v1/dashboard", { token: READER_TOKEN })).body;
      if (data.traffic.total.requests >= 12) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(data.version).toBe(version);
    expect(data.graph.nodes.filter((node: { kind: string }) => node.kind === "route").map((node: { label: string }) => node.label)).toEqual([
      "productpage",
      "reviews-jason",
      "reviews",
      "ratings-abort",
      "ratings-delay",
      "ratings",
      "details",
      "flaky",
    ]);
    expect(data.graph.edges).toContainEqual({ from: "route:2", to: destinationId("reviews.bookinfo.local", "v1"), kind: "weight", label: "80%", share: 0.8 });
    expect(data.traffic.configured).toBe(true);
    expect(data.traffic.sources).toEqual([{ name: `127.0.0.1:${mesh.ingressUrl.port}`, ok: true, configVersion: version, inSync: true, sinceSeconds: expect.any(Number) }]);
    expect(data.traffic.destinations[destinationId("reviews.bookinfo.local", "v3")]).toMatchObject({ requests: 6, errors: 0, errorRatio: 0 });
    expect(data.traffic.destinations[destinationId("ratings.bookinfo.local", undefined)]).toMatchObject({ requests: 4, errors: 4, errorRatio: 1 });
    expect(data.traffic.destinations[destinationId("reviews.bookinfo.local", "v3")].p99Ms).toBeGreaterThan(0);
    expect(data.traffic.unattributed.requests).toBe(2);
    expect(data.traffic.total).toMatchObject({ requests: 12, errors: 4 });
  });
});
