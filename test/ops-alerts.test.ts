// ops/alerts.yml is valid YAML in Prometheus's rule-file shape, and every paynats_ metric its
// expressions use is one this code base exports (so an alert cannot silently watch nothing).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { parse } from 'yaml';
import { registry } from '../metrics/registry.ts';
import '../metrics/payments.ts';
import '../metrics/nats.ts';
import '../gateway/observability.ts';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

t.test('alert rules parse and name exported metrics', async (t) => {
  const doc = parse(readFileSync('ops/alerts.yml', 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  t.ok(Array.isArray(doc.groups) && doc.groups.length > 0, 'groups');
  const rules = doc.groups.flatMap((g) => g.rules);
  const names = rules.map((r) => r.alert);
  t.equal(new Set(names).size, names.length, 'alert names are unique');
  for (const wanted of ['PaymentSuccessRateDrop', 'ConsumerLagHigh', 'WebhookDeadLetters', 'ReconcileBacklog', 'PartitionWithoutOwner', 'ApiServerErrors']) {
    t.ok(names.includes(wanted), `has ${wanted}`);
  }
  const exported = new Set(registry.getMetricsAsArray().map((m) => m.name));
  for (const r of rules) {
    t.type(r.expr, 'string', `${r.alert} has an expr`);
    t.ok(r.labels?.severity, `${r.alert} has a severity`);
    t.ok(r.annotations?.summary, `${r.alert} has a summary`);
    if (r.for !== undefined) t.match(r.for, /^\d+[smh]$/, `${r.alert}: for is a duration`);
    const used = [...r.expr.matchAll(/\bpaynats_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''));
    t.ok(used.length > 0, `${r.alert} watches a paynats metric`);
    for (const u of used) t.ok(exported.has(u), `${r.alert}: ${u} is exported`);
    t.equal((r.expr.match(/\(/g) ?? []).length, (r.expr.match(/\)/g) ?? []).length, `${r.alert}: balanced parentheses`);
  }
});
