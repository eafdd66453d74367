// Given/when/then for pure deciders, after emmett's DeciderSpecification, for tap.
//
//   const it = spec(intentDecider);
//   it.given(t, [created]).when(cancel).then([canceled]).thenState({ status: 'canceled' });
//   it.given(t, []).when(update).thenThrows('resource_missing');
//
// Every sequence a spec sees (the given events followed by the events decided) is kept in
// `sequences`, so a test can check a property over all of them.
import type { Test } from 'tap';
import { DomainError, fold, type Decider } from './decider.ts';

type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

export type StateExpectation<S> = ((state: S) => boolean) | DeepPartial<NonNullable<S>>;

export interface Then<E, S> {
  /** decide(command, fold(given)) deep-equals `expected` (strictly). */
  then(expected: E[]): Then<E, S>;
  /** decide wrote nothing. */
  thenNothing(): Then<E, S>;
  /** decide threw a DomainError with this code (and these fields, when given). */
  thenThrows(code: string, fields?: Partial<Pick<DomainError, 'param' | 'status'>>): void;
  /** The state after folding the given and the decided events satisfies the predicate or has these fields. */
  thenState(expected: StateExpectation<S>): Then<E, S>;
}

export interface Spec<C, E, S> {
  given(t: Test, events: readonly E[]): { when(command: C): Then<E, S> };
  /** Every given-then-decided sequence run so far. */
  readonly sequences: E[][];
}

export function spec<C, E, S>(decider: Decider<C, E, S>): Spec<C, E, S> {
  const sequences: E[][] = [];
  return {
    sequences,
    given: (t, given) => ({
      when(command) {
        const before = fold(decider, given);
        let outcome: { ok: true; events: E[] } | { ok: false; error: unknown } | undefined;
        const run = () => {
          if (outcome) return outcome;
          try {
            outcome = { ok: true, events: decider.decide(command, before) };
            sequences.push([...given, ...outcome.events]);
          } catch (error) {
            outcome = { ok: false, error };
          }
          return outcome;
        };
        const decided = (what: string): E[] | undefined => {
          const o = run();
          if (o.ok) return o.events;
          const e = o.error;
          t.fail(`${what}: decide threw ${e instanceof DomainError ? `DomainError(${e.code}): ${e.message}` : String(e)}`);
          return undefined;
        };
        const self: Then<E, S> = {
          then(expected) {
            const events = decided('expected events');
            if (events) t.strictSame(events, expected, 'decides the expected events');
            return self;
          },
          thenNothing() {
            const events = decided('expected no events');
            if (events) t.strictSame(events, [], 'decides nothing');
            return self;
          },
          thenThrows(code, fields = {}) {
            const o = run();
            if (o.ok) {
              t.fail(`expected DomainError(${code}), decided ${JSON.stringify(o.events)}`);
              return;
            }
            if (!(o.error instanceof DomainError)) {
              t.fail(`expected DomainError(${code}), threw ${String(o.error)}`);
              return;
            }
            t.equal(o.error.code, code, `refused with ${code}`);
            if (Object.keys(fields).length > 0) t.hasStrict(o.error, fields, 'error fields');
          },
          thenState(expected) {
            const events = decided('expected a state');
            if (!events) return self;
            const after = fold(decider, events, before);
            if (typeof expected === 'function') t.ok(expected(after), 'state satisfies the predicate');
            else t.hasStrict(after, expected as object, 'state has the expected fields');
            return self;
          },
        };
        return self;
      },
    }),
  };
}
