import { openApiDocument } from "./openapi.js";

/**
 * The HTML reference of the API, rendered once from the same OpenAPI document: no script, no
 * external assets, readable without a token (it documents the API; it holds no config).
 */

let page: string | undefined;

export function referencePage(): string {
  page ??= render();
  return page;
}

interface Operation {
  operationId: string;
  summary: string;
  description: string;
  parameters?: { name: string; in: string; required: boolean; description?: string; schema: Record<string, unknown> }[];
  requestBody?: { description: string; content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: Record<string, unknown> }> }>;
}

function render(): string {
  const document = openApiDocument();
  const info = document.info as { title: string; description: string };
  const sections: string[] = [];
  const index: string[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, value] of Object.entries(methods)) {
      const operation = value as Operation;
      index.push(`<li><a href="#${operation.operationId}"><code>${method.toUpperCase()} ${escape(path)}</code></a> — ${escape(operation.summary)}</li>`);
      const parameters = operation.parameters?.length
        ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr>${operation.parameters
            .map((parameter) => `<tr><td><code>${escape(parameter.name)}</code></td><td>${parameter.in}</td><td>${escape(typeOf(parameter.schema))}</td><td>${parameter.required ? "yes" : "no"}</td><td>${escape(parameter.description ?? "")}</td></tr>`)
            .join("")}</table>`
        : "";
      const body = operation.requestBody
        ? `<h4>Body</h4><p>${escape(operation.requestBody.description)}</p><p>${Object.entries(operation.requestBody.content)
            .map(([type, media]) => `<code>${escape(type)}</code>: ${escape(typeOf(media.schema))}`)
            .join("<br>")}</p>`
        : "";
      const responses = `<h4>Responses</h4><table><tr><th>status</th><th>meaning</th><th>body</th></tr>${Object.entries(operation.responses)
        .map(([status, response]) => `<tr><td>${status}</td><td>${escape(response.description)}</td><td>${escape(bodyOf(response.content))}</td></tr>`)
        .join("")}</table>`;
      sections.push(
        `<section id="${operation.operationId}"><h3><span class="method">${method.toUpperCase()}</span> <code>${escape(path)}</code></h3><p><strong>${escape(operation.summary)}.</strong> ${escape(operation.description).replace(/\n\n/g, "</p><p>")}</p>${parameters}${body}${responses}</section>`,
      );
    }
  }
  const schemas = Object.keys((document.components as { schemas: Record<string, unknown> }).schemas)
    .map((id) => `<code>${escape(id)}</code>`)
    .join(", ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(info.title)}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{font:13px ui-monospace,monospace;background:#f3f3f3;padding:0 .2em}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}
section{border-top:1px solid #ccc;margin-top:1.5rem}.method{font-family:ui-monospace,monospace;color:#05a}
</style></head><body>
<h1>${escape(info.title)}</h1>
<p>${escape(info.description)}</p>
<p>Every <code>/v1/</code> call needs <code>Authorization: Bearer &lt;token&gt;</code>. Errors have one shape:
<code>{"error": {"code", "message", "issues"?: [{"code", "resource", "path", "message", "source"}]}}</code>.
The machine-readable description is <a href="/v1/openapi.json"><code>GET /v1/openapi.json</code></a> (OpenAPI 3.1, bearer token required).</p>
<h2>Operations</h2><ul>${index.join("")}</ul>
${sections.join("\n")}
<h2>Schemas</h2><p>${schemas} (in <code>components.schemas</code> of the OpenAPI document).</p>
</body></html>`;
}

function bodyOf(content: Record<string, { schema: Record<string, unknown> }> | undefined): string {
  const [type, media] = Object.entries(content ?? {})[0] ?? [];
  if (!type || !media) return "";
  return type === "application/json" ? typeOf(media.schema) : `${typeOf(media.schema)} (${type})`;
}

function typeOf(schema: Record<string, unknown>): string {
  if (typeof schema.$ref === "string") return schema.$ref.split("/").pop()!;
  if (Array.isArray(schema.enum)) return schema.enum.map((value) => JSON.stringify(value)).join(" | ");
  if (Array.isArray(schema.type)) return schema.type.join(" | ");
  return typeof schema.type === "string" ? schema.type : "JSON";
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (char) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[char]!);
}
