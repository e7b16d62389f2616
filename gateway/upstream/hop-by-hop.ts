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

/**
 * One copy of the headers (`new Headers(incoming)`, a single runtime call), then delete the few
 * names that must not travel: found in one pass over the names, deleted only when present.
 */
function forwardable(incoming: Headers, platform: boolean): Headers {
  const out = new Headers(incoming);
  const connection = incoming.get("connection");
  let listed: Set<string> | undefined;
  if (connection !== null) {
    listed = new Set();
    for (const token of connection.split(",")) {
      const name = token.trim().toLowerCase();
      if (name) listed.add(name);
    }
  }
  // Header iteration yields lowercase names.
  incoming.forEach((_value, name) => {
    if (HOP_BY_HOP.has(name) || (platform && PLATFORM_HEADERS.has(name)) || listed?.has(name)) out.delete(name);
  });
  return out;
}

export function forwardableRequestHeaders(incoming: Headers): Headers {
  return forwardable(incoming, true);
}

export function forwardableResponseHeaders(incoming: Headers): Headers {
  return forwardable(incoming, false);
}
