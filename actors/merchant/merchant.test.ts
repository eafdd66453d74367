import t from 'tap';
import { fold } from '../decider.ts';
import { spec } from '../testing.ts';
import { merchantDecider, type Merchant, type MerchantCommand, type MerchantEvent, type OnboardedMerchant, type WebhookEndpoint } from './merchant.ts';

const it = spec(merchantDecider);

const T0 = 1_700_000_000;

const onboard: Extract<MerchantCommand, { type: 'Onboard' }> = {
  type: 'Onboard',
  merchantId: 'mer_1',
  name: 'Acme',
  address: '1 Main St',
  gstId: 'GST123',
  callbackUrl: 'https://acme.test/hook',
  events: ['payment_intent.succeeded', 'payment_intent.payment_failed'],
  keys: [{ id: 'key_1', kind: 'secret', hash: 'ab'.repeat(32), redacted: 'sk_test_…abcd', created: T0 }],
  webhookSecretEnc: 'ZW5j',
  webhookEndpointId: 'we_1',
  allowedOrigins: ['https://acme.test'],
  now: T0,
};

const profile: OnboardedMerchant = {
  merchant_id: 'mer_1',
  name: 'Acme',
  address: '1 Main St',
  gst_id: 'GST123',
  call_back_url: 'https://acme.test/hook',
  events: ['payment_intent.succeeded', 'payment_intent.payment_failed'],
  keys: [{ id: 'key_1', kind: 'secret', hash: 'ab'.repeat(32), redacted: 'sk_test_…abcd', created: T0 }],
  webhook_secret_enc: 'ZW5j',
  webhook_endpoint_id: 'we_1',
  allowed_origins: ['https://acme.test'],
  created: T0,
  updated: T0,
};

const merchant: Merchant = { ...profile, webhook_endpoints: [] };

const onboarded: MerchantEvent = { type: 'merchant.onboarded', at: T0, data: profile };

t.test('Onboard a new merchant', async (t) => {
  it.given(t, []).when(onboard).then([onboarded]).thenState((s) => s !== null && s.merchant_id === 'mer_1');
  it.given(t, []).when(onboard).thenState(merchant);
});

t.test('Onboard copies the events list (no aliasing of the command)', async (t) => {
  const events = ['charge.succeeded'];
  const [e] = merchantDecider.decide({ ...onboard, events }, null);
  events.push('later');
  t.strictSame(e?.type === 'merchant.onboarded' ? e.data.events : null, ['charge.succeeded']);
});

t.test('Onboard with a null callback url', async (t) => {
  it.given(t, []).when({ ...onboard, callbackUrl: null }).thenState({ call_back_url: null });
});

t.test('Onboard twice is refused', async (t) => {
  it.given(t, [onboarded]).when(onboard).thenThrows('resource_already_exists', { param: 'merchant_id', status: 409 });
  it.given(t, [onboarded]).when({ ...onboard, name: 'Other' }).thenThrows('resource_already_exists');
});

t.test('UpdateProfile changes each field', async (t) => {
  const T1 = T0 + 60;
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', name: 'Acme Ltd', now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { name: 'Acme Ltd' } }])
    .thenState({ name: 'Acme Ltd', address: '1 Main St', updated: T1, created: T0 });
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', address: '2 High St', now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { address: '2 High St' } }])
    .thenState({ address: '2 High St' });
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', gstId: 'GST999', now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { gst_id: 'GST999' } }])
    .thenState({ gst_id: 'GST999' });
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', callbackUrl: null, now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { call_back_url: null } }])
    .thenState({ call_back_url: null });
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', events: ['charge.refunded'], now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { events: ['charge.refunded'] } }])
    .thenState((s) => s !== null && s.events.length === 1 && s.events[0] === 'charge.refunded');
});

t.test('UpdateProfile with several fields writes only the ones that changed', async (t) => {
  const T1 = T0 + 60;
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', name: 'Acme', address: '3 Low Rd', gstId: 'GST123', callbackUrl: 'https://acme.test/v2', now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { address: '3 Low Rd', call_back_url: 'https://acme.test/v2' } }])
    .thenState({ name: 'Acme', address: '3 Low Rd', gst_id: 'GST123', call_back_url: 'https://acme.test/v2', updated: T1 });
});

