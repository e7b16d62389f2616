import type { Context } from "hono";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { zodIssuesToConfigIssues } from "../../policies/resources/resource.js";
import { ApiError } from "../errors.js";

/**
 * Request bodies: read with a size bound (413 beyond it, checked on the declared length and on
 * the bytes actually read), UTF-8 only, in the media types the API speaks.
 */

export const RESOURCE_MEDIA_TYPES = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "application/json", "text/plain"] as const;
export const JSON_MEDIA_TYPES = ["application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"] as const;

export async function readTextBody(c: Context, maxBytes: number, mediaTypes: readonly string[]): Promise<string> {
  const contentType = c.req.header("content-type");
  if (contentType !== undefined) {
    const media = contentType.split(";")[0]!.trim().toLowerCase();
    if (!mediaTypes.includes(media)) {
      throw ApiError.of("unsupported_media_type", `content-type '${media}' is not accepted here; send ${mediaTypes.slice(0, 2).join(" or ")} (with curl: -H 'content-type: application/yaml' --data-binary @file.yaml)`);
    }
  }
  const declared = c.req.header("content-length");
  if (declared !== undefined && Number(declared) > maxBytes) throw tooLarge(maxBytes);
  const stream = c.req.raw.body;
  if (!stream) return "";
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw ApiError.of("bad_request", "the body is not valid UTF-8");
  }
}

/**
 * A small JSON request body (YAML accepted too), parsed with the YAML parser so that a syntax
 * error reports its line and column, then validated by `schema`.
 */
export async function readJsonBody<S extends z.ZodType>(c: Context, maxBytes: number, schema: S): Promise<z.output<S>> {
  const text = await readTextBody(c, maxBytes, JSON_MEDIA_TYPES);
  if (text.trim() === "") throw ApiError.of("bad_request", "the request needs a JSON body");
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    const issues = document.errors.map((error) => {
      const position = error.linePos?.[0];
      return {
        code: "ERR_CONFIG_PARSE" as const,
        path: "",
        message: `invalid JSON: ${error.message.split("\n")[0]}`,
        ...(position ? { source: { line: position.line, column: position.col } } : {}),
      };
    });
    const first = issues[0]!;
    throw ApiError.of("bad_request", first.source ? `${first.message} (line ${first.source.line}, column ${first.source.column})` : first.message, { issues });
  }
  const parsed = schema.safeParse(document.toJS());
  if (!parsed.success) {
    const issues = zodIssuesToConfigIssues(parsed.error.issues);
    throw ApiError.of("bad_request", `invalid request body: ${issues.map((issue) => `${issue.path || "body"}: ${issue.message}`).join("; ")}`, { issues });
  }
  return parsed.data;
}

/** Validates the query string with `schema`; 400 naming every bad parameter. */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.output<S> {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    const issues = zodIssuesToConfigIssues(parsed.error.issues);
    throw ApiError.of("bad_request", `invalid query: ${issues.map((issue) => `${issue.path || "query"}: ${issue.message}`).join("; ")}`, { issues });
  }
  return parsed.data;
}

function tooLarge(maxBytes: number): ApiError {
  return ApiError.of("payload_too_large", `the body is larger than the limit of ${maxBytes} bytes (MESH_MAX_BODY_BYTES)`);
}
