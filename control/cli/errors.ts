import type { ConfigIssue } from "../../policies/errors.js";

/** meshctl's exit codes, the same for every command (see `meshctl --help`). */
export const EXIT = {
  ok: 0,
  /** The request was refused: invalid config, not found, conflict, stale If-Match, no permission. */
  refused: 1,
  /** Wrong flags or arguments, or an input file that cannot be read. */
  usage: 2,
  /** The control API (or a gateway) could not be reached, or failed. */
  unavailable: 3,
} as const;

/** A failure to report to the user: a message, the config issues behind it, and the exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.refused,
    readonly issues: readonly ConfigIssue[] = [],
    readonly hint?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}
