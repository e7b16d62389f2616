import { z } from "zod";

/**
 * Building blocks shared by the Istio resource schemas.
 *
 * Every object is strict: a field we do not know is rejected, and a field that Istio has but
 * this project does not implement yet is rejected with a message saying so, never ignored.
 */

export const UNSUPPORTED_FIELD_PREFIX = "not supported yet";

/** A strict object whose unknown keys produce a message that tells typos from unsupported Istio fields. */
export function istioObject<Shape extends z.ZodRawShape>(shape: Shape, unsupported: readonly string[] = []) {
  const known = new Set(unsupported);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== "unrecognized_keys") return undefined;
      return issue.keys
        .map((key) =>
          known.has(key)
            ? `field '${key}' is ${UNSUPPORTED_FIELD_PREFIX} (an Istio field this project does not implement)`
            : `unknown field '${key}'`,
        )
        .join("; ");
    },
  });
}

const DURATION_PART = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g;
const DURATION_WHOLE = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/;
const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 0.000001 };

/** Parses a Go/protobuf duration ("1s", "0.5s", "250ms", "1m30s") into milliseconds. */
export function parseDurationMs(text: string): number | undefined {
  if (!DURATION_WHOLE.test(text)) return undefined;
  let total = 0;
  for (const [, value, unit] of text.matchAll(DURATION_PART)) total += Number(value) * UNIT_MS[unit!]!;
  return total;
}

/** A duration string, parsed to milliseconds. */
export const Duration = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `invalid duration '${text}' (expected e.g. "1s", "250ms", "1m30s")` });
    return z.NEVER;
  }
  return ms;
});

/** Istio's Percent message: `{ value: 0..100 }`. */
export const Percent = istioObject({
  value: z.number().min(0, "percentage must be between 0 and 100").max(100, "percentage must be between 0 and 100"),
});

export const RegexString = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `invalid regex '${source}': ${(error as Error).message}` });
  }
});

/** Istio's StringMatch: exactly one of exact, prefix, regex. An empty object means "present". */
export const StringMatch = istioObject({
  exact: z.string().optional(),
  prefix: z.string().optional(),
  regex: RegexString.optional(),
}).superRefine((match, ctx) => {
  const set = ["exact", "prefix", "regex"].filter((key) => match[key as keyof typeof match] !== undefined);
  if (set.length > 1) ctx.addIssue({ code: "custom", message: `only one of exact, prefix, regex may be set (got ${set.join(", ")})` });
});
export type StringMatch = z.infer<typeof StringMatch>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export const ResourceName = z
  .string()
  .min(1, "name is required")
  .max(253)
  .regex(DNS_SUBDOMAIN, "must be a lowercase RFC 1123 subdomain (a-z, 0-9, '-', '.')");

export const NamespaceName = z
  .string()
  .min(1)
  .max(63)
  .regex(DNS_LABEL, "must be a lowercase RFC 1123 label (a-z, 0-9, '-')");

export const Labels = z.record(z.string(), z.string());

export const Metadata = istioObject(
  {
    name: ResourceName,
    namespace: NamespaceName.default("default"),
    labels: Labels.optional(),
    annotations: Labels.optional(),
  },
  ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "finalizers", "ownerReferences"],
);

/**
 * A hostname as Istio accepts it in `hosts` fields: a DNS name, optionally with a leading
 * `*.` wildcard, or `*` alone. Lowercased, as hosts are case-insensitive.
 */
export const HostName = z
  .string()
  .transform((host) => host.toLowerCase())
  .superRefine((host, ctx) => {
    if (host === "*") return;
    const bare = host.startsWith("*.") ? host.slice(2) : host;
    if (bare.includes("*")) {
      ctx.addIssue({ code: "custom", message: `host '${host}': a wildcard is only allowed as the leading '*.' label` });
      return;
    }
    if (bare.length === 0 || bare.length > 253 || !DNS_SUBDOMAIN.test(bare)) {
      ctx.addIssue({ code: "custom", message: `host '${host}' is not a valid DNS name` });
    }
  });

export const PortNumber = z.number().int().min(1, "port must be 1..65535").max(65535, "port must be 1..65535");

export const PortSelector = istioObject({ number: PortNumber });

export const Headers = istioObject({
  set: z.record(z.string(), z.string()).optional(),
  add: z.record(z.string(), z.string()).optional(),
  remove: z.array(z.string()).optional(),
});

/** Istio's Headers: request and response manipulations. */
export const HeaderOperations = istioObject({
  request: Headers.optional(),
  response: Headers.optional(),
});
export type HeaderOperations = z.infer<typeof HeaderOperations>;

/**
 * Istio's `exportTo`: here every resource is visible to every namespace (Istio's default, `*`),
 * so `["*"]` is accepted as a no-op and anything narrower is refused rather than ignored.
 */
export const ExportTo = z
  .array(z.string())
  .refine((namespaces) => namespaces.length === 1 && namespaces[0] === "*", {
    message: `exportTo other than ["*"] is ${UNSUPPORTED_FIELD_PREFIX}: every resource is visible to every namespace here (Istio's default)`,
  });
