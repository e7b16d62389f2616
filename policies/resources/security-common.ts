import { z } from "zod";
import { istioObject, Labels } from "./common.js";

/** Pieces shared by the security.istio.io resources. */

/** Istio's WorkloadSelector. With no workloads here, it selects gateways (see docs/security.md). */
export const WorkloadSelector = istioObject({ matchLabels: Labels.optional() });
export type WorkloadSelector = z.infer<typeof WorkloadSelector>;

/** Fields that attach a policy to a Kubernetes Gateway/Service object, which does not exist here. */
export const TARGET_REF_FIELDS = ["targetRef", "targetRefs"];

/** Istio's string match in security policies: exact, `prefix*`, `*suffix`, or `*` (presence). */
export const WildcardString = z.string().min(1, "a value cannot be empty").superRefine((value, ctx) => {
  const inner = value.length > 1 ? value.slice(1, -1) : "";
  if (inner.includes("*")) ctx.addIssue({ code: "custom", message: `'${value}': '*' is only allowed as the first or last character` });
  if (value.length > 1 && value.startsWith("*") && value.endsWith("*")) ctx.addIssue({ code: "custom", message: `'${value}': use either a leading or a trailing '*', not both` });
});

export const CidrString = z.string().superRefine((value, ctx) => {
  if (!isCidrOrIp(value)) ctx.addIssue({ code: "custom", message: `'${value}' is not an IP address or CIDR block` });
});

function isCidrOrIp(value: string): boolean {
  const [address, prefix, ...rest] = value.split("/");
  if (rest.length > 0 || address === undefined) return false;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  const bits = v4 ? 32 : address.includes(":") ? 128 : 0;
  if (bits === 0) return false;
  if (v4 && v4.slice(1).some((octet) => Number(octet) > 255 || (octet.length > 1 && octet.startsWith("0")))) return false;
  if (!v4 && !/^[0-9a-fA-F:.]+$/.test(address)) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= bits;
}
