import { z } from "zod";
import { AccessLogFilterError, compileAccessLogFilter } from "../telemetry/access-log-filter.js";
import { istioObject } from "./common.js";
import { TARGET_REF_FIELDS, WorkloadSelector } from "./security-common.js";

/**
 * telemetry.istio.io Telemetry, for access logging only: `selector.matchLabels` and
 * `accessLogging[]` with Istio's fields (`providers[].name`, `disabled`, `filter.expression`,
 * `match.mode`). Where it applies (root namespace = mesh-wide, a selector = the gateways whose
 * labels match) is worked out by the compiler (policies/snapshot/compile-telemetry.ts).
 *
 * Istio's accessLogging has no sampling or field selection; this project reads them from two
 * annotations (ACCESS_LOG_SAMPLING_ANNOTATION, ACCESS_LOG_FIELDS_ANNOTATION), so the resource
 * stays one that Istio itself accepts.
 */

/** The one access-log provider a gateway has: the JSON line on the worker's log (Istio's built-in `envoy` file provider). */
export const ACCESS_LOG_PROVIDER = "envoy";

const Provider = istioObject({
  name: z.string().refine((name) => name === ACCESS_LOG_PROVIDER, {
    error: (issue) =>
      `unknown access-log provider '${String(issue.input)}': a gateway has one, '${ACCESS_LOG_PROVIDER}' (the JSON line on the worker's log); MeshConfig extensionProviders are not supported yet`,
  }),
});

/** Istio's WorkloadMode: a gateway's requests are CLIENT ones (Istio: "if the workload is a gateway, selects this"). */
export const WORKLOAD_MODES = ["CLIENT_AND_SERVER", "CLIENT", "SERVER"] as const;

export const AccessLogging = istioObject({
  match: istioObject({
    mode: z.enum(WORKLOAD_MODES, { error: () => `match.mode must be one of ${WORKLOAD_MODES.join(", ")}` }).default("CLIENT_AND_SERVER"),
  }).optional(),
  providers: z.array(Provider).optional(),
  disabled: z.boolean().optional(),
  filter: istioObject({
    expression: z.string().superRefine((expression, ctx) => {
      try {
        compileAccessLogFilter(expression);
      } catch (error) {
        if (!(error instanceof AccessLogFilterError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message });
      }
    }),
  }).optional(),
});
export type AccessLogging = z.infer<typeof AccessLogging>;

export const TelemetrySpec = istioObject(
  {
    selector: WorkloadSelector.optional(),
    accessLogging: z.array(AccessLogging).optional(),
  },
  [...TARGET_REF_FIELDS, "tracing", "metrics"],
);
export type TelemetrySpec = z.infer<typeof TelemetrySpec>;

export const TELEMETRY_API_VERSIONS = ["telemetry.istio.io/v1", "telemetry.istio.io/v1alpha1"];
