import { describe, expect, it } from "vitest";
import { AccessLogFilterError, compileAccessLogFilter, type AccessLogAttributes } from "../../../policies/telemetry/access-log-filter.js";
import { ACCESS_LOG_FIELDS, selectFields } from "../../../policies/telemetry/access-log.js";

const ok: AccessLogAttributes = { "response.code": 200, "request.method": "GET", "request.path": "/api/orders?id=1", "request.url_path": "/api/orders", "response.flags": "-", "connection.mtls": false };
const failed: AccessLogAttributes = { ...ok, "response.code": 503, "response.flags": "UF,URX", "xds.route_name": "orders" };

describe("access-log filter (Istio Telemetry CEL)", () => {
  it.each([
    ["response.code >= 400", false, true],
    ["response.code >= 400 || request.method == 'POST'", false, true],
    ["!(response.code < 500)", false, true],
    ["request.url_path.startsWith(\"/api\") && response.code != 200", false, true],
    ["response.flags.contains('URX')", false, true],
    ["response.code in [500, 502, 503]", false, true],
    ["request.path.matches('^/api/.*id=1$')", true, true],
    ["true", true, true],
    ["connection.mtls", false, false],
  ])("%s", (expression, forOk, forFailed) => {
    const filter = compileAccessLogFilter(expression);
    expect(filter(ok)).toBe(forOk);
    expect(filter(failed)).toBe(forFailed);
  });

  it("is false, not an error, when types do not fit or an attribute is absent", () => {
    expect(compileAccessLogFilter("request.path > 3")(ok)).toBe(false);
    expect(compileAccessLogFilter("xds.route_name == 'orders'")(ok)).toBe(false);
    expect(compileAccessLogFilter("response.code")(ok)).toBe(false);
  });

  it("absorbs an error in || and && when the other side decides, in either order (CEL)", () => {
    const noPeer = "connection.uri_san_peer_certificate.startsWith('spiffe://a')";
    expect(compileAccessLogFilter(`${noPeer} || response.code >= 500`)(failed)).toBe(true);
    expect(compileAccessLogFilter(`response.code >= 500 || ${noPeer}`)(failed)).toBe(true);
    expect(compileAccessLogFilter(`${noPeer} && response.code >= 500`)(ok)).toBe(false);
    expect(compileAccessLogFilter(`response.code >= 500 && ${noPeer}`)(ok)).toBe(false);
    // Neither side decides: an error, so the line is not logged.
    expect(compileAccessLogFilter(`${noPeer} || response.code >= 500`)(ok)).toBe(false);
  });

  it("treats a regex computed from the request that is no regex as no match, never a failure", () => {
    expect(compileAccessLogFilter("request.url_path.matches(xds.route_name)")({ ...ok, "xds.route_name": "(" })).toBe(false);
  });

  it.each([
    ["response.status >= 400", /unknown attribute 'response.status'/],
    ["response.code >=", /unexpected 'end'/],
    ["request.path.size()", /unsupported method 'size'/],
    ["'open", /unterminated string/],
    ["response.code @ 1", /unexpected character '@'/],
    ["(response.code == 1", /expected \)/],
    ["request.path.matches('(')", /invalid regex '\(' in matches\(\)/],
    ["request.scheme == 'https'", /unknown attribute 'request.scheme'/],
  ])("rejects %s when compiled, with a code", (expression, message) => {
    let caught: unknown;
    try {
      compileAccessLogFilter(expression);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AccessLogFilterError);
    expect((caught as AccessLogFilterError).code).toBe("ERR_ACCESS_LOG_FILTER");
    expect((caught as Error).message).toMatch(message);
  });

  it("keeps only the selected fields, in the line's order", () => {
    expect(selectFields({ a: 1, b: 2, c: 3 }, new Set(["c", "a"]))).toEqual({ a: 1, c: 3 });
    expect(selectFields({ a: 1 }, undefined)).toEqual({ a: 1 });
    expect(ACCESS_LOG_FIELDS).toContain("peer_principal");
  });
});
