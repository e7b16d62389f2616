import { z } from "zod";
import { API_ERROR_STATUS } from "../errors.js";
import { ROUTES, type RouteSpec } from "./routes.js";
import "./schemas.js";

/**
 * The OpenAPI 3.1 document of the control API, generated from the route specs and the zod
 * schemas with zod 4's own JSON Schema output (OpenAPI 3.1 schemas are JSON Schema 2020-12).
 * Every schema given an `id` (`.meta({ id })`) becomes a component and is referenced by it.
 */

const COMPONENT = (id: string) => `#/components/schemas/${id}`;

const STATUS_TEXT: Record<number, string> = {
  400: "malformed body or query (with the parser's line and column), or an invalid config: every issue",
  401: "no or wrong bearer token",
  403: "a reader token used for a write",
  404: "no such resource, version or route",
  405: "the path does not accept this method (see Allow)",
  409: "the change would leave the config invalid, or the version cannot be restored",
  412: "If-Match names a version that is no longer current; nothing was changed",
  413: "the body is larger than the limit (MESH_MAX_BODY_BYTES, default 1 MiB)",
  415: "unsupported content-type",
  503: "the store could not be written (nothing changed), or no admin token is configured",
};

export type OpenApiDocument = Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };

let built: OpenApiDocument | undefined;

export function openApiDocument(): OpenApiDocument {
  built ??= build();
  return built;
}

function build(): OpenApiDocument {
  const registry = z.toJSONSchema(z.globalRegistry, { uri: COMPONENT, io: "input", unrepresentable: "any" });
  const schemas: Record<string, unknown> = {};
  for (const [id, schema] of Object.entries(registry.schemas)) {
    const { $schema: _schema, $id: _id, ...rest } = schema as Record<string, unknown>;
    schemas[id] = rest;
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of Object.values(ROUTES) as RouteSpec[]) {
    (paths[spec.path] ??= {})[spec.method] = operation(spec);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Edge mesh control API",
      version: "1",
      description:
        "istiod's role for the edge mesh: accepts Istio resources, validates and compiles them into immutable, content-addressed snapshots in Workers KV, keeps their history, and explains routing decisions. Every version is the snapshot's content hash; every answer carries the current one as ETag, and writes honour If-Match.",
    },
    servers: [{ url: "/" }],
    security: [{ bearer: [] }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "MESH_ADMIN_TOKEN (read and write) or MESH_READER_TOKEN (read only)" },
      },
      schemas,
    },
  };
}

function operation(spec: RouteSpec): Record<string, unknown> {
  const parameters: Record<string, unknown>[] = [];
  for (const [place, schema] of [["path", spec.params], ["query", spec.query]] as const) {
    if (!schema) continue;
    for (const [name, field] of Object.entries(schema.shape)) {
      const json = z.toJSONSchema(field as z.ZodType, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
      const { $schema: _schema, description, ...rest } = json;
      parameters.push({ name, in: place, required: place === "path" || !(field as z.ZodType).safeParse(undefined).success, ...(description ? { description } : {}), schema: rest });
    }
  }
  if (spec.ifMatch) {
    parameters.push({ name: "If-Match", in: "header", required: false, description: "the version this write is based on (as sent in ETag); 412 if it is no longer current", schema: { type: "string" } });
  }
  if (spec.access === "write") {
    parameters.push({ name: "X-Mesh-Author", in: "header", required: false, description: "who makes the change, recorded in the history (default: the token's role)", schema: { type: "string", maxLength: 100 } });
  }
  const responses: Record<string, unknown> = {
    200: {
      description: spec.ok.description,
      headers: { ETag: { description: "the current version", schema: { type: "string" } } },
      content: { [spec.ok.mediaType ?? "application/json"]: { schema: ref(spec.ok.schema) } },
    },
  };
  for (const status of [...new Set([...spec.errors, 401, 405])].sort()) {
    responses[status] = { description: STATUS_TEXT[status] ?? "error", content: { "application/json": { schema: { $ref: COMPONENT("Error") } } } };
  }
  return {
    operationId: spec.operationId,
    summary: spec.summary,
    description: `${spec.description}\n\nAccess: ${ACCESS_TEXT[spec.access]}.`,
    ...(parameters.length ? { parameters } : {}),
    ...(spec.body
      ? { requestBody: { required: true, description: spec.body.description, content: Object.fromEntries(spec.body.mediaTypes.map((type) => [type, { schema: ref(spec.body!.schema) }])) } }
      : {}),
    responses,
  };
}

const ACCESS_TEXT: Record<RouteSpec["access"], string> = {
  read: "admin or reader token",
  write: "admin token",
  issue: "admin token (any SPIFFE ID of the trust domain) or a workload registration token (the SPIFFE IDs registered for it); not the reader token",
  public: "none (public)",
};

function ref(schema: z.ZodType): Record<string, unknown> {
  const id = z.globalRegistry.get(schema)?.id;
  if (id) return { $ref: COMPONENT(id) };
  const { $schema: _schema, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
}

/** Statuses the API can answer, for tests. */
export const API_STATUSES = [...new Set(Object.values(API_ERROR_STATUS))];
