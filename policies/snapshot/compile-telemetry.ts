import type { ConfigIssue } from "../errors.js";
import { resourceRefOf, type TelemetryResource } from "../resources/resource.js";
import { ACCESS_LOG_FIELDS } from "../telemetry/access-log.js";
import type { AccessLogSettings, TelemetryConfig } from "./schema.js";

/**
 * Telemetry resources → where their access logging applies. With no workloads here, as for the
 * security policies (compile-security.ts), a Telemetry
 *
 * - in the root namespace without a selector applies to every gateway (mesh-wide; one at most);
 * - with `selector.matchLabels` (in any namespace: gateways have none) applies to the gateways
 *   whose labels match, over the mesh-wide one, field by field (an unset field inherits);
 * - in another namespace without a selector would apply to that namespace's workloads, of
 *   which there are none: accepted with a warning, and used by no gateway.
 *
 * Of `accessLogging[]`, the entries whose `match.mode` covers a gateway (CLIENT or
 * CLIENT_AND_SERVER: Istio counts a gateway's requests as client ones) apply; a Telemetry may
 * have one such entry, and one without configures nothing (the level below, or the gateway's
 * MESH_ACCESS_LOG_* settings, decide). Sampling and field selection, which Istio's accessLogging lacks, come
 * from two annotations on the Telemetry, so the resource stays one Istio accepts.
 */

/** Percent (0-100) of the lines that pass the filter which are written. */
export const ACCESS_LOG_SAMPLING_ANNOTATION = "telemetry.edge-mesh.dev/access-log-sampling";
/** Comma-separated access-log field names to keep (ACCESS_LOG_FIELDS). */
export const ACCESS_LOG_FIELDS_ANNOTATION = "telemetry.edge-mesh.dev/access-log-fields";

export function compileTelemetry(
  telemetries: readonly TelemetryResource[],
  rootNamespace: string,
  issues: ConfigIssue[],
  warnings: ConfigIssue[],
): TelemetryConfig | undefined {
  if (telemetries.length === 0) return undefined;
  let mesh: AccessLogSettings | undefined;
  const gateways: TelemetryConfig["accessLogging"]["gateways"] = [];
  for (const telemetry of telemetries) {
    const ref = resourceRefOf(telemetry);
    const name = `${telemetry.metadata.namespace}/${telemetry.metadata.name}`;
    const selector = telemetry.spec.selector?.matchLabels ?? {};
    const hasSelector = Object.keys(selector).length > 0;
    if (!hasSelector && telemetry.metadata.namespace !== rootNamespace) {
      warnings.push({
        code: "WARN_CONFIG_NOT_SERVED",
        resource: ref,
        path: "metadata.namespace",
        message: `a Telemetry without a selector outside the root namespace '${rootNamespace}' applies to the workloads of namespace '${telemetry.metadata.namespace}', and there are none here: no gateway uses it (put it in '${rootNamespace}' to apply mesh-wide, or add spec.selector.matchLabels to pick gateways)`,
      });
      continue;
    }
    const settings = accessLogSettingsOf(telemetry, name, issues, warnings);
    if (!settings) continue;
    if (!hasSelector) {
      if (mesh) {
        issues.push({
          code: "ERR_CONFIG_CONFLICT",
          resource: ref,
          path: "metadata.name",
          message: `Telemetry ${mesh.telemetry} already applies mesh-wide; Istio would pick the oldest, which a config file cannot tell: keep one`,
        });
        continue;
      }
      mesh = settings;
      continue;
    }
    const same = gateways.find((other) => sameLabels(other.selector, selector));
    if (same) {
      issues.push({
        code: "ERR_CONFIG_CONFLICT",
        resource: ref,
        path: "spec.selector.matchLabels",
        message: `Telemetry ${same.telemetry} already selects gateways with these labels; Istio would pick the oldest, which a config file cannot tell: keep one`,
      });
      continue;
    }
    gateways.push({ ...settings, selector });
  }
  if (!mesh && gateways.length === 0) return undefined;
  return { accessLogging: { ...(mesh ? { mesh } : {}), gateways } };
}

