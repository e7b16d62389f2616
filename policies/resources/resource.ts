import { z } from "zod";
import type { ConfigIssue, ResourceRef } from "../errors.js";
import { formatFieldPath } from "../errors.js";
import { istioObject, Metadata, UNSUPPORTED_FIELD_PREFIX } from "./common.js";
import { AuthorizationPolicySpec } from "./authorization-policy.js";
import { DestinationRuleSpec } from "./destination-rule.js";
import { EgressCredentialSpec } from "./egress-credential.js";
import { GatewaySpec } from "./gateway.js";
import { MeshConfigSpec } from "./mesh-config.js";
import { PeerAuthenticationSpec } from "./peer-authentication.js";
import { RequestAuthenticationSpec } from "./request-authentication.js";
import { ServiceEntrySpec } from "./service-entry.js";
import { TELEMETRY_API_VERSIONS, TelemetrySpec } from "./telemetry.js";
import { VirtualServiceSpec } from "./virtual-service.js";

/** The envelope every resource shares, and the one parser that turns a plain object into a typed resource. */

export const NETWORKING_API_VERSIONS = ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"];

const versioned = <Kind extends string, Spec extends z.ZodType>(versions: string[], kind: Kind, spec: Spec) =>
  istioObject({
    apiVersion: z.enum(versions as [string, ...string[]], {
      error: () => `apiVersion for ${kind} must be one of ${versions.join(", ")}`,
    }),
    kind: z.literal(kind),
    metadata: Metadata,
    spec: spec,
  }, ["status"]);

const networking = <Kind extends string, Spec extends z.ZodType>(kind: Kind, spec: Spec) => versioned(NETWORKING_API_VERSIONS, kind, spec);

export const GatewayResource = networking("Gateway", GatewaySpec);
export const VirtualServiceResource = networking("VirtualService", VirtualServiceSpec);
export const DestinationRuleResource = networking("DestinationRule", DestinationRuleSpec);
export const ServiceEntryResource = networking("ServiceEntry", ServiceEntrySpec);

export const SECURITY_API_VERSIONS = ["security.istio.io/v1", "security.istio.io/v1beta1"];
export const MESH_API_VERSIONS = ["mesh.istio.io/v1alpha1"];

export const AuthorizationPolicyResource = versioned(SECURITY_API_VERSIONS, "AuthorizationPolicy", AuthorizationPolicySpec);
export const RequestAuthenticationResource = versioned(SECURITY_API_VERSIONS, "RequestAuthentication", RequestAuthenticationSpec);
export const PeerAuthenticationResource = versioned(SECURITY_API_VERSIONS, "PeerAuthentication", PeerAuthenticationSpec);
export const MeshConfigResource = versioned(MESH_API_VERSIONS, "MeshConfig", MeshConfigSpec);
export const EgressCredentialResource = versioned(MESH_API_VERSIONS, "EgressCredential", EgressCredentialSpec);
export const TelemetryResource = versioned(TELEMETRY_API_VERSIONS, "Telemetry", TelemetrySpec);

export type GatewayResource = z.infer<typeof GatewayResource>;
export type VirtualServiceResource = z.infer<typeof VirtualServiceResource>;
export type DestinationRuleResource = z.infer<typeof DestinationRuleResource>;
export type ServiceEntryResource = z.infer<typeof ServiceEntryResource>;
export type AuthorizationPolicyResource = z.infer<typeof AuthorizationPolicyResource>;
export type RequestAuthenticationResource = z.infer<typeof RequestAuthenticationResource>;
export type PeerAuthenticationResource = z.infer<typeof PeerAuthenticationResource>;
export type MeshConfigResource = z.infer<typeof MeshConfigResource>;
export type EgressCredentialResource = z.infer<typeof EgressCredentialResource>;
export type TelemetryResource = z.infer<typeof TelemetryResource>;
export type MeshResource =
  | GatewayResource
  | VirtualServiceResource
  | DestinationRuleResource
  | ServiceEntryResource
  | AuthorizationPolicyResource
  | RequestAuthenticationResource
  | PeerAuthenticationResource
  | MeshConfigResource
  | EgressCredentialResource
  | TelemetryResource;
