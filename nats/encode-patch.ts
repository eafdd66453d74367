// Two fixes to how @nats-io/nats-core 3.4.0 turns text into bytes per message, applied at load time
// (node_modules is not ours to edit). Found with bench --cpu-prof: TextEncoder#encode on Node 20
// costs several times Buffer.from(string, 'utf8') for short strings (a microbenchmark), and the
// per-publish protocol line and header block made it ~1.2 % of the node's CPU.
//
// 1. encoders.encode(...strings), which ProtocolHandler.sendCommand calls for the protocol line of
//    every publish (`HPUB <subject> <reply> <hlen> <len>\r\n`), PING/PONG and CONNECT: the same bytes
//    (UTF-8, lone surrogates as U+FFFD in both) from Buffer.from.
// 2. MsgHdrsImpl#encode (the header block of every publish with headers): likewise.
// Measured (bench --cpu-prof, load window): TextEncoder#encode 1.6 % → 0.6 % of the node, Buffer.from
// +0.9 %: about 0.3 % net. (jetstream's parseJsResponse makes a TextDecoder per API answer, but that
// is 0.1 %: left alone.)
//
// The bytes are a Buffer (a Uint8Array; small ones are slices of Node's shared pool). nats-core
// only reads them: it copies them into its outbound buffer or writes them to the socket.
// Each patch is applied only while the code it replaces is the code below (checked on the source
// text), so an upgrade that changes it leaves it alone (and test/nats-request-patch says so).
import { createRequire } from 'node:module';
import { natsCoreFile, squash } from './request-patch.ts';

const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any */
type Any = any;

export interface EncodePatchState {
  encode: boolean;
  headersEncode: boolean;
}

const state: EncodePatchState = { encode: false, headersEncode: false };

function patchEncode(): void {
  const encoders = require(natsCoreFile('encoders.js')) as { encode: (...a: string[]) => Uint8Array; Empty: Uint8Array; TE: TextEncoder };
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

export function applyEncodePatches(): EncodePatchState {
  for (const [done, apply] of [
    [state.encode, patchEncode],
    [state.headersEncode, patchHeaders],
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

/** The code patched, as nats-core 3.4.0 has it (whitespace aside). */
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

applyEncodePatches();
