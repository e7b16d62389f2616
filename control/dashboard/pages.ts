import { Hono } from "hono";
import type { ControlEnv } from "../http/context.js";
import { DASHBOARD_SCRIPT } from "./client.js";
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_HTML } from "./page.js";

/**
 * `/__mesh/dashboard` (public, holds no config) and its script and style. Mounted under
 * `/__mesh` by the control app; its data comes from `GET /v1/dashboard` with a token.
 */
export function dashboardPages(): Hono<ControlEnv> {
  const pages = new Hono<ControlEnv>();
  const common = { "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-cache" };
  pages.get("/dashboard", (c) => c.body(DASHBOARD_HTML, 200, { ...common, "content-type": "text/html; charset=utf-8", "content-security-policy": DASHBOARD_CSP }));
  pages.get("/dashboard.js", (c) => c.body(DASHBOARD_SCRIPT, 200, { ...common, "content-type": "text/javascript; charset=utf-8" }));
  pages.get("/dashboard.css", (c) => c.body(DASHBOARD_CSS, 200, { ...common, "content-type": "text/css; charset=utf-8" }));
  return pages;
}
