import { z } from "zod";
import {
  Duration,
  HeaderOperations,
  HostName,
  istioObject,
  Percent,
  PortNumber,
  PortSelector,
  RegexString,
  StringMatch,
  ExportTo,
} from "./common.js";

/** networking.istio.io VirtualService: how requests for a host are routed. */

export const Destination = istioObject({
  host: HostName.refine((host) => !host.includes("*"), "a destination host must be a concrete host, not a wildcard"),
  subset: z.string().min(1).optional(),
  port: PortSelector.optional(),
});
export type Destination = z.infer<typeof Destination>;

export const HTTPRouteDestination = istioObject({
  destination: Destination,
  weight: z.number().int().min(0, "weight must be >= 0").optional(),
  headers: HeaderOperations.optional(),
});

export const HTTPMatchRequest = istioObject(
  {
    name: z.string().optional(),
    uri: StringMatch.optional(),
    scheme: StringMatch.optional(),
    method: StringMatch.optional(),
    authority: StringMatch.optional(),
    headers: z.record(z.string(), StringMatch).optional(),
    port: PortNumber.optional(),
    gateways: z.array(z.string().min(1)).optional(),
    queryParams: z.record(z.string(), StringMatch).optional(),
    ignoreUriCase: z.boolean().optional(),
    withoutHeaders: z.record(z.string(), StringMatch).optional(),
  },
  ["sourceLabels", "sourceNamespace", "statPrefix"],
);
export type HTTPMatchRequest = z.infer<typeof HTTPMatchRequest>;

const REDIRECT_CODES = [301, 302, 303, 307, 308] as const;

export const HTTPRedirect = istioObject({
  uri: z.string().optional(),
  authority: z.string().optional(),
  port: PortNumber.optional(),
  derivePort: z.enum(["FROM_PROTOCOL_DEFAULT", "FROM_REQUEST_PORT"]).optional(),
  scheme: z.enum(["http", "https"]).optional(),
  redirectCode: z
    .number()
    .int()
    .refine((code) => (REDIRECT_CODES as readonly number[]).includes(code), "redirectCode must be one of 301, 302, 303, 307, 308")
    .optional(),
});

export const HTTPDirectResponse = istioObject({
  status: z.number().int().min(200, "status must be 200..599").max(599, "status must be 200..599"),
  body: istioObject({ string: z.string().optional(), bytes: z.base64().optional() })
    .refine((body) => (body.string === undefined) !== (body.bytes === undefined), "body needs exactly one of string, bytes")
    .optional(),
});

export const HTTPRewrite = istioObject({
  uri: z.string().optional(),
  authority: z.string().optional(),
  uriRegexRewrite: istioObject({ match: RegexString, rewrite: z.string() }).optional(),
}).refine((rewrite) => !(rewrite.uri !== undefined && rewrite.uriRegexRewrite !== undefined), "only one of uri, uriRegexRewrite may be set");

const RETRY_CONDITIONS = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

/** retryOn: a comma-separated list of Envoy retry conditions and plain HTTP status codes. */
export const RetryOn = z.string().transform((text, ctx) => {
  const conditions: string[] = [];
  const statusCodes: number[] = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    if (/^\d{3}$/.test(item) && Number(item) >= 100 && Number(item) <= 599) statusCodes.push(Number(item));
    else if (RETRY_CONDITIONS.has(item)) conditions.push(item);
    else {
      ctx.addIssue({
        code: "custom",
        message: `unknown retry condition '${item}' (expected an HTTP status code or one of ${[...RETRY_CONDITIONS].join(", ")})`,
      });
    }
  }
  return { conditions, statusCodes };
});

export const HTTPRetry = istioObject(
  {
    attempts: z.number().int().min(0, "attempts must be >= 0"),
    perTryTimeout: Duration.optional(),
    retryOn: RetryOn.optional(),
  },
  ["retryRemoteLocalities", "retryIgnorePreviousHosts", "backoff"],
);
export type HTTPRetry = z.infer<typeof HTTPRetry>;

export const HTTPFaultInjection = istioObject({
  delay: istioObject(
    {
      fixedDelay: Duration,
      percentage: Percent.optional(),
      percent: z.number().int().min(0).max(100).optional(),
    },
    ["exponentialDelay"],
  ).optional(),
  abort: istioObject(
    {
      httpStatus: z.number().int().min(200, "httpStatus must be 200..599").max(599, "httpStatus must be 200..599"),
      percentage: Percent.optional(),
    },
    ["grpcStatus", "http2Error"],
  ).optional(),
}).refine((fault) => fault.delay !== undefined || fault.abort !== undefined, "fault needs a delay or an abort");
export type HTTPFaultInjection = z.infer<typeof HTTPFaultInjection>;

export const CorsPolicy = istioObject({
  allowOrigins: z.array(StringMatch).optional(),
  allowMethods: z.array(z.string()).optional(),
  allowHeaders: z.array(z.string()).optional(),
  exposeHeaders: z.array(z.string()).optional(),
  maxAge: Duration.optional(),
  allowCredentials: z.boolean().optional(),
  unmatchedPreflights: z.enum(["FORWARD", "IGNORE"]).optional(),
}, ["allowOrigin"]);
export type CorsPolicy = z.infer<typeof CorsPolicy>;

export const HTTPRoute = istioObject(
  {
    name: z.string().optional(),
    match: z.array(HTTPMatchRequest).optional(),
    route: z.array(HTTPRouteDestination).min(1, "route needs at least one destination").optional(),
    redirect: HTTPRedirect.optional(),
    directResponse: HTTPDirectResponse.optional(),
    rewrite: HTTPRewrite.optional(),
    timeout: Duration.optional(),
    retries: HTTPRetry.optional(),
    fault: HTTPFaultInjection.optional(),
    mirror: Destination.optional(),
    mirrorPercentage: Percent.optional(),
    headers: HeaderOperations.optional(),
    corsPolicy: CorsPolicy.optional(),
  },
  ["delegate", "mirrors", "mirrorPercent", "mirror_percent"],
).superRefine((route, ctx) => {
  const actions = (["route", "redirect", "directResponse"] as const).filter((key) => route[key] !== undefined);
  if (actions.length === 0) ctx.addIssue({ code: "custom", message: "an http route needs one of route, redirect, directResponse" });
  if (actions.length > 1) ctx.addIssue({ code: "custom", message: `only one of route, redirect, directResponse may be set (got ${actions.join(", ")})` });
  if (route.rewrite && route.redirect) ctx.addIssue({ code: "custom", path: ["rewrite"], message: "rewrite cannot be used with redirect" });
});
export type HTTPRoute = z.infer<typeof HTTPRoute>;

export const VirtualServiceSpec = istioObject(
  {
    hosts: z.array(HostName).min(1, "a VirtualService needs at least one host"),
    exportTo: ExportTo.optional(),
    gateways: z.array(z.string().min(1)).optional(),
    http: z.array(HTTPRoute).optional(),
  },
  ["tls", "tcp"],
);
export type VirtualServiceSpec = z.infer<typeof VirtualServiceSpec>;
