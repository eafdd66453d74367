// The gateway's edges that fastify answers on its own unless told otherwise: malformed HTTP
// (clientError), URLs the router cannot decode, over-long path params; plus two holes in
// validation. Each answers in Stripe's error body, so no client ever sees another shape.
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ApiError } from '../stripe/errors.ts';
import { API_VERSION } from '../stripe/objects.ts';
import { errorToApi } from './errors.ts';
import { requestId } from './ids.ts';

/** Malformed HTTP (unknown method, bad header bytes, headers too large, timeouts): no request exists yet. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, text, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'The request took too long to arrive.']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'The request line or headers are too large.']
        : [400, 'Bad Request', 'The request is not valid HTTP.'];
  const body = JSON.stringify(new ApiError(status, 'invalid_request_error', undefined, message).body());
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Request-Id: ${requestId()}\r\nStripe-Version: ${API_VERSION}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Errors the router raises before any hook runs (FST_ERR_BAD_URL, FST_ERR_MAX_PARAM_LENGTH). */
export function frameworkErrors(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const e = errorToApi(err);
  void reply.code(e.status).header('Request-Id', req.id).header('Stripe-Version', API_VERSION).type('application/json').send(e.body());
}

/** Stripe refuses unknown parameters everywhere: a /v1 route without a querystring schema gets this one. */
const DefaultQuery = Type.Object({ expand: Type.Optional(Type.Array(Type.String())) }, { additionalProperties: false });

export function defaultSchemas(r: RouteOptions): void {
  if (!r.url.startsWith('/v1/')) return;
  if (!r.schema?.querystring) r.schema = { ...r.schema, querystring: DefaultQuery };
}

/**
 * ajv coerces 'Infinity' to a number and then skips its range checks (its `maximum` is guarded by
 * isFinite), and JSON's 1e999 parses to Infinity: a non-finite number that got through validation
 * is an invalid integer. Returns the Stripe name of the first such param.
 */
export function nonFiniteParam(v: unknown, path = '', depth = 0): string | null {
  if (typeof v === 'number') return Number.isFinite(v) ? null : path || 'request';
  if (depth > 32 || typeof v !== 'object' || v === null) return null;
  for (const [k, x] of Object.entries(v)) {
    const found = nonFiniteParam(x, path ? `${path}[${k}]` : k, depth + 1);
    if (found !== null) return found;
  }
  return null;
}

/** A preHandler, callback-style (no promise per request); the throw reaches the error handler. */
export function rejectNonFinite(req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
  const bad = nonFiniteParam(req.query) ?? nonFiniteParam(req.body);
  if (bad !== null) throw new ApiError(400, 'invalid_request_error', 'parameter_invalid_integer', `Invalid integer: ${bad}`, bad);
  done();
}
