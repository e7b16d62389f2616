/**
 * The runtime's limit: a worker that only forwards each request to the upstream (`UPSTREAM`,
 * e.g. `http://127.0.0.1:8080`), with its method, headers and body, and returns the answer.
 */
export default {
  fetch(request: Request, env: { UPSTREAM: string }): Promise<Response> {
    const url = new URL(request.url);
    return fetch(new Request(env.UPSTREAM + url.pathname + url.search, request));
  },
};
