import { describe, expect, it } from "vitest";
import { parseConfigText } from "../../../policies/config/load.js";
import type { ConfigIssue } from "../../../policies/errors.js";
import { compileSnapshot } from "../../../policies/snapshot/compile.js";
import { ACCESS_LOG_FIELDS_ANNOTATION, ACCESS_LOG_SAMPLING_ANNOTATION } from "../../../policies/snapshot/compile-telemetry.js";
import { Snapshot } from "../../../policies/snapshot/schema.js";
import { accessLogPolicyFor, telemetryLevels } from "../../../gateway/telemetry/access-log-policy.js";
import { parseGatewaySettings } from "../../../gateway/env.js";

/**
 * Istio's Telemetry resource, access logging only: what the parser and compiler accept, what
 * they refuse (each issue naming the field), and where a compiled Telemetry applies.
 */

const telemetry = (name: string, namespace: string, spec: string, annotations = "", apiVersion = "telemetry.istio.io/v1") => `
---
apiVersion: ${apiVersion}
kind: Telemetry
metadata: { name: ${name}, namespace: ${namespace}${annotations ? `, annotations: { ${annotations} }` : ""} }
spec:
${spec}
`;

async function compile(yaml: string): Promise<{ issues: ConfigIssue[]; warnings: ConfigIssue[]; snapshot?: Snapshot }> {
  const loaded = parseConfigText(yaml, "telemetry.yaml");
  if (loaded.issues.length > 0) return { issues: loaded.issues, warnings: [] };
  const compiled = await compileSnapshot(loaded.resources);
  return compiled.ok ? { issues: [], warnings: compiled.warnings, snapshot: compiled.snapshot } : { issues: compiled.issues, warnings: [] };
}

const issueAt = (issues: readonly ConfigIssue[], path: string) => issues.find((issue) => issue.path === path);

describe("Telemetry: what is refused, by field", () => {
  it("names tracing, metrics and targetRefs as not supported yet", async () => {
    const { issues } = await compile(
      telemetry("t", "istio-system", "  tracing: [{ randomSamplingPercentage: 10 }]\n  metrics: [{ providers: [{ name: prometheus }] }]\n  targetRefs: [{ kind: Gateway, name: x }]"),
    );
    for (const field of ["tracing", "metrics", "targetRefs"]) {
      expect(issueAt(issues, `spec.${field}`)).toMatchObject({ code: "ERR_CONFIG_UNSUPPORTED_FIELD", message: expect.stringContaining("not supported yet") });
    }
  });

  it("names a bad provider, mode, filter and unknown field inside accessLogging", async () => {
    const { issues } = await compile(
      telemetry(
        "t",
        "istio-system",
        `  accessLogging:
  - providers: [{ name: otel }]
    match: { mode: BOTH }
    filter: { expression: "response.status >= 400" }
    sampling: 10`,
      ),
    );
    expect(issueAt(issues, "spec.accessLogging[0].providers[0].name")?.message).toMatch(/unknown access-log provider 'otel'.*'envoy'/);
    expect(issueAt(issues, "spec.accessLogging[0].match.mode")?.message).toMatch(/CLIENT_AND_SERVER, CLIENT, SERVER/);
    expect(issueAt(issues, "spec.accessLogging[0].filter.expression")?.message).toMatch(/unknown attribute 'response\.status'/);
    expect(issueAt(issues, "spec.accessLogging[0].sampling")).toMatchObject({ code: "ERR_CONFIG_SCHEMA", message: "unknown field 'sampling'" });
  });

  it("names a bad sampling or fields annotation", async () => {
    const { issues } = await compile(
      telemetry("t", "istio-system", "  accessLogging: [{}]", `"${ACCESS_LOG_SAMPLING_ANNOTATION}": "150", "${ACCESS_LOG_FIELDS_ANNOTATION}": "request_id,status"`),
    );
    expect(issueAt(issues, `metadata.annotations["${ACCESS_LOG_SAMPLING_ANNOTATION}"]`)?.message).toMatch(/'150' is not a percentage/);
    expect(issueAt(issues, `metadata.annotations["${ACCESS_LOG_FIELDS_ANNOTATION}"]`)?.message).toMatch(/unknown field 'status'/);
  });

  it("refuses two mesh-wide Telemetries, two with the same selector, and two entries for the gateways in one", async () => {
    const { issues } = await compile(
      telemetry("a", "istio-system", "  accessLogging: [{}]") +
        telemetry("b", "istio-system", "  accessLogging: [{ disabled: true }]") +
        telemetry("c", "edge", "  selector: { matchLabels: { istio: ingressgateway } }\n  accessLogging: [{}]") +
        telemetry("d", "edge", "  selector: { matchLabels: { istio: ingressgateway } }\n  accessLogging: [{}]") +
        telemetry("e", "edge", "  selector: { matchLabels: { tier: edge } }\n  accessLogging: [{}, { match: { mode: CLIENT } }]"),
    );
    expect(issues.find((issue) => issue.resource?.name === "b")).toMatchObject({ code: "ERR_CONFIG_CONFLICT", message: expect.stringContaining("istio-system/a already applies mesh-wide") });
    expect(issues.find((issue) => issue.resource?.name === "d")).toMatchObject({ code: "ERR_CONFIG_CONFLICT", path: "spec.selector.matchLabels" });
    expect(issues.find((issue) => issue.resource?.name === "e")).toMatchObject({ code: "ERR_CONFIG_CONFLICT", path: "spec.accessLogging[1]" });
  });

  it("refuses an unknown apiVersion, naming the ones accepted", async () => {
    const { issues } = await compile(telemetry("t", "istio-system", "  accessLogging: [{}]", "", "telemetry.istio.io/v2"));
    expect(issueAt(issues, "apiVersion")?.message).toMatch(/telemetry\.istio\.io\/v1, telemetry\.istio\.io\/v1alpha1/);
  });
});

