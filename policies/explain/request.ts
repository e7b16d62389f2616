import type { RequestView } from "../routing/request-view.js";
import { normaliseRequestHost } from "../snapshot/hosts.js";

/**
 * Builds the RequestView the gateway would see for a described request, the way its
 * request-view stage does: the Host header (or the URL's host) lowercased, the path as the URL
 * parser normalises it (dot segments removed, percent-encoding kept), the scheme the client used
 * (the URL's; a client-sent `x-forwarded-proto` is not trusted at the edge), the port from the
 * authority or the scheme's default.
 */

export interface DescribedRequest {
  method: string;
  url: string;
  headers: Readonly<Record<string, string>>;
}

export type BuildRequestResult =
  | { ok: true; view: RequestView; headers: Map<string, string>; /** The query string with its `?`, or "". */ search: string }
  | { ok: false; message: string };

export function buildRequestView(request: DescribedRequest): BuildRequestResult {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(request.headers)) headers.set(name.toLowerCase(), value);
  let url: URL;
  try {
    if (request.url.startsWith("/")) {
      const host = headers.get("host");
      if (host === undefined) return { ok: false, message: `url '${request.url}' is a path: give an absolute URL or a 'host' header` };
      url = new URL(request.url, `http://${host}`);
    } else url = new URL(request.url);
  } catch {
    return { ok: false, message: `url '${request.url}' is not a valid URL` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { ok: false, message: `url scheme must be http or https (got '${url.protocol.slice(0, -1)}')` };
  const authority = (headers.get("host") ?? url.host).toLowerCase();
  if (authority === "") return { ok: false, message: "the request has no host" };
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  const portText = /:(\d+)$/.exec(authority)?.[1];
  const port = portText !== undefined ? Number(portText) : scheme === "https" ? 443 : 80;
  const query = url.searchParams;
  const view: RequestView = {
    host: normaliseRequestHost(authority),
    authority,
    path: url.pathname,
    method: request.method.toUpperCase(),
    scheme,
    port,
    header: (name) => headers.get(name.toLowerCase()) ?? null,
    query: (name) => query.get(name),
  };
  return { ok: true, view, headers, search: url.search };
}
