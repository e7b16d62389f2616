import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../policies/config/load.js";
import { parseDurationMs } from "../../policies/resources/common.js";
import { formatConfigIssue } from "../../policies/errors.js";

const VS = (spec: string, apiVersion = "networking.istio.io/v1") => `
apiVersion: ${apiVersion}
kind: VirtualService
metadata: { name: reviews, namespace: shop }
spec:
${spec}`;

describe("parseConfigText: acceptance", () => {
  it("reads multi-document YAML, JSON and lists, with defaults filled in", () => {
    const yaml = parseConfigText(VS("  hosts: [Reviews.Example.com]\n  http:\n  - route: [{ destination: { host: reviews } }]"));
    expect(yaml.issues).toEqual([]);
    expect(yaml.resources[0]).toMatchObject({ kind: "VirtualService", metadata: { namespace: "shop" }, spec: { hosts: ["reviews.example.com"] } });

    const json = parseConfigText(
      JSON.stringify({ items: [{ apiVersion: "networking.istio.io/v1beta1", kind: "Gateway", metadata: { name: "gw" }, spec: { servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*"] }] } }] }),
    );
    expect(json.issues).toEqual([]);
    expect(json.resources[0]).toMatchObject({ kind: "Gateway", metadata: { name: "gw", namespace: "default" } });
  });

  it("accepts v1beta1 and v1alpha3 as aliases of v1", () => {
    for (const version of ["networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"]) {
      expect(parseConfigText(VS("  hosts: [a.test]", version)).issues).toEqual([]);
    }
  });

  it("parses durations, retryOn lists and Istio's match fields", () => {
    const { resources, issues } = parseConfigText(
      VS(`  hosts: [a.test]
  http:
  - match:
    - uri: { prefix: /api }
      headers: { x-user: { exact: jason }, x-any: {} }
      queryParams: { debug: { regex: "1|true" } }
      method: { exact: GET }
      ignoreUriCase: true
      withoutHeaders: { x-skip: { exact: "1" } }
    timeout: 1m30s
    retries: { attempts: 3, perTryTimeout: 250ms, retryOn: "5xx, gateway-error,503" }
    route: [{ destination: { host: reviews } }]`),
    );
    expect(issues).toEqual([]);
    const route = (resources[0] as { spec: { http: { timeout: number; retries: unknown }[] } }).spec.http[0]!;
    expect(route.timeout).toBe(90_000);
    expect(route.retries).toEqual({ attempts: 3, perTryTimeout: 250, retryOn: { conditions: ["5xx", "gateway-error"], statusCodes: [503] } });
  });

  it("parses Go-style durations", () => {
    expect(parseDurationMs("1.5s")).toBe(1500);
    expect(parseDurationMs("1h2m")).toBe(3_720_000);
    expect(parseDurationMs("10")).toBeUndefined();
    expect(parseDurationMs("-1s")).toBeUndefined();
  });
});

describe("parseConfigText: rejection names the resource, the field and the reason", () => {
  const issuesOf = (text: string) => parseConfigText(text, "mesh.yaml").issues;

  it("rejects Istio fields this project does not support yet, by name", () => {
    const issues = issuesOf(VS("  hosts: [a.test]\n  tls: []\n  http:\n  - route: [{ destination: { host: r } }]\n    delegate: { name: x }"));
    expect(issues.map((issue) => [issue.code, issue.path])).toEqual([
      ["ERR_CONFIG_UNSUPPORTED_FIELD", "spec.http[0].delegate"],
      ["ERR_CONFIG_UNSUPPORTED_FIELD", "spec.tls"],
    ]);
    expect(issues[1]!.resource).toEqual({ kind: "VirtualService", namespace: "shop", name: "reviews" });
    expect(issues[1]!.message).toMatch(/'tls' is not supported yet/);
  });

  it("accepts exportTo: ['*'] (Istio's default, a no-op here) and refuses anything narrower, naming the field", () => {
    expect(issuesOf(VS('  hosts: [a.test]\n  exportTo: ["*"]'))).toEqual([]);
    const narrow = issuesOf(VS('  hosts: [a.test]\n  exportTo: ["."]'));
    expect(narrow.map((issue) => issue.path)).toEqual(["spec.exportTo"]);
    expect(narrow[0]!.message).toMatch(/exportTo other than \["\*"\] is not supported yet/);
  });

  it("rejects unknown fields and bad values with the field path", () => {
    const issues = issuesOf(
      VS(`  hosts: [a.test]
  http:
  - route: [{ destination: { host: r }, weight: -5 }]
    timeout: soon
    retries: { attempts: 2, retryOn: "5xx,sometimes" }
    fualt: {}`),
    );
    const byPath = Object.fromEntries(issues.map((issue) => [issue.path, issue.message]));
    expect(Object.keys(byPath).sort()).toEqual(["spec.http[0].fualt", "spec.http[0].retries.retryOn", "spec.http[0].route[0].weight", "spec.http[0].timeout"]);
    expect(byPath["spec.http[0].fualt"]).toMatch(/unknown field 'fualt'/);
    expect(byPath["spec.http[0].retries.retryOn"]).toMatch(/unknown retry condition 'sometimes'/);
    expect(byPath["spec.http[0].timeout"]).toMatch(/invalid duration 'soon'/);
  });

  it("rejects a route with two actions, a StringMatch with two kinds, and a bad regex", () => {
    const issues = issuesOf(
      VS(`  hosts: [a.test]
  http:
  - match: [{ uri: { exact: /a, prefix: /b } }, { uri: { regex: "(" } }]
    route: [{ destination: { host: r } }]
    redirect: { uri: /x }`),
    );
    const messages = issues.map((issue) => `${issue.path}: ${issue.message}`);
    expect(messages).toContainEqual(expect.stringMatching(/^spec\.http\[0\]\.match\[0\]\.uri: only one of exact, prefix, regex/));
    expect(messages).toContainEqual(expect.stringMatching(/^spec\.http\[0\]\.match\[1\]\.uri\.regex: invalid regex/));
    expect(messages).toContainEqual(expect.stringMatching(/^spec\.http\[0\]: only one of route, redirect, directResponse/));
  });

  it("rejects unknown kinds, wrong apiVersions, bad names and hosts", () => {
    expect(issuesOf("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }")[0]).toMatchObject({ code: "ERR_CONFIG_UNKNOWN_KIND", path: "kind" });
    expect(issuesOf("apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: x }")[0]!.message).toMatch(/not supported yet/);
    const issues = issuesOf(VS("  hosts: ['*.*.bad', 'a.test']", "networking.istio.io/v2").replace("name: reviews", "name: Reviews_1"));
    expect(issues.map((issue) => issue.path).sort()).toEqual(["apiVersion", "metadata.name", "spec.hosts[0]"]);
  });

  it("reports YAML syntax errors with line and column, and duplicates", () => {
    const syntax = issuesOf("apiVersion: a\nkind: [unclosed\n");
    expect(syntax[0]).toMatchObject({ code: "ERR_CONFIG_PARSE", source: { file: "mesh.yaml", line: expect.any(Number) } });
    expect(formatConfigIssue(syntax[0]!)).toMatch(/^mesh\.yaml:\d+:\d+: invalid YAML\/JSON/);
    const twice = VS("  hosts: [a.test]") + "\n---" + VS("  hosts: [b.test]");
    expect(issuesOf(twice)).toEqual([expect.objectContaining({ code: "ERR_CONFIG_DUPLICATE", message: "VirtualService shop/reviews is defined more than once" })]);
  });
});
