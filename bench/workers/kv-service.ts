/**
 * An in-memory, read-only KV namespace for workerd's `kvNamespace` binding, which sends each
 * operation to a service as HTTP: `GET /<key, URL-encoded>?urlencoded=true` for `get`
 * (as Miniflare's KV service implements it). The entries come as JSON `{ key: value }` in the
 * `KV_ENTRIES` text binding. Writes are refused: the bench only reads config.
 */
let entries: Record<string, string> | undefined;

export default {
  fetch(request: Request, env: { KV_ENTRIES: string }): Response {
    entries ??= JSON.parse(env.KV_ENTRIES) as Record<string, string>;
    if (request.method !== "GET") return new Response("read-only KV", { status: 405 });
    const url = new URL(request.url);
    const raw = url.pathname.slice(1);
    const key = url.searchParams.get("urlencoded") === "true" ? decodeURIComponent(raw) : raw;
    const value = Object.hasOwn(entries, key) ? entries[key] : undefined;
    return value === undefined ? new Response(null, { status: 404 }) : new Response(value);
  },
};
