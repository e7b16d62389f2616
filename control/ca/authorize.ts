import { z } from "zod";
import { timingSafeEqual } from "../http/auth.js";
import type { ServiceBindingCaller } from "../../policies/identity/binding-props.js";
import { ApiError } from "../errors.js";

/**
 * Who may obtain which SVID from the mesh CA:
 *
 * - the admin token: any workload SPIFFE ID of the CA's trust domain;
 * - a registration token: exactly the SPIFFE IDs of the MeshConfig's `workloadRegistrations`
 *   entries whose `tokenSha256` is the token's SHA-256;
 * - no token, through a Cloudflare service binding (attested by the platform): the binding's
 *   `ctx.props.spiffeId`, if a `workloadRegistrations` entry names it with `serviceBinding: true`;
 * - the reader token: nothing (403);
 * - anything else: 401.
 *
 * The presented token's SHA-256 is compared with every candidate digest in constant time, and
 * every comparison is made (no early exit), so neither which token nor how much of it matched
 * leaks through timing.
 */

export interface Registration {
  spiffeId: string;
  tokenSha256?: string | undefined;
  serviceBinding?: boolean | undefined;
}

export type SvidCaller = { kind: "admin" } | { kind: "workload"; spiffeIds: ReadonlySet<string>; attested?: "service-binding" };

const Registrations = z.array(z.object({ spiffeId: z.string(), tokenSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(), serviceBinding: z.boolean().optional() }));

/** `workloadRegistrations` of the stored MeshConfig (validated when it was applied; re-checked here). */
export function registrationsOf(meshConfigs: readonly Record<string, unknown>[]): Registration[] {
  const spec = (meshConfigs[0]?.spec ?? {}) as { workloadRegistrations?: unknown };
  const parsed = Registrations.safeParse(spec.workloadRegistrations ?? []);
  return parsed.success ? parsed.data : [];
}

export async function identifySvidCaller(
  header: string | undefined,
  tokens: { admin: string | undefined; reader: string | undefined },
  registrations: readonly Registration[],
  /** What a service binding's `ctx.props` says about the caller (none over HTTP). */
  binding: ServiceBindingCaller = { kind: "none" },
): Promise<SvidCaller> {
  if (header === undefined) {
    if (binding.kind === "invalid") throw ApiError.of("forbidden", binding.message, { reason: "ERR_CA_BINDING_PROPS" });
    if (binding.kind === "caller") {
      const spiffeId = binding.spiffeId.uri;
      if (registrations.some((registration) => registration.serviceBinding === true && registration.spiffeId === spiffeId)) {
        return { kind: "workload", spiffeIds: new Set([spiffeId]), attested: "service-binding" };
      }
      throw ApiError.of("forbidden", `no workloadRegistrations entry lets the service binding's '${spiffeId}' obtain an SVID (add { spiffeId: ${spiffeId}, serviceBinding: true })`, { reason: "ERR_CA_NOT_REGISTERED" });
    }
    throw unauthorized("missing 'Authorization: Bearer <token>' (the admin token or a workload registration token)");
  }
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!match) throw unauthorized("the Authorization header must be 'Bearer <token>'");
  const given = await sha256(match[1]!);
  const isAdmin = tokens.admin !== undefined && timingSafeEqual(given, await sha256(tokens.admin));
  const isReader = tokens.reader !== undefined && timingSafeEqual(given, await sha256(tokens.reader));
  const spiffeIds = new Set<string>();
  for (const registration of registrations) {
    if (registration.tokenSha256 !== undefined && timingSafeEqual(given, hexBytes(registration.tokenSha256))) spiffeIds.add(registration.spiffeId);
  }
  if (isAdmin) return { kind: "admin" };
  if (isReader) throw ApiError.of("forbidden", "the reader token may not obtain SVIDs: use the admin token or a workload registration token", { reason: "ERR_CA_READER_TOKEN" });
  if (spiffeIds.size > 0) return { kind: "workload", spiffeIds };
  throw unauthorized("the bearer token is neither the admin token nor a workload registration token", "invalid_token");
}

/** 403 unless the caller may obtain `spiffeId` (already checked to be a workload ID of the trust domain). */
export function requireAllowed(caller: SvidCaller, spiffeId: string): void {
  if (caller.kind === "admin" || caller.spiffeIds.has(spiffeId)) return;
  const who = caller.attested === "service-binding" ? "this service binding" : "this registration token";
  throw ApiError.of("forbidden", `${who} may not obtain '${spiffeId}' (it may obtain: ${[...caller.spiffeIds].sort().join(", ")})`, { reason: "ERR_CA_NOT_REGISTERED" });
}

function unauthorized(message: string, error?: string): ApiError {
  return ApiError.of("unauthorized", message, { reason: "ERR_CA_UNAUTHENTICATED" }, { "www-authenticate": `Bearer realm="mesh-control"${error ? `, error="${error}"` : ""}` });
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

function hexBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let index = 0; index < bytes.length; index++) bytes[index] = parseInt(hex.slice(index * 2, index * 2 + 2), 16);
  return bytes;
}
