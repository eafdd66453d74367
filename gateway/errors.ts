// Validation failures and unknown errors, turned into Stripe's error body. The one error handler
// in app.ts calls this; nothing else writes an error response.
import type { FastifyError } from 'fastify';
import { ApiError } from '../stripe/errors.ts';
import { toApiError } from '../runtime/handlers.ts';
import { MAX_METADATA_KEY_LENGTH, MAX_METADATA_VALUE_LENGTH, tooManyMetadataKeys } from '../actors/mod.ts';

interface AjvIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  /** The key a propertyNames check refused. */
  propertyName?: string;
  /** The value refused (ajv's verbose option, app.ts). */
  data?: unknown;
}

/** /metadata/order_id → metadata[order_id], Stripe's way of naming a nested param. */
function paramName(path: string, extra?: string): string {
  const parts = path.split('/').filter(Boolean);
  if (extra) parts.push(extra);
  return parts.map((p, i) => (i === 0 ? p : `[${p}]`)).join('');
}

const isMetadata = (path: string) => path.split('/').pop() === 'metadata';

/** Stripe's words for a metadata hash over its limits (gateway/schemas.ts MetadataHash), named by the hash's param. */
function metadataLimit(v: AjvIssue): ApiError | undefined {
  const invalid = (path: string, message: string) => new ApiError(400, 'invalid_request_error', 'parameter_invalid', message, paramName(path));
  if (v.propertyName !== undefined && isMetadata(v.instancePath)) {
    return invalid(v.instancePath, `Metadata keys can have up to ${MAX_METADATA_KEY_LENGTH} characters; you passed ${v.propertyName.length}.`);
  }
  if (v.keyword === 'maxProperties' && isMetadata(v.instancePath)) {
    return invalid(v.instancePath, tooManyMetadataKeys(v.data && typeof v.data === 'object' ? Object.keys(v.data).length : Number(v.params.limit) + 1));
  }
  const parent = v.instancePath.slice(0, v.instancePath.lastIndexOf('/'));
  if (v.keyword === 'maxLength' && isMetadata(parent)) {
    const n = typeof v.data === 'string' ? v.data.length : Number(v.params.limit) + 1;
    return invalid(parent, `Metadata values can have up to ${MAX_METADATA_VALUE_LENGTH} characters, but you passed in a value that is ${n} characters.`);
  }
  return undefined;
}

export function fromValidation(issues: AjvIssue[]): ApiError {
  const v = issues[0];
  if (!v) return new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'Invalid request.');
  const metadata = metadataLimit(v);
  if (metadata) return metadata;
  switch (v.keyword) {
    case 'required': {
      const p = paramName(v.instancePath, String(v.params.missingProperty));
      return new ApiError(400, 'invalid_request_error', 'parameter_missing', `Missing required param: ${p}.`, p);
    }
    case 'additionalProperties': {
      const p = paramName(v.instancePath, String(v.params.additionalProperty));
      return new ApiError(400, 'invalid_request_error', 'parameter_unknown', `Received unknown parameter: ${p}`, p);
    }
    case 'type': {
      const p = paramName(v.instancePath);
      if (v.params.type === 'integer' || v.params.type === 'number') {
        return new ApiError(400, 'invalid_request_error', 'parameter_invalid_integer', `Invalid integer: ${p}`, p);
      }
      if (v.params.type === 'object') return new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Invalid object: ${p} must be a hash`, p);
      return new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Invalid ${p}: must be a ${String(v.params.type)}`, p);
    }
    case 'enum': {
      const p = paramName(v.instancePath);
      const allowed = (v.params.allowedValues as unknown[] | undefined)?.join(', ');
      return new ApiError(400, 'invalid_request_error', 'parameter_invalid_string', `Invalid ${p}: must be one of ${allowed}`, p);
    }
    case 'const': {
      // A union of literals (TypeBox) fails once per literal: Stripe names them all.
      const p = paramName(v.instancePath);
      const allowed = issues.filter((x) => x.keyword === 'const' && x.instancePath === v.instancePath).map((x) => JSON.stringify(x.params.allowedValue));
      return new ApiError(400, 'invalid_request_error', 'parameter_invalid_string', `Invalid ${p}: must be one of ${allowed.join(', ')}`, p);
    }
    default: {
      const p = paramName(v.instancePath);
      return new ApiError(400, 'invalid_request_error', 'parameter_invalid', `Invalid ${p || 'request'}: ${v.message ?? 'invalid value'}`, p || undefined);
    }
  }
}

export function errorToApi(err: unknown): ApiError {
  const fe = err as FastifyError & { validation?: AjvIssue[] };
  if (fe && Array.isArray(fe.validation)) return fromValidation(fe.validation);
  if (fe?.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'Invalid request: send application/x-www-form-urlencoded or application/json.');
  }
  if (fe?.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fe?.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || fe instanceof SyntaxError) {
    return new ApiError(400, 'invalid_request_error', 'parameter_invalid', 'Invalid request: the body could not be parsed.');
  }
  if (fe?.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new ApiError(413, 'invalid_request_error', 'request_too_large', 'The request body is too large.');
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500 && !(err instanceof ApiError)) {
    return new ApiError(fe.statusCode, 'invalid_request_error', 'parameter_invalid', fe.message);
  }
  return toApiError(err);
}
