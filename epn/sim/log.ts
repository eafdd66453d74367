// Logging for the simulator. A card number or CVC must never reach a log line: redaction covers
// the structured paths where a card could appear, and `scrubPan` is the backstop for free text
// (error messages, stacks) where a PAN could be echoed.
import { pino, destination, stdSerializers, type DestinationStream, type Level, type Logger } from 'pino';

export const EPN_REDACT_PATHS: readonly string[] = [
  'req.body.card.number',
  'req.body.card.cvc',
  'body.card.number',
  'body.card.cvc',
  'card.number',
  'card.cvc',
  '*.card.number',
  '*.card.cvc',
];

/** Replaces any 12–19 digit run (optionally spaced or dashed) with a marker. */
export function scrubPan(text: string): string {
  return text.replace(/\d(?:[ -]?\d){11,18}/g, '[REDACTED]');
}

function scrubbedErr(err: unknown): unknown {
  const out = stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
  for (const k of ['message', 'stack'] as const) {
    const v = out[k];
    if (typeof v === 'string') out[k] = scrubPan(v);
  }
  return out;
}

/** Wraps any pino logger with our redaction; child options replace the parent's redact paths. */
export function withCardRedaction(logger: Logger): Logger {
  return logger.child(
    {},
    {
      redact: { paths: [...EPN_REDACT_PATHS], censor: '[REDACTED]' },
      serializers: { err: scrubbedErr },
    },
  );
}

// Sync writes keep log lines ordered with the EPN_LISTENING marker main.ts writes to the same fd.
export function createEpnLogger(opts: { level?: Level | 'silent'; destination?: DestinationStream } = {}): Logger {
  const base = pino({ level: opts.level ?? 'info', name: 'epn' }, opts.destination ?? destination({ dest: 1, sync: true }));
  return withCardRedaction(base);
}