t.test('UpdateProfile that changes nothing writes nothing', async (t) => {
  const T1 = T0 + 60;
  it.given(t, [onboarded]).when({ type: 'UpdateProfile', now: T1 }).thenNothing().thenState({ updated: T0 });
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', name: 'Acme', address: '1 Main St', gstId: 'GST123', callbackUrl: 'https://acme.test/hook', events: [...merchant.events], now: T1 })
    .thenNothing();
  // The same update delivered twice: the second writes nothing.
  const updated: MerchantEvent = { type: 'merchant.updated', at: T1, data: { name: 'Acme Ltd' } };
  it.given(t, [onboarded, updated]).when({ type: 'UpdateProfile', name: 'Acme Ltd', now: T1 + 1 }).thenNothing().thenState({ updated: T1 });
});

t.test('UpdateProfile on a missing merchant is refused', async (t) => {
  it.given(t, []).when({ type: 'UpdateProfile', name: 'X', now: T0 }).thenThrows('resource_missing', { param: 'merchant_id', status: 404 });
  it.given(t, []).when({ type: 'UpdateProfile', now: T0 }).thenThrows('resource_missing');
});

t.test('merchant.updated on no merchant leaves no merchant', async (t) => {
  t.equal(fold(merchantDecider, [{ type: 'merchant.updated', at: T0, data: { name: 'X' } }]), null);
});

const ep: Omit<WebhookEndpoint, 'status' | 'created'> = {
  id: 'we_a',
  url: 'https://acme.test/a',
  enabled_events: ['charge.succeeded'],
  description: 'orders',
  metadata: { team: 'ops' },
  secret_enc: 'c2Vj',
  livemode: false,
};
const T1 = T0 + 60;
const endpoint: WebhookEndpoint = { ...ep, status: 'enabled', created: T1 };
const epCreated: MerchantEvent = { type: 'webhook_endpoint.created', at: T1, data: endpoint };
const add: MerchantCommand = { type: 'AddWebhookEndpoint', endpoint: ep, now: T1 };

t.test('AddWebhookEndpoint adds an enabled endpoint', async (t) => {
  it.given(t, [onboarded])
    .when(add)
    .then([epCreated])
    .thenState((s) => s !== null && s.webhook_endpoints.length === 1 && s.webhook_endpoints[0]?.status === 'enabled' && s.updated === T1);
  // The same create retried (same id) writes nothing.
  it.given(t, [onboarded, epCreated]).when({ ...add, now: T1 + 5 }).thenNothing();
  // The onboarding endpoint is untouched.
  it.given(t, [onboarded]).when(add).thenState({ call_back_url: 'https://acme.test/hook', webhook_endpoint_id: 'we_1' });
});

t.test('AddWebhookEndpoint is refused on no merchant, with no events, or past the limit', async (t) => {
  it.given(t, []).when(add).thenThrows('resource_missing', { status: 404 });
  it.given(t, [onboarded]).when({ ...add, endpoint: { ...ep, enabled_events: [] } }).thenThrows('parameter_missing', { param: 'enabled_events' });
  const many: MerchantEvent[] = Array.from({ length: 16 }, (_, i) => ({ type: 'webhook_endpoint.created', at: T1, data: { ...endpoint, id: `we_${i}` } }));
  it.given(t, [onboarded, ...many]).when(add).thenThrows('parameter_invalid', { status: 400 });
  // The limit counts one mode: a live endpoint is still allowed.
  it.given(t, [onboarded, ...many]).when({ ...add, endpoint: { ...ep, livemode: true } }).thenState((s) => s !== null && s.webhook_endpoints.length === 17);
});

t.test('UpdateWebhookEndpoint writes only what changed', async (t) => {
  const T2 = T1 + 60;
  const upd = (c: Partial<Extract<MerchantCommand, { type: 'UpdateWebhookEndpoint' }>>): MerchantCommand => ({ type: 'UpdateWebhookEndpoint', endpointId: 'we_a', livemode: false, now: T2, ...c });
  it.given(t, [onboarded, epCreated])
    .when(upd({ url: 'https://acme.test/b', enabledEvents: ['*'], description: null }))
    .then([{ type: 'webhook_endpoint.updated', at: T2, data: { id: 'we_a', url: 'https://acme.test/b', enabled_events: ['*'], description: null } }])
    .thenState((s) => s?.webhook_endpoints[0]?.url === 'https://acme.test/b' && s.webhook_endpoints[0].secret_enc === 'c2Vj');
  it.given(t, [onboarded, epCreated])
    .when(upd({ disabled: true }))
    .then([{ type: 'webhook_endpoint.updated', at: T2, data: { id: 'we_a', status: 'disabled' } }])
    .thenState((s) => s?.webhook_endpoints[0]?.status === 'disabled');
  const disabled: MerchantEvent = { type: 'webhook_endpoint.updated', at: T2, data: { id: 'we_a', status: 'disabled' } };
  it.given(t, [onboarded, epCreated, disabled]).when(upd({ disabled: true })).thenNothing();
  it.given(t, [onboarded, epCreated, disabled]).when(upd({ disabled: false })).thenState((s) => s?.webhook_endpoints[0]?.status === 'enabled');
  // Metadata merges as Stripe's does: '' removes a key.
  it.given(t, [onboarded, epCreated])
    .when(upd({ metadata: { team: '', env: 'prod' } }))
    .then([{ type: 'webhook_endpoint.updated', at: T2, data: { id: 'we_a', metadata: { env: 'prod' } } }]);
  it.given(t, [onboarded, epCreated]).when(upd({ url: ep.url, enabledEvents: [...ep.enabled_events], description: 'orders', metadata: { team: 'ops' }, disabled: false })).thenNothing();
  it.given(t, [onboarded, epCreated]).when(upd({ enabledEvents: [] })).thenThrows('parameter_invalid', { param: 'enabled_events' });
});