export type MeshResourceKind = MeshResource["kind"];

const SCHEMAS: Record<MeshResourceKind, z.ZodType<MeshResource>> = {
  Gateway: GatewayResource,
  VirtualService: VirtualServiceResource,
  DestinationRule: DestinationRuleResource,
  ServiceEntry: ServiceEntryResource,
  AuthorizationPolicy: AuthorizationPolicyResource,
  RequestAuthentication: RequestAuthenticationResource,
  PeerAuthentication: PeerAuthenticationResource,
  MeshConfig: MeshConfigResource,
  EgressCredential: EgressCredentialResource,
  Telemetry: TelemetryResource,
};

export const RESOURCE_KINDS = Object.keys(SCHEMAS) as MeshResourceKind[];

/** Istio kinds not implemented yet: named so users get a precise answer. */
const KNOWN_BUT_UNSUPPORTED_KINDS = new Set([
  "Sidecar",
  "EnvoyFilter",
  "WorkloadEntry",
  "WorkloadGroup",
  "ProxyConfig",
  "WasmPlugin",
]);

export function resourceRefOf(resource: MeshResource): ResourceRef {
  return { kind: resource.kind, namespace: resource.metadata.namespace, name: resource.metadata.name };
}

export type ParseResourceResult = { ok: true; resource: MeshResource } | { ok: false; issues: ConfigIssue[] };

/** Parses one plain object (from YAML or JSON) into a typed resource, or every issue found in it. */
export function parseResource(input: unknown): ParseResourceResult {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { ok: false, issues: [{ code: "ERR_CONFIG_SCHEMA", path: "", message: "a resource must be an object with apiVersion, kind, metadata and spec" }] };
  }
  const raw = input as Record<string, unknown>;
  const kind = raw.kind;
  const meta = (typeof raw.metadata === "object" && raw.metadata !== null ? raw.metadata : {}) as Record<string, unknown>;
  const ref: ResourceRef = {
    kind: typeof kind === "string" ? kind : "<no kind>",
    namespace: typeof meta.namespace === "string" ? meta.namespace : "default",
    name: typeof meta.name === "string" ? meta.name : "<no name>",
  };
  if (typeof kind !== "string" || !(kind in SCHEMAS)) {
    const message =
      typeof kind !== "string"
        ? "kind is required"
        : KNOWN_BUT_UNSUPPORTED_KINDS.has(kind)
          ? `kind '${kind}' is ${UNSUPPORTED_FIELD_PREFIX} (an Istio kind this project does not implement)`
          : `unknown kind '${kind}' (supported: ${RESOURCE_KINDS.join(", ")})`;
    return { ok: false, issues: [{ code: "ERR_CONFIG_UNKNOWN_KIND", resource: ref, path: "kind", message }] };
  }
  const parsed = SCHEMAS[kind as MeshResourceKind].safeParse(input);
  if (parsed.success) return { ok: true, resource: parsed.data };
  return { ok: false, issues: zodIssuesToConfigIssues(parsed.error.issues, ref) };
}

/** Flattens zod's issues (including nested union branches) into one ConfigIssue per field. */
export function zodIssuesToConfigIssues(issues: readonly z.core.$ZodIssue[], resource?: ResourceRef): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") {
      const messages = issue.message.split("; ");
      issue.keys.forEach((key, index) => {
        const message = messages[index] ?? `unknown field '${key}'`;
        out.push({
          code: message.includes(UNSUPPORTED_FIELD_PREFIX) ? "ERR_CONFIG_UNSUPPORTED_FIELD" : "ERR_CONFIG_SCHEMA",
          ...(resource ? { resource } : {}),
          path: formatFieldPath([...issue.path, key]),
          message,
        });
      });
      continue;
    }
    out.push({ code: "ERR_CONFIG_SCHEMA", ...(resource ? { resource } : {}), path: formatFieldPath(issue.path), message: issue.message });
  }
  return out;
}
