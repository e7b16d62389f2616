import { describe, expect, it } from "vitest";
import { shadowAuthority } from "../../../gateway/upstream/endpoint-url.js";
import { applyHeaderMutation } from "../../../gateway/upstream/header-mutation.js";
import { forwardableRequestHeaders, forwardableResponseHeaders } from "../../../gateway/upstream/hop-by-hop.js";

function names(headers: Headers): string[] {
  const out: string[] = [];
  headers.forEach((_value, name) => out.push(name));
  return out;
}

function entries(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => (out[name] = value));
  return out;
}

describe("hop-by-hop headers", () => {
  it("drops hop-by-hop headers, those named by Connection, platform headers and Expect from requests", () => {
    const out = forwardableRequestHeaders(
      new Headers({
        connection: "keep-alive, x-per-hop",
        "x-per-hop": "1",
        "keep-alive": "timeout=5",
        te: "trailers",
        "transfer-encoding": "chunked",
        upgrade: "websocket",
        "proxy-authorization": "Basic x",
        expect: "100-continue",
        host: "a.test",
        "content-length": "3",
        "cf-connecting-ip": "203.0.113.9",
        "x-kept": "yes",
      }),
    );
    expect(names(out)).toEqual(["x-kept"]);
  });

  it("drops hop-by-hop headers from responses but keeps the rest", () => {
    const out = forwardableResponseHeaders(new Headers({ connection: "close, x-gone", "x-gone": "1", "keep-alive": "timeout=5", "content-type": "text/plain", "set-cookie": "a=1" }));
    expect(names(out).sort()).toEqual(["content-type", "set-cookie"]);
  });
});

describe("header mutations", () => {
  it("removes, then sets, then adds, as Envoy does", () => {
    const headers = new Headers({ "x-a": "old", "x-b": "1", "x-c": "keep" });
    applyHeaderMutation(headers, { remove: ["x-b"], set: [["x-a", "new"], ["x-b", "again"]], add: [["x-c", "more"]] });
    expect(entries(headers)).toEqual({ "x-a": "new", "x-b": "again", "x-c": "keep, more" });
  });
});

describe("shadowAuthority", () => {
  it("appends -shadow to the host, before any port", () => {
    expect(shadowAuthority("api.test")).toBe("api.test-shadow");
    expect(shadowAuthority("api.test:8080")).toBe("api.test-shadow:8080");
  });
});