t.test('an endpoint of another mode, or none, does not exist for the update or the removal', async (t) => {
  it.given(t, [onboarded, epCreated]).when({ type: 'UpdateWebhookEndpoint', endpointId: 'we_a', livemode: true, url: 'https://x.test', now: T1 }).thenThrows('resource_missing', { param: 'id', status: 404 });
  it.given(t, [onboarded, epCreated]).when({ type: 'RemoveWebhookEndpoint', endpointId: 'we_a', livemode: true, now: T1 }).thenThrows('resource_missing', { status: 404 });
  it.given(t, [onboarded]).when({ type: 'RemoveWebhookEndpoint', endpointId: 'we_1', livemode: false, now: T1 }).thenThrows('resource_missing', { status: 404 });
});

t.test('RemoveWebhookEndpoint removes it; a second removal is 404', async (t) => {
  const deleted: MerchantEvent = { type: 'webhook_endpoint.deleted', at: T1 + 5, data: { id: 'we_a' } };
  it.given(t, [onboarded, epCreated])
    .when({ type: 'RemoveWebhookEndpoint', endpointId: 'we_a', livemode: false, now: T1 + 5 })
    .then([deleted])
    .thenState((s) => s !== null && s.webhook_endpoints.length === 0);
  it.given(t, [onboarded, epCreated, deleted]).when({ type: 'RemoveWebhookEndpoint', endpointId: 'we_a', livemode: false, now: T1 + 9 }).thenThrows('resource_missing');
});

t.test('a merchant snapshot from before endpoints existed still takes them', async (t) => {
  const old = { ...merchant } as Partial<Merchant>;
  delete old.webhook_endpoints;
  const [e] = merchantDecider.decide(add, old as Merchant);
  const s = merchantDecider.evolve(old as Merchant, e!);
  t.equal(s?.webhook_endpoints.length, 1);
});

t.test('every sequence folds to an onboarded merchant or to nothing', async (t) => {
  t.ok(it.sequences.length > 0);
  for (const seq of it.sequences) {
    const s = fold(merchantDecider, seq);
    if (seq.length === 0) t.equal(s, null);
    else t.ok(s !== null && s.merchant_id === 'mer_1', `folded ${seq.map((e) => e.type).join(' → ')}`);
  }
});

t.test('UpdateProfile replaces the allowed origins (who may embed the card frame)', async (t) => {
  const T1 = T0 + 60;
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', allowedOrigins: ['https://acme.test', 'https://shop.acme.test'], now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { allowed_origins: ['https://acme.test', 'https://shop.acme.test'] } }])
    .thenState((s) => s !== null && s.allowed_origins.length === 2 && s.allowed_origins[1] === 'https://shop.acme.test');
  it.given(t, [onboarded])
    .when({ type: 'UpdateProfile', allowedOrigins: [], now: T1 })
    .then([{ type: 'merchant.updated', at: T1, data: { allowed_origins: [] } }])
    .thenState((s) => s !== null && s.allowed_origins.length === 0);
  it.given(t, [onboarded]).when({ type: 'UpdateProfile', allowedOrigins: ['https://acme.test'], now: T1 }).thenNothing();
});

