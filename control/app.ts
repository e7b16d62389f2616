import { Hono, type Context } from "hono";
import { PROMETHEUS_CONTENT_TYPE } from "../policies/telemetry/prometheus-text.js";
import { openApiDocument } from "./api/openapi.js";
import { referencePage } from "./api/reference.js";
import { honoPath, ROUTES, type RouteSpec } from "./api/routes.js";
import { ExplainRequest, ResourcePath, RollbackRequest, type DashboardResult } from "./api/schemas.js";
import { dashboardData, gatewayTargets } from "./dashboard/data.js";
import { dashboardPages } from "./dashboard/pages.js";
import { CONFIG_STORE_NAME, parseControlSettings, type ControlBindings } from "./env.js";
import { ApiError, apiError, type ApiErrorCode } from "./errors.js";
import { registerCaRoutes } from "./ca/routes.js";
import { bearerAuth, requireRole } from "./http/auth.js";
import { readJsonBody, readQuery, readTextBody, RESOURCE_MEDIA_TYPES } from "./http/body.js";
import type { ControlEnv } from "./http/context.js";
import { etagOf, parseIfMatch } from "./http/if-match.js";
import type { StoreClient } from "./store/client.js";
import type { StoreAnswer } from "./store/config-store.js";
import type { SealedSnapshot } from "./store/version.js";
import { controlMetricsText } from "./telemetry/control-metrics.js";

/**
 * The control API worker (istiod's role): a small Hono app. Handlers validate every input with
 * zod, call the ConfigStore Durable Object (the one place writes happen), and answer JSON with
 * the current version as ETag. Refusals are thrown as ApiError and rendered in one shape.
 */

export interface ControlDependencies {
  /** The store to call; default the ConfigStore Durable Object bound as CONFIG_STORE. */
  store?: (env: ControlBindings) => StoreClient;
  log?: (line: Record<string, unknown>) => void;
  /** The CA's clock (tests). */
  now?: () => number;
}

