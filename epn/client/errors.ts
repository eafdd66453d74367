// The two ways a call to the network fails, split by what the caller may conclude.

export type EpnUnavailableKind = 'timeout' | 'unreachable' | 'server_error';

/**
 * We do not know what the network did: the request may or may not have been applied.
 * Callers must treat the outcome as unknown and resolve it by inquiry (by reference), not by
 * assuming failure.
 */
export class EpnUnavailableError extends Error {
  /**
   * degrade: true only when the network surely did not execute the request: the connection was
   * refused before a byte was sent, or the network answered 503 `outage` (refused at its door).
   * A timeout, a reset or any other 5xx stays unknown (false).
   */
  readonly notExecuted: boolean;
  constructor(
    readonly kind: EpnUnavailableKind,
    message: string,
    options?: { cause?: unknown; notExecuted?: boolean },
  ) {
    super(message, options);
    this.name = 'EpnUnavailableError';
    this.notExecuted = options?.notExecuted ?? false;
  }
}

/** The network answered and refused (4xx): nothing happened, and retrying the same call will not help. */
export class EpnRejectedError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'EpnRejectedError';
  }
}
