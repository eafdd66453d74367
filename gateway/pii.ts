// Personal data in logs: the pino redact paths that censor a person's email, name, phone and
// address wherever a log line could carry them: a request or response body, a customer or intent
// snapshot, a Stripe object, billing or shipping details. `name` is only censored inside those
// containers, so an error's own `err.name` (TypeError, …) stays readable.
const FIELDS = ['email', 'receipt_email', 'user_email', 'name', 'phone', 'address'];
const CONTAINERS = ['body', 'req.body', 'request.body', 'customer', 'state', 'data', 'object', 'params', 'query', 'billing_details', 'shipping'];

export const PII_REDACT: string[] = [
  ...['email', 'receipt_email', 'user_email', 'phone', 'address'],
  ...CONTAINERS.flatMap((c) => FIELDS.map((f) => `${c}.${f}`)),
  ...['body', 'state', 'object', 'data'].flatMap((c) => ['billing_details', 'shipping'].flatMap((d) => FIELDS.map((f) => `${c}.${d}.${f}`))),
  ...['body', 'data', 'object'].flatMap((c) => ['customer', 'object', 'charges'].flatMap((d) => FIELDS.map((f) => `${c}.${d}.${f}`))),
];

export const PII_CENSOR = '[redacted]';
