/**
 * Telemetry never carries secrets. Headers are never copied into logs or spans wholesale; the
 * one place a credential can hide in what is recorded is the query string (`?access_token=`,
 * `?api_key=`, a presigned URL's `X-Amz-Signature`), so values of parameters whose names look
 * like credentials are replaced before a path is logged or put on a span.
 */

export const REDACTED = "REDACTED";

const SENSITIVE_PARAMETER = /(token|secret|passw|pwd|api[-_]?key|apikey|access[-_]?key|private[-_]?key|signature|^sig$|credential|^auth|session|^code$|jwt|assertion)/i;

export function isSensitiveParameter(name: string): boolean {
  return SENSITIVE_PARAMETER.test(name);
}

/** `/cb?code=abc&state=x` → `/cb?code=REDACTED&state=x`; a path without a query is returned as is. */
export function redactPathAndQuery(pathAndQuery: string): string {
  const start = pathAndQuery.indexOf("?");
  if (start === -1) return pathAndQuery;
  const query = pathAndQuery.slice(start + 1);
  const parts = query.split("&").map((part) => {
    const eq = part.indexOf("=");
    const rawName = eq === -1 ? part : part.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, " "));
    } catch {
      // A malformed escape: judge the name as written.
    }
    return eq !== -1 && isSensitiveParameter(name) ? `${rawName}=${REDACTED}` : part;
  });
  return `${pathAndQuery.slice(0, start)}?${parts.join("&")}`;
}
