import { z } from "zod";
import { istioObject } from "./common.js";
import { CidrString, TARGET_REF_FIELDS, WildcardString, WorkloadSelector } from "./security-common.js";

/**
 * security.istio.io AuthorizationPolicy: ALLOW / DENY / AUDIT rules over the caller's identity
 * (peer SPIFFE ID, request JWT), the operation (host, method, path, port) and conditions.
 * `CUSTOM` (external authorizers) and `targetRef(s)` are not supported yet.
 */

const list = (item: z.ZodType<string>) => z.array(item).min(1, "an empty list matches nothing; remove the field instead").optional();

export const Source = istioObject({
  principals: list(WildcardString),
  notPrincipals: list(WildcardString),
  requestPrincipals: list(WildcardString),
  notRequestPrincipals: list(WildcardString),
  namespaces: list(WildcardString),
  notNamespaces: list(WildcardString),
  serviceAccounts: list(WildcardString),
  notServiceAccounts: list(WildcardString),
  ipBlocks: list(CidrString),
  notIpBlocks: list(CidrString),
  remoteIpBlocks: list(CidrString),
  notRemoteIpBlocks: list(CidrString),
});
export type Source = z.infer<typeof Source>;

const PortString = z.string().regex(/^\d{1,5}$/, "a port is a number written as a string, e.g. \"8080\"").refine((port) => Number(port) >= 1 && Number(port) <= 65535, "port must be 1..65535");

const PathPattern = WildcardString.superRefine((value, ctx) => {
  if (value.includes("{")) ctx.addIssue({ code: "custom", message: `'${value}': path templates ({*}, {**}) are not supported yet` });
  if (value !== "*" && !value.startsWith("/") && !value.startsWith("*")) ctx.addIssue({ code: "custom", message: `'${value}': a path starts with '/' (or '*' for a suffix match)` });
});

export const Operation = istioObject({
  hosts: list(WildcardString),
  notHosts: list(WildcardString),
  ports: list(PortString),
  notPorts: list(PortString),
  methods: list(WildcardString),
  notMethods: list(WildcardString),
  paths: list(PathPattern),
  notPaths: list(PathPattern),
});
export type Operation = z.infer<typeof Operation>;

/** The `when` keys this gateway can evaluate; others (destination.ip, connection.sni, experimental.*) are refused by name. */
export const CONDITION_KEY = /^(request\.headers\[[^\]]+\]|source\.ip|remote\.ip|source\.namespace|source\.principal|source\.serviceAccount|request\.auth\.principal|request\.auth\.audiences|request\.auth\.presenter|request\.auth\.claims(\[[^\]]+\])+|destination\.port)$/;
const KNOWN_UNSUPPORTED_KEYS = /^(destination\.ip|connection\.sni|experimental\..*)$/;

export const Condition = istioObject({
  key: z.string().superRefine((key, ctx) => {
    if (CONDITION_KEY.test(key)) return;
    ctx.addIssue({
      code: "custom",
      message: KNOWN_UNSUPPORTED_KEYS.test(key) ? `condition key '${key}' is not supported yet` : `unknown condition key '${key}'`,
    });
  }),
  values: list(z.string()),
  notValues: list(z.string()),
}).superRefine((condition, ctx) => {
  if (!condition.values && !condition.notValues) ctx.addIssue({ code: "custom", message: "a condition needs values or notValues" });
  if (/^(source|remote)\.ip$/.test(condition.key)) {
    for (const value of [...(condition.values ?? []), ...(condition.notValues ?? [])]) {
      if (!CidrString.safeParse(value).success) ctx.addIssue({ code: "custom", message: `'${value}' is not an IP address or CIDR block (key ${condition.key})` });
    }
  }
  if (condition.key === "destination.port") {
    for (const value of [...(condition.values ?? []), ...(condition.notValues ?? [])]) {
      if (!PortString.safeParse(value).success) ctx.addIssue({ code: "custom", message: `'${value}' is not a port (key destination.port)` });
    }
  }
});
export type Condition = z.infer<typeof Condition>;

export const Rule = istioObject({
  from: z.array(istioObject({ source: Source })).optional(),
  to: z.array(istioObject({ operation: Operation })).optional(),
  when: z.array(Condition).optional(),
});
export type Rule = z.infer<typeof Rule>;

export const AuthorizationPolicySpec = istioObject(
  {
    selector: WorkloadSelector.optional(),
    action: z
      .enum(["ALLOW", "DENY", "AUDIT", "CUSTOM"], { error: () => "action must be one of ALLOW, DENY, AUDIT" })
      .refine((action) => action !== "CUSTOM", "action CUSTOM (external authorization) is not supported yet")
      .default("ALLOW"),
    rules: z.array(Rule).optional(),
  },
  [...TARGET_REF_FIELDS, "provider"],
);
export type AuthorizationPolicySpec = z.infer<typeof AuthorizationPolicySpec>;
