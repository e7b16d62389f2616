/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded, nor
 * are the headers a `Connection` header names. Headers the runtime sets itself are dropped too.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Set by the platform (or, like `expect: 100-continue`, handled by it), never forwarded as is. */
const PLATFORM_HEADERS = new Set(["content-length", "host", "expect", "cf-connecting-ip", "cf-ipcountry", "cf-ray", "cf-visitor", "cf-worker", "x-real-ip"]);

function connectionListed(headers: Headers): Set<string> {
  const listed = new Set<string>();
  for (const token of (headers.get("connection") ?? "").split(",")) {
    const name = token.trim().toLowerCase();
    if (name) listed.add(name);
  }
  return listed;
}

export function forwardableRequestHeaders(incoming: Headers): Headers {
  const listed = connectionListed(incoming);
  const out = new Headers();
  incoming.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && !PLATFORM_HEADERS.has(name) && !listed.has(name)) out.append(name, value);
  });
  return out;
}

export function forwardableResponseHeaders(incoming: Headers): Headers {
  const listed = connectionListed(incoming);
  const out = new Headers();
  incoming.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name) && !listed.has(name)) out.append(name, value);
  });
  return out;
}
