// Encoding and decoding of commits, checked against the catalogue with ajv.
import { Ajv, type ValidateFunction } from 'ajv';
import { Type } from '@sinclair/typebox';
import type { Commit } from './envelope.ts';
import { eventSchemas } from './catalogue.ts';

export class CommitSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommitSchemaError';
  }
}

const ajv = new Ajv({ allErrors: false, strict: false });

const envelope = ajv.compile(
  Type.Object({
    v: Type.Literal(1),
    id: Type.String(),
    aggregate: Type.Union([Type.Literal('intent'), Type.Literal('merchant'), Type.Literal('customer'), Type.Literal('setup_intent'), Type.Literal('product'), Type.Literal('payment_link'), Type.Literal('coupon')]),
    aggregate_id: Type.String(),
    merchant_id: Type.String(),
    command: Type.String(),
    request_id: Type.Union([Type.String(), Type.Null()]),
    correlation_id: Type.Union([Type.String(), Type.Null()]),
    at: Type.Integer(),
    applied: Type.Optional(Type.Record(Type.String(), Type.Tuple([Type.Integer(), Type.String(), Type.Integer()]))),
    events: Type.Array(
      Type.Object({ id: Type.String({ pattern: '^evt_' }), v: Type.Integer(), type: Type.String(), at: Type.Integer(), data: Type.Any() }, { additionalProperties: false }),
      { minItems: 1 },
    ),
    state: Type.Object({}),
  }),
);

const dataValidators = new Map<string, { v: number; check: ValidateFunction }>(
  Object.entries(eventSchemas).map(([type, s]) => [type, { v: s.v, check: ajv.compile(s.data) }]),
);

export function validateCommit(c: unknown): asserts c is Commit {
  if (!envelope(c)) throw new CommitSchemaError(`commit envelope: ${ajv.errorsText(envelope.errors)}`);
  for (const e of (c as Commit).events) {
    const s = dataValidators.get(e.type);
    if (!s) throw new CommitSchemaError(`unknown event type ${e.type}`);
    if (e.v !== s.v) throw new CommitSchemaError(`${e.type} v${e.v}: this build reads v${s.v}`);
    if (!s.check(e.data)) throw new CommitSchemaError(`${e.type}: ${ajv.errorsText(s.check.errors)}`);
  }
}

const dec = new TextDecoder();

export function encodeCommit(c: Commit): Uint8Array {
  validateCommit(c);
  // The UTF-8 bytes TextEncoder gives, made cheaper on Node 20 (nats/encode-patch.ts says why).
  return Buffer.from(JSON.stringify(c), 'utf8');
}

export function decodeCommit(data: Uint8Array): Commit {
  const c: unknown = JSON.parse(dec.decode(data));
  validateCommit(c);
  return c;
}
