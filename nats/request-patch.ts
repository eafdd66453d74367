// Two fixes to @nats-io/nats-core 3.4.0's request objects (lib/request.js), applied at load time
// (node_modules is not ours to edit). Both build an Error, i.e. capture a stack, per request for
// nothing; found with bench --cpu-prof.
//
// 1. RequestOne.cancel(err) ends every request, including every one that completed:
//      cancel(err) { ...; this.deferred.reject(err ? err : new errors_1.RequestError("cancelled")); }
//    Without `err` the deferred is always settled already (resolver() settled it and then calls
//    cancel(); NatsConnectionImpl.request calls cancel() from the catch of the race the timer won;
//    the mux only ever ends a request through resolver()), so the rejection is a no-op and the
//    RequestError is garbage: 5.4 % of the node's CPU. The patched cancel rejects with one error
//    made once.
// 2. RequestMany's constructor calls `super(mux, requestSubject)`, so BaseRequest always builds its
//    async-trace RequestError (`ctx`), ignoring the connection's `noAsyncTraces` (which RequestOne
//    honours). runtime/client.ts sends every remote command with requestMany. The replacement runs
//    BaseRequest without the trace and then the constructor's own body, unchanged. Its only use of
//    `ctx` is to append that stack to an error's: errors still arrive, without the extra stack,
//    also on a connection that did not ask for noAsyncTraces (we set it on all of ours, nats/connect.ts).
//
// Each patch is applied only while the code it replaces is the code above (checked on the source
// text), so an upgrade of nats-core that changes it leaves it alone (and test/nats-request-patch
// says so).
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/* eslint-disable @typescript-eslint/no-explicit-any */
type AnyClass = any;

interface RequestModule {
  BaseRequest: AnyClass;
  RequestOne: AnyClass;
  RequestMany: AnyClass;
}

export interface RequestPatchState {
  requestOneCancel: boolean;
  requestManyTraces: boolean;
}

const state: RequestPatchState = { requestOneCancel: false, requestManyTraces: false };

/** A file of nats-core's lib/ by name: the very module its own code loads (one CJS cache entry), exported or not. */
export function natsCoreFile(file: string): string {
  return path.join(path.dirname(require.resolve('@nats-io/nats-core/internal')), file);
}

function requestModule(): RequestModule | null {
  try {
    // lib/request.js is not in the package's exports; the internal entry re-exports RequestOne only.
    // Loaded by its file name it is the very module the connection code uses (one CJS cache entry).
    const internal = require('@nats-io/nats-core/internal') as { RequestOne: AnyClass };
    const mod = require(natsCoreFile('request.js')) as RequestModule;
    return mod.RequestOne === internal.RequestOne ? mod : null;
  } catch {
    return null;
  }
}

/** Source text without whitespace: how a patch recognizes the upstream code it replaces. */
export const squash = (f: unknown) => String(f).replace(/\s+/g, '');

export function applyRequestPatches(): RequestPatchState {
  if (state.requestOneCancel && state.requestManyTraces) return state;
  const mod = requestModule();
  if (!mod) return state;

  const { RequestOne, RequestMany, BaseRequest } = mod;
  if (!state.requestOneCancel && squash(RequestOne.prototype.cancel) === squash(UPSTREAM_CANCEL)) {
    const { RequestError } = require('@nats-io/nats-core/internal') as { RequestError: new (m: string) => Error };
    const cancelled = new RequestError('cancelled');
    RequestOne.prototype.cancel = function cancel(this: any, err?: Error) {
      if (this.timer) this.timer.cancel();
      this.mux.cancel(this);
      this.deferred.reject(err ? err : cancelled);
    };
    state.requestOneCancel = true;
  }

  if (!state.requestManyTraces && squash(RequestMany).includes(squash(UPSTREAM_MANY_CTOR))) {
    const { deferred } = require('@nats-io/nats-core/internal') as { deferred: <T>() => Promise<T> & { resolve(v?: T): void } };
    // Upstream's constructor with `super(mux, requestSubject, false)`; the rest as it is there.
    function RequestManyNoTraces(mux: unknown, requestSubject: string, opts: any = { maxWait: 1000 }) {
      const self: any = Reflect.construct(BaseRequest, [mux, requestSubject, false], RequestMany);
      self.opts = opts;
      if (typeof self.opts.callback !== 'function') {
        throw new TypeError('callback must be a function');
      }
      self.callback = self.opts.callback;
      self.max = typeof opts.maxMessages === 'number' && opts.maxMessages > 0 ? opts.maxMessages : -1;
      self.done = deferred<void>();
      self.done.then(() => {
        self.callback(null, null);
      });
      self.timer = setTimeout(() => {
        self.cancel();
      }, opts.maxWait);
      return self;
    }
    RequestManyNoTraces.prototype = RequestMany.prototype;
    mod.RequestMany = RequestManyNoTraces;
    state.requestManyTraces = true;
  }
  return state;
}

/** The code patched, as nats-core 3.4.0 has it (whitespace aside). */
const UPSTREAM_CANCEL = `cancel(err) {
        if (this.timer) {
            this.timer.cancel();
        }
        this.mux.cancel(this);
        this.deferred.reject(err ? err : new errors_1.RequestError("cancelled"));
    }`;

const UPSTREAM_MANY_CTOR = `constructor(mux, requestSubject, opts = { maxWait: 1000 }) {
        super(mux, requestSubject);
        this.opts = opts;
        if (typeof this.opts.callback !== "function") {
            throw new TypeError("callback must be a function");
        }
        this.callback = this.opts.callback;
        this.max = typeof opts.maxMessages === "number" && opts.maxMessages > 0
            ? opts.maxMessages
            : -1;
        this.done = (0, util_1.deferred)();
        this.done.then(() => {
            this.callback(null, null);
        });
        // @ts-ignore: node is not a number
        this.timer = setTimeout(() => {
            this.cancel();
        }, opts.maxWait);
    }`;

applyRequestPatches();
