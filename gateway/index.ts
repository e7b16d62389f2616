// Temporary stub: replaced by the real ingress worker.
export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__mesh/healthz") return Response.json({ status: "ok", configVersion: null });
    return new Response("stub", { status: 404 });
  },
};
