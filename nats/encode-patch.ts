// Three fixes to how @nats-io/nats-core 3.4.0 and @nats-io/jetstream 3.4.0 turn text into bytes
// and back per message, applied at load time (node_modules is not ours to edit). Found with bench
// --cpu-prof: TextEncoder#encode on Node 20 is a call into C++ that costs several times
// Buffer.from(string, 'utf8') for the short strings involved (a protocol line, a header block), and
// it was ~1.2 % of the node's CPU.
//
// 1. encoders.encode(...strings), which ProtocolHandler.sendCommand calls for the protocol line of
//    every publish (`HPUB <subject> <reply> <hlen> <len>\r\n`), PING/PONG and CONNECT: the same bytes
//    (UTF-8, lone surrogates as U+FFFD in both) from Buffer.from.
// 2. MsgHdrsImpl#encode (the header block of every publish with headers): likewise.
// 3. BaseApiClientImpl#parseJsResponse (every JetStream API answer: publish acks, direct gets, KV
//    operations) built a new TextDecoder per answer; the replacement shares one and is otherwise the
//    upstream function.
//
// The bytes are a Buffer (a Uint8Array; small ones are slices of Node's shared pool). nats-core
// only reads them: it copies them into its outbound buffer or writes them to the socket.
// Each patch is applied only while the code it replaces is the code below (checked on the source
// text), so an upgrade that changes it leaves it alone (and test/nats-request-patch says so).
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

export interface EncodePatchState {
  encode: boolean;
  headersEncode: boolean;
  parseJsResponse: boolean;
}

const state: EncodePatchState = { encode: false, headersEncode: false, parseJsResponse: false };

const squash = (f: unknown) => String(f).replace(/\s+/g, '');

function libFile(pkg: string, file: string): string {
  return path.join(path.dirname(require.resolve(`${pkg}/internal`)), file);
}

function patchEncode(): void {
  const encoders = require(libFile('@nats-io/nats-core', 'encoders.js')) as { encode: (...a: string[]) => Uint8Array; Empty: Uint8Array; TE: TextEncoder };
  if (squash(encoders.encode) !== squash(UPSTREAM_ENCODE)) return;
  const { TE } = encoders;
  const one = (s: unknown): Uint8Array => (typeof s === 'string' ? Buffer.from(s, 'utf8') : TE.encode(s as string));
  encoders.encode = function encode(...a: string[]): Uint8Array {
    if (a.length === 0) return encoders.Empty;
    if (a.length === 1) return one(a[0]);
    return Buffer.concat(a.map(one));
  };
  state.encode = true;
}

function patchHeaders(): void {
  const { MsgHdrsImpl } = require('@nats-io/nats-core/internal') as { MsgHdrsImpl: Any };
  if (squash(MsgHdrsImpl.prototype.encode) !== squash(UPSTREAM_HEADERS_ENCODE)) return;
  MsgHdrsImpl.prototype.encode = function encode(this: { toString(): string }): Uint8Array {
    return Buffer.from(this.toString(), 'utf8');
  };
  state.headersEncode = true;
}

function patchParseJsResponse(): void {
  const file = libFile('@nats-io/jetstream', 'jsbaseclient_api.js');
  const source = squash(readFileSync(file, 'utf8'));
  const mod = require(file) as { BaseApiClientImpl: Any };
  const proto = mod.BaseApiClientImpl?.prototype;
  if (!proto || !source.includes(squash(UPSTREAM_PARSE)) || squash(proto.parseJsResponse) !== squash(UPSTREAM_PARSE_METHOD)) return;
  const errs = require(libFile('@nats-io/jetstream', 'jserrors.js')) as Any;
  const { ConsumerNotFoundError, StreamNotFoundError, JetStreamApiError, JetStreamNotEnabled, JetStreamApiCodes } = errs;
  if (!ConsumerNotFoundError || !StreamNotFoundError || !JetStreamApiError || !JetStreamNotEnabled || !JetStreamApiCodes) return;
  const td = new TextDecoder();
  proto.parseJsResponse = function parseJsResponse(m: { data: Uint8Array }): unknown {
    const v = JSON.parse(td.decode(m.data));
    const r = v;
    if (r.error) {
      switch (r.error.err_code) {
        case JetStreamApiCodes.ConsumerNotFound:
          throw new ConsumerNotFoundError(r.error);
        case JetStreamApiCodes.StreamNotFound:
          throw new StreamNotFoundError(r.error);
        case JetStreamApiCodes.JetStreamNotEnabledForAccount: {
          const jserr = new JetStreamApiError(r.error);
          throw new JetStreamNotEnabled(jserr.message, { cause: jserr });
        }
        default:
          throw new JetStreamApiError(r.error);
      }
    }
    return v;
  };
  state.parseJsResponse = true;
}

export function applyEncodePatches(): EncodePatchState {
  for (const [done, apply] of [
    [state.encode, patchEncode],
    [state.headersEncode, patchHeaders],
    [state.parseJsResponse, patchParseJsResponse],
  ] as const) {
    if (done) continue;
    try {
      apply();
    } catch {
      // a layout we do not know: left as it is
    }
  }
  return state;
}

/** The code patched, as nats-core / jetstream 3.4.0 have it (whitespace aside). */
const UPSTREAM_ENCODE = `function encode(...a) {
    const bufs = [];
    for (let i = 0; i < a.length; i++) {
        bufs.push(exports.TE.encode(a[i]));
    }
    if (bufs.length === 0) {
        return exports.Empty;
    }
    if (bufs.length === 1) {
        return bufs[0];
    }
    return concat(...bufs);
}`;

const UPSTREAM_HEADERS_ENCODE = `encode() {
        return encoders_1.TE.encode(this.toString());
    }`;

const UPSTREAM_PARSE_METHOD = `parseJsResponse(m) {
        return parseJsResponse(m);
    }`;

const UPSTREAM_PARSE = `function parseJsResponse(m) {
    const v = JSON.parse(new TextDecoder().decode(m.data));
    const r = v;
    if (r.error) {
        switch (r.error.err_code) {
            case jserrors_1.JetStreamApiCodes.ConsumerNotFound:
                throw new jserrors_1.ConsumerNotFoundError(r.error);
            case jserrors_1.JetStreamApiCodes.StreamNotFound:
                throw new jserrors_1.StreamNotFoundError(r.error);
            case jserrors_1.JetStreamApiCodes.JetStreamNotEnabledForAccount: {
                const jserr = new jserrors_1.JetStreamApiError(r.error);
                throw new jserrors_1.JetStreamNotEnabled(jserr.message, { cause: jserr });
            }
            default:
                throw new jserrors_1.JetStreamApiError(r.error);
        }
    }
    return v;
}`;

applyEncodePatches();
