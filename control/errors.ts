import type { ConfigIssue } from "../policies/errors.js";

/**
 * Every error the control API answers has one JSON shape:
 *
 *   { "error": { "code": "invalid_config", "message": "...", "issues": [ConfigIssue, ...] } }
 *
 * `code` is stable (clients branch on it), `message` is for people, `issues` lists every config
 * problem (resource, field path, message, and file/line when known). A handler refuses by
 * throwing an ApiError; one error handler renders it.
 */

export const API_ERROR_STATUS = {
  bad_request: 400,
  invalid_config: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  unavailable: 503,
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

export interface ApiErrorDetail {
  code: ApiErrorCode;
  message: string;
  issues?: ConfigIssue[];
  /** For `precondition_failed` and `conflict`: the version the store is at. */
  currentVersion?: string | null;
  /** For `method_not_allowed`: the methods the path accepts. */
  allowed?: string[];
  /** A stable code for why the mesh CA refused (`ERR_CA_...`), for clients to branch on. */
  reason?: string;
}

export interface ApiErrorBody {
  error: ApiErrorDetail;
}

export function apiError(code: ApiErrorCode, message: string, extra: Omit<ApiErrorDetail, "code" | "message"> = {}): ApiErrorBody {
  return { error: { code, message, ...extra } };
}

export function isApiErrorBody(value: unknown): value is ApiErrorBody {
  return typeof value === "object" && value !== null && "error" in value && typeof (value as ApiErrorBody).error?.code === "string";
}

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly body: ApiErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.error.message);
    this.name = "ApiError";
    this.status = API_ERROR_STATUS[body.error.code];
  }

  static of(code: ApiErrorCode, message: string, extra?: Omit<ApiErrorDetail, "code" | "message">, headers?: Record<string, string>): ApiError {
    return new ApiError(apiError(code, message, extra), headers);
  }
}
