// The two ways a call to the network fails, split by what the caller may conclude.

export type EpnUnavailableKind = 'timeout' | 'unreachable' | 'server_error';

/**
 * We do not know what the network did: the request may or may not have been applied.
 * Callers must treat the outcome as unknown and resolve it by inquiry (by reference), not by
 * assuming failure.
 */
export class EpnUnavailableError extends Error {
  constructor(
    readonly kind: EpnUnavailableKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EpnUnavailableError';
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
