import t from 'tap';
import { fold } from '../decider.ts';
import { spec } from '../testing.ts';
import { merchantDecider, type Merchant, type MerchantCommand, type MerchantEvent } from './merchant.ts';

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

const merchant: Merchant = {
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

const onboarded: MerchantEvent = { type: 'merchant.onboarded', at: T0, data: merchant };

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

t.test('every sequence folds to an onboarded merchant or to nothing', async (t) => {
  t.ok(it.sequences.length > 0);
  for (const seq of it.sequences) {
    const s = fold(merchantDecider, seq);
    if (seq.length === 0) t.equal(s, null);
    else t.ok(s !== null && s.merchant_id === 'mer_1', `folded ${seq.map((e) => e.type).join(' → ')}`);
  }
});