/** The Telemetry's settings for the gateways' access log, or undefined when it has no accessLogging entry for them (then it configures nothing). */
function accessLogSettingsOf(telemetry: TelemetryResource, name: string, issues: ConfigIssue[], warnings: ConfigIssue[]): AccessLogSettings | undefined {
  const ref = resourceRefOf(telemetry);
  const settings: AccessLogSettings = { telemetry: name };
  let applied: number | undefined;
  (telemetry.spec.accessLogging ?? []).forEach((entry, index) => {
    if (entry.match?.mode === "SERVER") {
      warnings.push({
        code: "WARN_CONFIG_NOT_SERVED",
        resource: ref,
        path: `spec.accessLogging[${index}].match.mode`,
        message: "mode SERVER selects a workload's inbound requests; a gateway's are CLIENT ones (as in Istio), so no gateway uses this entry",
      });
      return;
    }
    if (applied !== undefined) {
      issues.push({
        code: "ERR_CONFIG_CONFLICT",
        resource: ref,
        path: `spec.accessLogging[${index}]`,
        message: `accessLogging[${applied}] already configures the gateways' access log (provider 'envoy'); merge the two entries`,
      });
      return;
    }
    applied = index;
    if ((entry.providers ?? []).length > 0) {
      // Istio: an entry that names its provider sets it whole: enabled unless `disabled: true`,
      // with its own filter or none (an empty filter clears an inherited one).
      settings.disabled = entry.disabled === true;
      settings.filter = entry.filter?.expression ?? "";
    } else {
      if (entry.disabled !== undefined) settings.disabled = entry.disabled;
      if (entry.filter !== undefined) settings.filter = entry.filter.expression;
    }
  });

  const annotations = telemetry.metadata.annotations ?? {};
  if (applied === undefined) {
    for (const annotation of [ACCESS_LOG_SAMPLING_ANNOTATION, ACCESS_LOG_FIELDS_ANNOTATION].filter((key) => annotations[key] !== undefined)) {
      warnings.push({
        code: "WARN_CONFIG_NOT_SERVED",
        resource: ref,
        path: `metadata.annotations["${annotation}"]`,
        message: "ignored: this Telemetry has no accessLogging entry for gateways (add `accessLogging: [{}]`)",
      });
    }
    return undefined;
  }
  const sampling = annotations[ACCESS_LOG_SAMPLING_ANNOTATION];
  if (sampling !== undefined) {
    const percent = sampling.trim() === "" ? Number.NaN : Number(sampling);
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
      issues.push({
        code: "ERR_CONFIG_SCHEMA",
        resource: ref,
        path: `metadata.annotations["${ACCESS_LOG_SAMPLING_ANNOTATION}"]`,
        message: `'${sampling}' is not a percentage: expected a number from 0 to 100, e.g. "10" or "0.5"`,
      });
    } else settings.samplingPercentage = percent;
  }
  const fields = annotations[ACCESS_LOG_FIELDS_ANNOTATION];
  if (fields !== undefined) {
    const names = fields.split(",").map((field) => field.trim()).filter((field) => field !== "");
    const unknown = names.filter((field) => !(ACCESS_LOG_FIELDS as readonly string[]).includes(field));
    if (names.length === 0 || unknown.length > 0) {
      issues.push({
        code: "ERR_CONFIG_SCHEMA",
        resource: ref,
        path: `metadata.annotations["${ACCESS_LOG_FIELDS_ANNOTATION}"]`,
        message: `${names.length === 0 ? "no field named" : `unknown field${unknown.length > 1 ? "s" : ""} ${unknown.map((field) => `'${field}'`).join(", ")}`}: a comma-separated list of ${ACCESS_LOG_FIELDS.join(", ")}`,
      });
    } else settings.fields = [...new Set(names)];
  }
  return settings;
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => b[key] === a[key]);
}