describe("Telemetry: where it applies", () => {
  it("compiles nothing when there is no Telemetry, so existing snapshots keep their version", async () => {
    const compiled = await compileSnapshot([]);
    expect(compiled.ok && !("telemetry" in compiled.snapshot)).toBe(true);
  });

  it("compiles the root namespace's as mesh-wide and a selector's per gateway, inheriting field by field", async () => {
    const { issues, snapshot } = await compile(
      telemetry(
        "mesh-default",
        "istio-system",
        `  accessLogging:
  - providers: [{ name: envoy }]
    filter: { expression: "response.code >= 400" }`,
        `"${ACCESS_LOG_SAMPLING_ANNOTATION}": "25"`,
        "telemetry.istio.io/v1alpha1",
      ) +
        telemetry("edge-only", "edge", "  selector: { matchLabels: { tier: edge } }\n  accessLogging: [{ match: { mode: CLIENT } }]", `"${ACCESS_LOG_FIELDS_ANNOTATION}": "request_id, route_name"`),
    );
    expect(issues).toEqual([]);
    expect(Snapshot.parse(snapshot)).toEqual(snapshot);
    expect(snapshot!.telemetry).toEqual({
      accessLogging: {
        // An entry naming its provider sets it whole (Istio): enabled, with its filter.
        mesh: { telemetry: "istio-system/mesh-default", disabled: false, filter: "response.code >= 400", samplingPercentage: 25 },
        gateways: [{ telemetry: "edge/edge-only", selector: { tier: "edge" }, fields: ["request_id", "route_name"] }],
      },
    });
    expect(telemetryLevels(snapshot!, { istio: "ingressgateway", tier: "edge" }).map((level) => level.telemetry)).toEqual(["istio-system/mesh-default", "edge/edge-only"]);
    expect(telemetryLevels(snapshot!, { istio: "ingressgateway" }).map((level) => level.telemetry)).toEqual(["istio-system/mesh-default"]);
  });

  it("an entry naming the provider turns logging back on and clears an inherited filter, as Istio's merge does", async () => {
    const edge = parseGatewaySettings({ MESH_GATEWAY_LABELS: "istio=ingressgateway,tier=edge" });
    const other = parseGatewaySettings({ MESH_GATEWAY_LABELS: "istio=ingressgateway" });
    const line = { response_code: 200, method: "GET", path: "/" };
    const meshOff = telemetry("mesh-default", "istio-system", "  accessLogging:\n  - providers: [{ name: envoy }]\n    disabled: true");
    const meshErrorsOnly = telemetry("mesh-default", "istio-system", '  accessLogging:\n  - providers: [{ name: envoy }]\n    filter: { expression: "response.code >= 500" }');
    const edgeNamesProvider = telemetry("edge-on", "edge", "  selector: { matchLabels: { tier: edge } }\n  accessLogging: [{ providers: [{ name: envoy }] }]");
    const edgeInherits = telemetry("edge-on", "edge", "  selector: { matchLabels: { tier: edge } }\n  accessLogging: [{ match: { mode: CLIENT } }]");

    const on = (await compile(meshOff + edgeNamesProvider)).snapshot!;
    expect(accessLogPolicyFor(edge, on).apply(line, () => 0)).toBeDefined();
    expect(accessLogPolicyFor(other, on).apply(line, () => 0)).toBeUndefined();
    // Naming the provider again clears the mesh's filter; an entry without providers inherits it.
    expect(accessLogPolicyFor(edge, (await compile(meshErrorsOnly + edgeNamesProvider)).snapshot!).apply(line, () => 0)).toBeDefined();
    expect(accessLogPolicyFor(edge, (await compile(meshErrorsOnly + edgeInherits)).snapshot!).apply(line, () => 0)).toBeUndefined();
  });

  it("warns about a namespace Telemetry without a selector and a SERVER-only entry, which no gateway uses", async () => {
    const { issues, warnings, snapshot } = await compile(
      telemetry("ns", "shop", "  accessLogging: [{ disabled: true }]") +
        telemetry("server", "istio-system", "  accessLogging: [{ match: { mode: SERVER }, disabled: true }]", `"${ACCESS_LOG_SAMPLING_ANNOTATION}": "5"`),
    );
    expect(issues).toEqual([]);
    expect(warnings.find((warning) => warning.resource?.name === "ns")).toMatchObject({ code: "WARN_CONFIG_NOT_SERVED", path: "metadata.namespace" });
    expect(warnings.find((warning) => warning.resource?.name === "server")).toMatchObject({ code: "WARN_CONFIG_NOT_SERVED", path: "spec.accessLogging[0].match.mode" });
    expect(warnings.find((warning) => warning.path === `metadata.annotations["${ACCESS_LOG_SAMPLING_ANNOTATION}"]`)?.message).toMatch(/no accessLogging entry/);
    // Neither configures a gateway's access log: the env settings still decide.
    expect(snapshot!.telemetry).toBeUndefined();
  });
});
