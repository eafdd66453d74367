// The shape every actor shares: pure functions, no clock, no randomness, no I/O.
// `now` (unix seconds) and new ids ride on the command.

export interface Decider<C, E, S> {
  readonly initialState: S;
  /** Events the command causes; [] when it changes nothing (a repeat). Throws DomainError on a refused command. */
  decide(command: C, state: S): E[];
  evolve(state: S, event: E): S;
}

/** A command the aggregate refuses. `code` is Stripe's error code where Stripe has one. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly param?: string,
    /** HTTP status the API answers with. */
    readonly status: number = 400,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export function assertNever(x: never): never {
  throw new Error(`unexpected: ${JSON.stringify(x)}`);
}

export function fold<E, S>(d: Pick<Decider<unknown, E, S>, 'evolve' | 'initialState'>, events: readonly E[], from: S = d.initialState): S {
  return events.reduce(d.evolve, from);
}
