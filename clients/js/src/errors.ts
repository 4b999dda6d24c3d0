/**
 * Why a subscription ended (or why one attempt failed).
 *
 * `code` is the server's error code when it sent one (`unauthorized`,
 * `invalid_filter`, `invalid_last_event_id`, `tenant_disabled`, …), otherwise one
 * of the client's own: `http_error`, `not_event_stream`, `token_expired`,
 * `closed_by_server`, `stream_ended`, `idle_timeout`, `network_error`,
 * `get_token_failed`.
 */
export class BeaconError extends Error {
  /** The server's error code, or the client's (see above). */
  readonly code: string;
  /** The HTTP status, when the server answered with an error. */
  readonly status: number | undefined;
  /** True when the client gave up: the subscription is closed. */
  readonly fatal: boolean;

  constructor(
    message: string,
    options: { code: string; status?: number; fatal?: boolean; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BeaconError";
    this.code = options.code;
    this.status = options.status;
    this.fatal = options.fatal ?? false;
  }
}
