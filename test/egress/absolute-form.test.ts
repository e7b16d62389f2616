import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startUpstream, type Upstream } from "../support/upstream.js";
import { startTestEgress, waitForLog, type TestEgress, externalServiceYaml } from "./fixture.js";

/**
 * The egress as an HTTP proxy: absolute-form requests (`GET http://api.a.test/path HTTP/1.1`,
 * what `curl -x` and HTTP_PROXY clients send), written byte for byte on a socket. workerd's
 * usual socket refuses them before the worker runs; its proxy-style socket (the fixture's
 * `proxy: true`) hands the worker the absolute URL, and the egress routes by that URL's host.
 */

let api: Upstream, other: Upstream;
let egress: TestEgress;

beforeAll(async () => {
  [api, other] = await Promise.all([startUpstream({ name: "api" }), startUpstream({ name: "other" })]);
  egress = await startTestEgress(externalServiceYaml("api", "api.a.test", api) + externalServiceYaml("other", "other.test", other), { proxy: true });
});

afterAll(async () => {
  await Promise.all([egress?.close(), api?.close(), other?.close()]);
});

/** Writes `head` (a request without body) to `url`'s socket and returns the status and body of the answer. */
function rawRequest(url: URL, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(head));
    let data = "";
    socket.setEncoding("utf8");
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no complete answer; got: ${data}`)));
    socket.on("data", (chunk: string) => {
      data += chunk;
      const end = data.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = data.slice(0, end);
      let body = data.slice(end + 4);
      // workerd keeps the connection open: the answer is complete at its length, or at the last chunk.
      const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1];
      if (length !== undefined && Buffer.byteLength(body) < Number(length)) return;
      if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        if (!body.endsWith("0\r\n\r\n")) return;
        body = dechunk(body);
      }
      socket.destroy();
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), body });
    });
    socket.on("error", reject);
  });
}

function dechunk(text: string): string {
  let out = "";
  for (let at = 0; ; ) {
    const lineEnd = text.indexOf("\r\n", at);
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (!size) return out;
    out += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
}

describe("absolute-form (HTTP proxy) requests", () => {
  it("are refused by workerd's usual socket before the worker runs", async () => {
    const before = api.requests.length;
    const answer = await rawRequest(egress.url, "GET http://api.a.test/usual HTTP/1.1\r\nHost: api.a.test\r\nConnection: close\r\n\r\n");
    expect(answer.status).toBe(500);
    expect(api.requests.length).toBe(before);
    expect(egress.audit().some((line) => line.path === "/usual")).toBe(false);
  });

  it("go to the URL's host through the proxy socket, as curl -x sends them", async () => {
    const answer = await rawRequest(egress.proxyUrl!, "GET http://api.a.test/path?q=1 HTTP/1.1\r\nHost: api.a.test\r\nConnection: close\r\n\r\n");
    expect(answer.status).toBe(200);
    expect(api.requests.at(-1)?.path).toBe("/path?q=1");
    expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/path?q=1")).toMatchObject({ decision: "allowed", destination_host: "api.a.test", destination_port: 80, route: "external/api:api.a.test" });
  });

  it("go to the URL's host whatever Host says, or with no Host at all (RFC 9112 §3.2.2)", async () => {
    const otherBefore = other.requests.length;
    const withOtherHost = await rawRequest(egress.proxyUrl!, "GET http://api.a.test/other-host HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n");
    expect(withOtherHost.status).toBe(200);
    expect(api.requests.at(-1)?.path).toBe("/other-host");
    expect(api.requests.at(-1)?.headers["x-forwarded-host"]).toBe("api.a.test");
    expect(other.requests.length).toBe(otherBefore);
    expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/other-host")).toMatchObject({ destination_host: "api.a.test" });
    // The access log's authority is the one the call was routed by, not the Host header.
    expect(await waitForLog(egress, (line) => line.event === undefined && line.path === "/other-host")).toMatchObject({ authority: "api.a.test" });

    const withoutHost = await rawRequest(egress.proxyUrl!, "GET http://api.a.test/no-host HTTP/1.1\r\nConnection: close\r\n\r\n");
    expect(withoutHost.status).toBe(200);
    expect(api.requests.at(-1)?.path).toBe("/no-host");
  });

  it("cannot reach an undeclared host by naming a declared one in Host", async () => {
    const before = api.requests.length;
    const answer = await rawRequest(egress.proxyUrl!, "GET http://evil.test/steal HTTP/1.1\r\nHost: api.a.test\r\nConnection: close\r\n\r\n");
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body)).toMatchObject({ error: "outbound_host_blocked", flags: "NR" });
    expect(api.requests.length).toBe(before);
    expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/steal")).toMatchObject({ decision: "blocked", destination_host: "evil.test" });
  });

  it("use the URL's port to pick the ServiceEntry port", async () => {
    const answer = await rawRequest(egress.proxyUrl!, "GET http://api.a.test:80/port HTTP/1.1\r\nHost: api.a.test:8080\r\nConnection: close\r\n\r\n");
    expect(answer.status).toBe(200);
    expect(await waitForLog(egress, (line) => line.event === "egress_audit" && line.path === "/port")).toMatchObject({ destination_host: "api.a.test", destination_port: 80 });
  });
});
