// degrade: whether an error means "the database is not there right now" (refused, reset, shut down,
// crashed, out of connections), as opposed to a bug or a bad query. The gateway answers those with
// 503 service_unavailable + Stripe-Should-Retry (runtime/handlers.ts toApiError), never a 500.

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);
// SQLSTATE: class 08 connection exception; 57P01 admin_shutdown, 57P02 crash_shutdown,
// 57P03 cannot_connect_now (starting up / recovering); 53300 too_many_connections.
const SQLSTATE = /^(08...|57P0[123]|53300)$/;
// node-postgres' own wording when the server vanishes or a connection cannot be had in time.
const PG_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection terminated due to connection timeout|the database system is (starting up|shutting down|in recovery mode)/i;

export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 3) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NET_CODES.has(code) || SQLSTATE.test(code))) return true;
  if (PG_MESSAGES.test(err.message)) return true;
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.every((e) => isDatabaseUnavailable(e, depth + 1));
  return isDatabaseUnavailable((err as { cause?: unknown }).cause, depth + 1);
}
