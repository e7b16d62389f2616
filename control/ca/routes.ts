import type { Context, Hono } from "hono";
import { bindingPropsCaller, executionProps } from "../../policies/identity/binding-props.js";
import { JwtSvidRequest, X509SvidRequest } from "../api/schemas.js";
import { ApiError } from "../errors.js";
import { readJsonBody } from "../http/body.js";
import type { ControlEnv } from "../http/context.js";
import { honoPath, ROUTES } from "../api/routes.js";
import { CaConfigError, loadMeshCa, type MeshCa } from "./authority.js";
import { identifySvidCaller, registrationsOf, requireAllowed, type SvidCaller } from "./authorize.js";
import { CaRequestError, checkRequestedId, issueJwtSvidFor, issueX509SvidFromCsr } from "./issue.js";

/**
 * The mesh CA's routes, registered before the API's bearer authentication because they do their
 * own: `GET /v1/bundle` is public (it holds only public keys), `POST /v1/svid/*` accept the admin
 * token or a workload registration token (control/ca/authorize.ts). The CA is loaded from the
 * secrets once per isolate; without secrets, or with bad ones, these routes answer 503 with the
 * reason and the rest of the API keeps working.
 */

export interface CaRouteOptions {
  now?: () => number;
}

export function registerCaRoutes(app: Hono<ControlEnv>, options: CaRouteOptions = {}): void {
  const now = options.now ?? Date.now;
  let loaded: { key: string; ca: Promise<MeshCa> } | undefined;
  const caOf = async (c: Context<ControlEnv>): Promise<MeshCa> => {
    const { MESH_CA_KEY, MESH_CA_CERT, MESH_JWT_SVID_KEY } = c.var.settings;
    if (!MESH_CA_KEY || !MESH_CA_CERT || !MESH_JWT_SVID_KEY) {
      throw ApiError.of("unavailable", "the mesh CA is not configured: set the MESH_CA_KEY, MESH_CA_CERT and MESH_JWT_SVID_KEY secrets (npm start generates them locally)", { reason: "ERR_CA_NOT_CONFIGURED" });
    }
    const key = `${MESH_CA_KEY}\n${MESH_CA_CERT}\n${MESH_JWT_SVID_KEY}`;
    if (loaded?.key !== key) loaded = { key, ca: loadMeshCa({ caKeyPem: MESH_CA_KEY, caCertPem: MESH_CA_CERT, jwtKeyPem: MESH_JWT_SVID_KEY }) };
    try {
      return await loaded.ca;
    } catch (error) {
      if (error instanceof CaConfigError) throw ApiError.of("unavailable", error.message, { reason: "ERR_CA_NOT_CONFIGURED" });
      throw error;
    }
  };

  app.get(honoPath(ROUTES.bundle.path), async (c) => {
    const ca = await caOf(c);
    return c.json(ca.bundle, 200, { "cache-control": "public, max-age=300" });
  });

  /** Authenticates first (401/403 before the body is even read), then `allow` checks the SPIFFE ID. */
  const callerOf = async (c: Context<ControlEnv>) => {
    const tokens = { admin: nonEmpty(c.env.MESH_ADMIN_TOKEN), reader: nonEmpty(c.env.MESH_READER_TOKEN) };
    if (tokens.admin === undefined) throw ApiError.of("unavailable", "the control API has no MESH_ADMIN_TOKEN secret configured; every call is refused until it has one");
    const meshConfigs = await c.var.store.listResources({ kind: "MeshConfig" });
    const registrations = meshConfigs.status === 200 ? registrationsOf((meshConfigs.body as { items: Record<string, unknown>[] }).items) : [];
    return identifySvidCaller(c.req.header("authorization"), tokens, registrations, bindingPropsCaller(executionProps(c)));
  };
  const allow = (ca: MeshCa, caller: SvidCaller, spiffeId: string) => requireAllowed(caller, refusal(() => checkRequestedId(ca, spiffeId)).uri);

  app.post(honoPath(ROUTES.issueX509Svid.path), async (c) => {
    const ca = await caOf(c);
    const caller = await callerOf(c);
    const body = await readJsonBody(c, c.var.settings.MESH_MAX_BODY_BYTES, X509SvidRequest);
    allow(ca, caller, body.spiffeId);
    const issued = await refusalAsync(() => issueX509SvidFromCsr(ca, body, now()));
    log(c, "x509", issued.spiffeId, callerName(caller), issued.serialNumber);
    return c.json(issued, 200, { "cache-control": "no-store" });
  });

  app.post(honoPath(ROUTES.issueJwtSvid.path), async (c) => {
    const ca = await caOf(c);
    const caller = await callerOf(c);
    const body = await readJsonBody(c, c.var.settings.MESH_MAX_BODY_BYTES, JwtSvidRequest);
    allow(ca, caller, body.spiffeId);
    const issued = await refusalAsync(() => issueJwtSvidFor(ca, body, now()));
    log(c, "jwt", issued.spiffeId, callerName(caller), undefined, issued.audience);
    return c.json(issued, 200, { "cache-control": "no-store" });
  });
}

/** One line per SVID issued (never the token or certificate), for an audit trail. */
function log(c: Context<ControlEnv>, type: "x509" | "jwt", spiffeId: string, caller: string, serialNumber?: string, audience?: string[]): void {
  console.log(JSON.stringify({ event: "svid_issued", type, spiffe_id: spiffeId, caller, ...(serialNumber ? { serial_number: serialNumber } : {}), ...(audience ? { audience } : {}), path: c.req.path }));
}

function refusal<T>(run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw asApiError(error);
  }
}

async function refusalAsync<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw asApiError(error);
  }
}

function asApiError(error: unknown): unknown {
  return error instanceof CaRequestError ? ApiError.of("bad_request", error.message, { reason: error.code }) : error;
}

function nonEmpty(value: string | undefined): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

/** `admin`, `workload` (a registration token) or `service-binding` (attested by the platform). */
function callerName(caller: SvidCaller): string {
  return caller.kind === "workload" && caller.attested ? caller.attested : caller.kind;
}