export function createControlApp(dependencies: ControlDependencies = {}) {
  const storeOf = dependencies.store ?? durableStore;
  const log = dependencies.log ?? ((line: Record<string, unknown>) => console.log(JSON.stringify(line)));
  let settings: ReturnType<typeof parseControlSettings> | undefined;

  const app = new Hono<ControlEnv>();
  app.onError((error, c) => {
    if (error instanceof ApiError) return c.json(error.body, error.status as 400, error.headers);
    log({ event: "internal_error", method: c.req.method, path: c.req.path, message: (error as Error).message, stack: (error as Error).stack });
    return c.json(apiError("internal", "the control API failed to handle this request"), 500);
  });
  app.notFound((c) => c.json(apiError("not_found", `no API route ${c.req.method} ${c.req.path} (see /docs)`), 404));

  app.use("*", async function context(c, next) {
    settings ??= parseControlSettings(c.env);
    c.set("settings", settings);
    c.set("store", storeOf(c.env));
    await next();
  });

  // Public: the reference page (documentation, no config) and a liveness probe.
  app.get("/", (c) => c.redirect("/docs"));
  app.get("/docs", (c) => c.html(referencePage()));
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // Public too: the dashboard page and its script hold no config; the data it fetches needs a token (/v1/dashboard).
  app.route("/__mesh", dashboardPages());

  // The mesh CA: a public bundle, and SVIDs for the admin or a registration token (its own auth).
  registerCaRoutes(app, dependencies.now ? { now: dependencies.now } : {});

  app.use("/v1/*", bearerAuth());
  app.use("/v1/*", async function currentVersionTag(c, next) {
    await next();
    if (c.res.headers.has("etag")) return;
    const version = await c.var.store.currentVersion().catch(() => null);
    if (version) c.res.headers.set("etag", etagOf(version));
  });

  app.get("/v1/openapi.json", (c) => c.json(openApiDocument()));

  const route = (spec: RouteSpec & { access: "read" | "write" }, handler: (c: Context<ControlEnv>) => Promise<Response>) => {
    app.on(spec.method.toUpperCase(), honoPath(spec.path), async (c) => {
      requireRole(c.var.role, spec.access);
      return handler(c);
    });
  };

  route(ROUTES.apply, async (c) => {
    const query = readQuery(c, ROUTES.apply.query);
    const text = await readTextBody(c, c.var.settings.MESH_MAX_BODY_BYTES, RESOURCE_MEDIA_TYPES);
    const ifMatch = parseIfMatch(c.req.header("if-match"));
    return respond(c, await c.var.store.apply({ text, prune: query.prune === true, author: authorOf(c), ...optional("source", query.source), ...optional("ifMatch", ifMatch) }));
  });
  route(ROUTES.validate, async (c) => {
    const query = readQuery(c, ROUTES.validate.query);
    const text = await readTextBody(c, c.var.settings.MESH_MAX_BODY_BYTES, RESOURCE_MEDIA_TYPES);
    return respond(c, await c.var.store.validate({ text, prune: query.prune === true, ...optional("source", query.source) }));
  });
  route(ROUTES.listResources, async (c) => {
    const query = readQuery(c, ROUTES.listResources.query);
    return respond(c, await c.var.store.listResources({ ...optional("kind", query.kind), ...optional("namespace", query.namespace) }));
  });
  route(ROUTES.getResource, async (c) => respond(c, await c.var.store.getResource(resourcePath(c))));
  route(ROUTES.deleteResource, async (c) => {
    const ifMatch = parseIfMatch(c.req.header("if-match"));
    return respond(c, await c.var.store.delete(resourcePath(c), { author: authorOf(c), ...optional("ifMatch", ifMatch) }));
  });
  route(ROUTES.snapshot, async (c) => respond(c, await c.var.store.snapshot(readQuery(c, ROUTES.snapshot.query).version)));
  route(ROUTES.history, async (c) => respond(c, await c.var.store.history(readQuery(c, ROUTES.history.query).limit ?? 50)));
  route(ROUTES.diff, async (c) => {
    const query = readQuery(c, ROUTES.diff.query);
    return respond(c, await c.var.store.diff(query.from, query.to));
  });
  route(ROUTES.rollback, async (c) => {
    const body = await readJsonBody(c, c.var.settings.MESH_MAX_BODY_BYTES, RollbackRequest);
    const ifMatch = parseIfMatch(c.req.header("if-match"));
    return respond(c, await c.var.store.rollback(body.version, { author: authorOf(c), ...optional("ifMatch", ifMatch) }));
  });
  route(ROUTES.explain, async (c) => {
    const body = await readJsonBody(c, c.var.settings.MESH_MAX_BODY_BYTES, ExplainRequest);
    return respond(c, await c.var.store.explain(body));
  });
  route(ROUTES.dashboard, async (c) => {
    const answer = await c.var.store.snapshot();
    const snapshot = answer.status === 200 ? (answer.body as { snapshot: SealedSnapshot }).snapshot : undefined;
    const body: DashboardResult = await dashboardData({
      version: answer.status === 200 ? answer.version : null,
      snapshot,
      gateways: gatewayTargets(c.var.settings.MESH_GATEWAY_URLS, c.env.MESH_GATEWAY),
      metricsToken: c.env.MESH_GATEWAY_METRICS_TOKEN || undefined,
    });
    return c.json(body);
  });
  route(ROUTES.metrics, async (c) => {
    const text = controlMetricsText(await c.var.store.metrics());
    return c.body(text, 200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
  });

  // Known paths with a method they do not accept: 405 with Allow (registered after the routes).
  const allowed = new Map<string, string[]>([
    ["/v1/openapi.json", ["GET"]],
    ["/docs", ["GET"]],
    ["/healthz", ["GET"]],
  ]);
  for (const spec of Object.values(ROUTES) as RouteSpec[]) allowed.set(spec.path, [...(allowed.get(spec.path) ?? []), spec.method.toUpperCase()]);
  for (const [path, methods] of allowed) {
    app.all(honoPath(path), (c) => {
      throw ApiError.of("method_not_allowed", `${c.req.method} is not allowed on ${path} (allowed: ${methods.join(", ")})`, { allowed: methods }, { allow: methods.join(", ") });
    });
  }
  return app;
}

/** A Workers module whose app is built once per isolate. */
export function createControlWorker(dependencies: ControlDependencies = {}) {
  const app = createControlApp(dependencies);
  return {
    fetch(request: Request, env: ControlBindings, ctx: ExecutionContext): Response | Promise<Response> {
      return app.fetch(request, env, ctx);
    },
  };
}

function durableStore(env: ControlBindings): StoreClient {
  // The stub's RPC methods mirror ConfigStoreCore's (durable-object.ts); its generated types
  // cannot express the answers' `unknown` JSON, hence the cast.
  return env.CONFIG_STORE.get(env.CONFIG_STORE.idFromName(CONFIG_STORE_NAME)) as unknown as StoreClient;
}

function respond(c: Context<ControlEnv>, answer: StoreAnswer<unknown>): Response {
  if (answer.version) c.header("etag", etagOf(answer.version));
  return c.json(answer.body as object, answer.status as 200);
}

function resourcePath(c: Context<ControlEnv>) {
  const parsed = ResourcePath.safeParse(c.req.param());
  if (!parsed.success) throw ApiError.of("bad_request", `invalid resource path: ${parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")}`);
  return parsed.data;
}

/** `X-Mesh-Author` as given (printable, at most 100 characters), else the token's role. */
function authorOf(c: Context<ControlEnv>): string {
  const given = (c.req.header("x-mesh-author") ?? "").replace(/[^\x20-\x7e]/g, "").trim().slice(0, 100);
  return given || c.var.role;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

export type { ApiErrorCode };
