import type { MiddlewareHandler } from "hono";
import { ApiError } from "../errors.js";
import type { ControlEnv, Role } from "./context.js";

/**
 * Bearer-token authentication for `/v1/`: the admin token (MESH_ADMIN_TOKEN) may read and write,
 * the reader token (MESH_READER_TOKEN, optional) may only read. Tokens are compared as SHA-256
 * digests in constant time, so neither their content nor their length leaks through timing.
 * Without an admin token configured, the API refuses everything (fails closed).
 */
export function bearerAuth(): MiddlewareHandler<ControlEnv> {
  return async function bearerAuth(c, next) {
    const admin = nonEmpty(c.env.MESH_ADMIN_TOKEN);
    const reader = nonEmpty(c.env.MESH_READER_TOKEN);
    if (admin === undefined) {
      throw ApiError.of("unavailable", "the control API has no MESH_ADMIN_TOKEN secret configured (set it with `wrangler secret put MESH_ADMIN_TOKEN`); every call is refused until it has one");
    }
    const header = c.req.header("authorization");
    if (header === undefined) throw unauthorized("missing 'Authorization: Bearer <token>'");
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) throw unauthorized("the Authorization header must be 'Bearer <token>'");
    const given = await sha256(match[1]!);
    const [isAdmin, isReader] = await Promise.all([sha256(admin).then((digest) => timingSafeEqual(given, digest)), reader === undefined ? false : sha256(reader).then((digest) => timingSafeEqual(given, digest))]);
    const role: Role | undefined = isAdmin ? "admin" : isReader ? "reader" : undefined;
    if (!role) throw unauthorized("the bearer token is not valid", "invalid_token");
    c.set("role", role);
    await next();
  };
}

/** Refuses a write to a reader (403). */
export function requireRole(role: Role | undefined, needed: "read" | "write"): void {
  if (needed === "write" && role !== "admin") throw ApiError.of("forbidden", "this token may only read: writes need the admin token");
}

function unauthorized(message: string, error?: string): ApiError {
  const challenge = `Bearer realm="mesh-control"${error ? `, error="${error}"` : ""}`;
  return ApiError.of("unauthorized", message, {}, { "www-authenticate": challenge });
}

function nonEmpty(value: string | undefined): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** workerd's crypto.subtle.timingSafeEqual when present, else a loop that always looks at every byte. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const subtle = crypto.subtle as SubtleCrypto & { timingSafeEqual?: (a: ArrayBufferView, b: ArrayBufferView) => boolean };
  if (typeof subtle.timingSafeEqual === "function" && a.byteLength === b.byteLength) return subtle.timingSafeEqual(a, b);
  let difference = a.byteLength ^ b.byteLength;
  for (let index = 0; index < Math.max(a.byteLength, b.byteLength); index++) difference |= (a[index] ?? 0) ^ (b[index] ?? 0);
  return difference === 0;
}