t.test('RollWebhookEndpointSecret: the new secret signs, the old one until it expires', async (t) => {
  const T2 = T1 + 60;
  const roll = (c: Partial<Extract<MerchantCommand, { type: 'RollWebhookEndpointSecret' }>> = {}): MerchantCommand => ({
    type: 'RollWebhookEndpointSecret',
    endpointId: 'we_a',
    livemode: false,
    secretEnc: 'bmV3',
    expiresAt: T2 + 3600,
    now: T2,
    ...c,
  });
  const rolled: MerchantEvent = { type: 'webhook_endpoint.secret_rolled', at: T2, data: { id: 'we_a', secret_enc: 'bmV3', previous_secrets: [{ secret_enc: 'c2Vj', expires_at: T2 + 3600 }] } };
  it.given(t, [onboarded, epCreated])
    .when(roll())
    .then([rolled])
    .thenState((s) => s?.webhook_endpoints[0]?.secret_enc === 'bmV3' && s.webhook_endpoints[0].previous_secrets?.[0]?.secret_enc === 'c2Vj');
  // The same roll retried (same sealed secret) writes nothing.
  it.given(t, [onboarded, epCreated, rolled]).when(roll({ now: T2 + 1 })).thenNothing();
  // Rolled again at once (expires now): the replaced secret stops, the first keeps its hour.
  it.given(t, [onboarded, epCreated, rolled])
    .when(roll({ secretEnc: 'dGhpcmQ=', expiresAt: T2 + 10, now: T2 + 10 }))
    .then([{ type: 'webhook_endpoint.secret_rolled', at: T2 + 10, data: { id: 'we_a', secret_enc: 'dGhpcmQ=', previous_secrets: [{ secret_enc: 'c2Vj', expires_at: T2 + 3600 }] } }]);
  // An expired previous secret is dropped at the next roll.
  it.given(t, [onboarded, epCreated, rolled])
    .when(roll({ secretEnc: 'Zm91cg==', expiresAt: T2 + 7200 + 60, now: T2 + 7200 }))
    .then([{ type: 'webhook_endpoint.secret_rolled', at: T2 + 7200, data: { id: 'we_a', secret_enc: 'Zm91cg==', previous_secrets: [{ secret_enc: 'bmV3', expires_at: T2 + 7260 }] } }]);
  it.given(t, [onboarded, epCreated]).when(roll({ expiresAt: T2 - 1 })).thenThrows('parameter_invalid', { param: 'expires_at' });
  it.given(t, [onboarded, epCreated]).when(roll({ livemode: true })).thenThrows('resource_missing', { status: 404 });
});

t.test('DisableFailingWebhookEndpoint: disabled with a reason, once; re-enabling restarts the clock', async (t) => {
  const T2 = T1 + 600;
  const verdict: MerchantCommand = { type: 'DisableFailingWebhookEndpoint', endpointId: 'we_a', failingSince: T1 + 10, now: T2 };
  const disabledEv: MerchantEvent = { type: 'webhook_endpoint.disabled', at: T2, data: { id: 'we_a', livemode: false, reason: 'failing', failing_since: T1 + 10 } };
  it.given(t, [onboarded, epCreated])
    .when(verdict)
    .then([disabledEv])
    .thenState((s) => s?.webhook_endpoints[0]?.status === 'disabled' && s.webhook_endpoints[0].disabled_reason === 'failing');
  // Already disabled (by this verdict or by the merchant): nothing more.
  it.given(t, [onboarded, epCreated, disabledEv]).when({ ...verdict, now: T2 + 5 }).thenNothing();
  // Re-enabled by the merchant: reason cleared, clock restarted; a verdict from failures before that is void.
  const reenabled: MerchantEvent = { type: 'webhook_endpoint.updated', at: T2 + 60, data: { id: 'we_a', status: 'enabled', enabled_at: T2 + 60, disabled_reason: null } };
  it.given(t, [onboarded, epCreated, disabledEv])
    .when({ type: 'UpdateWebhookEndpoint', endpointId: 'we_a', livemode: false, disabled: false, now: T2 + 60 })
    .then([reenabled])
    .thenState((s) => s?.webhook_endpoints[0]?.status === 'enabled' && s.webhook_endpoints[0].disabled_reason === null);
  it.given(t, [onboarded, epCreated, disabledEv, reenabled]).when({ ...verdict, now: T2 + 70 }).thenNothing();
  it.given(t, [onboarded, epCreated, disabledEv, reenabled]).when({ ...verdict, failingSince: T2 + 61, now: T2 + 999 }).then([{ ...disabledEv, at: T2 + 999, data: { ...disabledEv.data, failing_since: T2 + 61 } } as MerchantEvent]);
  // A gone endpoint, or the onboarding one (not an API endpoint), is left alone.
  it.given(t, [onboarded]).when({ ...verdict, endpointId: 'we_1' }).thenNothing();
  it.given(t, []).when(verdict).thenThrows('resource_missing');
});
