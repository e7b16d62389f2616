import { formatConfigIssue, type ConfigIssue } from "../../policies/errors.js";
import { isApiErrorBody } from "../errors.js";
import { CliError, EXIT } from "./errors.js";

/**
 * A thin client of the control API: one method per call, bearer token and author on every
 * request, and every refusal turned into a CliError with the server's message and issues.
 */

export interface ClientOptions {
  server: string;
  token: string | undefined;
  /** Recorded in the history as the author of writes. */
  author: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export interface RequestOptions {
  query?: Record<string, string | undefined>;
  body?: string;
  contentType?: string;
  ifMatch?: string;
  /** Maps the server's issue locations back to the user's files. */
  locate?: (issue: ConfigIssue) => ConfigIssue;
}

export interface Answer<T> {
  status: number;
  etag: string | undefined;
  body: T;
}

export class ControlClient {
  constructor(private readonly options: ClientOptions) {}

  get server(): string {
    return this.options.server;
  }

  async call<T>(method: string, path: string, request: RequestOptions = {}): Promise<Answer<T>> {
    if (!this.options.token) {
      throw new CliError(
        "no token: pass --token or set MESH_ADMIN_TOKEN",
        EXIT.usage,
        [],
        "`npm start` prints its local admin token and saves it in .mesh/admin-token, which meshctl reads when nothing else is set",
      );
    }
    const url = new URL(path.replace(/^\//, ""), this.options.server.endsWith("/") ? this.options.server : `${this.options.server}/`);
    for (const [name, value] of Object.entries(request.query ?? {})) if (value !== undefined) url.searchParams.set(name, value);
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: "application/json", "x-mesh-author": this.options.author };
    if (request.body !== undefined) headers["content-type"] = request.contentType ?? "application/json";
    if (request.ifMatch !== undefined) headers["if-match"] = `"${request.ifMatch.replace(/^"|"$/g, "")}"`;
    let response: Response;
    try {
      response = await (this.options.fetch ?? fetch)(url, {
        method,
        headers,
        ...(request.body !== undefined ? { body: request.body } : {}),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(
        `cannot reach the control API at ${this.options.server} (${reason})`,
        EXIT.unavailable,
        [],
        "is `npm start` running? Set MESH_CONTROL_URL or pass --server",
      );
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = text === "" ? undefined : JSON.parse(text);
    } catch {
      throw new CliError(`the control API answered ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`, EXIT.unavailable);
    }
    if (response.ok) return { status: response.status, etag: response.headers.get("etag")?.replace(/^"|"$/g, "") ?? undefined, body: body as T };
    if (isApiErrorBody(body)) {
      const issues = (body.error.issues ?? []).map(request.locate ?? ((issue) => issue));
      const hint =
        response.status === 401
          ? "check --token / MESH_ADMIN_TOKEN (npm start prints the local token and saves it in .mesh/admin-token)"
          : response.status === 412
            ? "read the current state again (meshctl get / history) and retry with --if-match set to the version you based your change on"
            : undefined;
      throw new CliError(`${body.error.message} [${response.status} ${body.error.code}]`, response.status >= 500 ? EXIT.unavailable : EXIT.refused, issues, hint);
    }
    throw new CliError(`the control API answered ${response.status}: ${text.slice(0, 200)}`, response.status >= 500 ? EXIT.unavailable : EXIT.refused);
  }
}

export function formatIssues(issues: readonly ConfigIssue[]): string[] {
  return issues.map((issue) => `  ${formatConfigIssue(issue)}`);
}
