import t from 'tap';
import { fold } from '../decider.ts';
import { spec } from '../testing.ts';
import { customerDecider, mergeMetadata, type Customer, type CustomerCommand, type CustomerEvent } from './customer.ts';

const it = spec(customerDecider);

const T0 = 1_700_000_000;

const create: Extract<CustomerCommand, { type: 'Create' }> = {
  type: 'Create',
  customerId: 'cus_1',
  merchantId: 'acct_1',
  livemode: false,
  email: 'jenny@example.com',
  name: 'Jenny Rosen',
  description: null,
  phone: null,
  metadata: { order: '7' },
  now: T0,
};

const customer: Customer = {
  id: 'cus_1',
  merchant_id: 'acct_1',
  livemode: false,
  email: 'jenny@example.com',
  name: 'Jenny Rosen',
  description: null,
  phone: null,
  metadata: { order: '7' },
  created: T0,
};

const created: CustomerEvent = { type: 'customer.created', at: T0, data: customer };
const update = (changes: Extract<CustomerCommand, { type: 'Update' }>['changes'], metadata?: Record<string, string> | ''): CustomerCommand => ({
  type: 'Update',
  changes,
  ...(metadata !== undefined ? { metadata } : {}),
  now: T0 + 10,
});

t.test('Create a customer', async (t) => {
  it.given(t, []).when(create).then([created]).thenState(customer);
  it.given(t, []).when({ ...create, livemode: true }).thenState({ livemode: true });
});

t.test('Create drops metadata keys given an empty value', async (t) => {
  it.given(t, []).when({ ...create, metadata: { a: '1', b: '' } }).thenState((s) => s !== null && JSON.stringify(s.metadata) === '{"a":"1"}');
});

t.test('Create delivered twice writes nothing', async (t) => {
  it.given(t, [created]).when(create).thenNothing().thenState(customer);
  it.given(t, [created]).when({ ...create, email: 'other@example.com' }).thenNothing();
});

t.test('Create with more than 50 metadata keys is refused', async (t) => {
  const metadata = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
  it.given(t, []).when({ ...create, metadata }).thenThrows('parameter_invalid', { param: 'metadata', status: 400 });
});

t.test('Update sets and unsets fields', async (t) => {
  it.given(t, [created])
    .when(update({ email: 'new@example.com', phone: '+15555550100', name: null }))
    .then([{ type: 'customer.updated', at: T0 + 10, data: { email: 'new@example.com', phone: '+15555550100', name: null } }])
    .thenState({ email: 'new@example.com', phone: '+15555550100', name: null, description: null, created: T0 });
});

t.test('Update writes only what changes', async (t) => {
  it.given(t, [created])
    .when(update({ email: 'jenny@example.com', description: 'vip' }))
    .then([{ type: 'customer.updated', at: T0 + 10, data: { description: 'vip' } }]);
});

t.test('Update with nothing new writes nothing', async (t) => {
  it.given(t, [created]).when(update({})).thenNothing();
  it.given(t, [created]).when(update({ email: 'jenny@example.com', name: 'Jenny Rosen' }, { order: '7' })).thenNothing();
  it.given(t, [created]).when(update({}, { absent: '' })).thenNothing();
});

t.test('Update merges metadata; an empty value removes a key; an empty metadata removes all', async (t) => {
  it.given(t, [created])
    .when(update({}, { tier: 'gold' }))
    .then([{ type: 'customer.updated', at: T0 + 10, data: { metadata: { order: '7', tier: 'gold' } } }]);
  it.given(t, [created])
    .when(update({}, { order: '', tier: 'gold' }))
    .thenState((s) => s !== null && JSON.stringify(s.metadata) === '{"tier":"gold"}');
  it.given(t, [created]).when(update({}, '')).then([{ type: 'customer.updated', at: T0 + 10, data: { metadata: {} } }]);
});

t.test('Update past 50 metadata keys is refused', async (t) => {
  const metadata = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v']));
  it.given(t, [created]).when(update({}, metadata)).thenThrows('parameter_invalid', { param: 'metadata' });
  const full: CustomerEvent = { type: 'customer.created', at: T0, data: { ...customer, metadata: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'])) } };
  it.given(t, [full]).when(update({}, { k0: '', extra: 'x' })).thenState((s) => s !== null && Object.keys(s.metadata).length === 50);
});

t.test('Update of a customer that does not exist is refused', async (t) => {
  it.given(t, []).when(update({ email: 'x@example.com' })).thenThrows('resource_missing', { status: 404 });
});

t.test('mergeMetadata does not touch its input', async (t) => {
  const current = { a: '1' };
  t.strictSame(mergeMetadata(current, { a: '', b: '2' }), { b: '2' });
  t.strictSame(current, { a: '1' });
  t.strictSame(mergeMetadata(current, ''), {});
});

t.test('every sequence folds to the same state from its events as read back from the stream (JSON)', async (t) => {
  t.ok(it.sequences.length > 5, 'the specs above ran');
  for (const seq of it.sequences) {
    const state = fold(customerDecider, seq);
    t.ok(state === null || (state.id === 'cus_1' && state.merchant_id === 'acct_1'), 'identity is kept');
    t.strictSame(fold(customerDecider, JSON.parse(JSON.stringify(seq)) as CustomerEvent[]), JSON.parse(JSON.stringify(state)), 'same state');
  }
});

const erased: Customer = { ...customer, email: null, name: null, phone: null, description: null };

t.test('Erase clears the personal data and keeps the rest', async (t) => {
  it.given(t, [created])
    .when({ type: 'Erase', reason: 'request', now: T0 + 20 })
    .then([{ type: 'customer.erased', at: T0 + 20, data: { reason: 'request', fields: ['email', 'name'] } }])
    .thenState(erased);
  it.given(t, [created, { type: 'customer.updated', at: T0 + 5, data: { phone: '+15555550100', description: 'VIP Jenny' } }])
    .when({ type: 'Erase', reason: 'retention', now: T0 + 20 })
    .then([{ type: 'customer.erased', at: T0 + 20, data: { reason: 'retention', fields: ['email', 'name', 'phone', 'description'] } }])
    .thenState((s) => s !== null && s.email === null && s.phone === null && s.description === null && s.metadata.order === '7' && s.id === 'cus_1');
});

t.test('Erase of an erased customer writes nothing', async (t) => {
  const e: CustomerEvent = { type: 'customer.erased', at: T0 + 20, data: { reason: 'request', fields: ['email', 'name'] } };
  it.given(t, [created, e]).when({ type: 'Erase', reason: 'retention', now: T0 + 30 }).thenNothing().thenState(erased);
});

t.test('Erase of an unknown customer is resource_missing', async (t) => {
  it.given(t, []).when({ type: 'Erase', reason: 'request', now: T0 }).thenThrows('resource_missing', { status: 404 });
});

const card = {
  id: 'pm_1',
  created: T0,
  card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2034, fingerprint: 'fp1', funding: 'credit', country: 'US' },
  billing_details: { email: null, name: null, phone: null },
  metadata: {},
};
const attached: CustomerEvent = { type: 'customer.payment_method_attached', at: T0 + 5, data: { payment_method: card } };

t.test('AttachPaymentMethod saves a card to the customer; a repeat writes nothing', async (t) => {
  it.given(t, [created])
    .when({ type: 'AttachPaymentMethod', paymentMethod: card, now: T0 + 5 })
    .then([attached])
    .thenState((s) => s !== null && JSON.stringify(s.payment_methods) === '["pm_1"]');
  it.given(t, [created, attached]).when({ type: 'AttachPaymentMethod', paymentMethod: card, now: T0 + 9 }).thenNothing();
  it.given(t, [created, attached])
    .when({ type: 'AttachPaymentMethod', paymentMethod: { ...card, id: 'pm_2' }, now: T0 + 9 })
    .thenState((s) => s !== null && JSON.stringify(s.payment_methods) === '["pm_1","pm_2"]');
});

t.test('AttachPaymentMethod to an unknown customer is resource_missing; past 100 cards it is refused', async (t) => {
  it.given(t, []).when({ type: 'AttachPaymentMethod', paymentMethod: card, now: T0 }).thenThrows('resource_missing', { status: 404 });
  const many = Array.from({ length: 100 }, (_, i): CustomerEvent => ({ type: 'customer.payment_method_attached', at: T0, data: { payment_method: { ...card, id: `pm_${i}x` } } }));
  it.given(t, [created, ...many]).when({ type: 'AttachPaymentMethod', paymentMethod: card, now: T0 + 5 }).thenThrows('parameter_invalid', { status: 400 });
});

t.test('DetachPaymentMethod removes it; detaching one not attached writes nothing', async (t) => {
  it.given(t, [created, attached])
    .when({ type: 'DetachPaymentMethod', paymentMethod: card, now: T0 + 9 })
    .then([{ type: 'customer.payment_method_detached', at: T0 + 9, data: { payment_method: card } }])
    .thenState((s) => s !== null && s.payment_methods?.length === 0);
  it.given(t, [created]).when({ type: 'DetachPaymentMethod', paymentMethod: card, now: T0 + 9 }).thenNothing();
});

t.test('UpdatePaymentMethod: an attached card’s new details; one not attached writes nothing', async (t) => {
  const renewed = { ...card, card: { ...card.card, exp_year: card.card.exp_year + 2 }, metadata: { k: 'v' } };
  it.given(t, [created, attached])
    .when({ type: 'UpdatePaymentMethod', paymentMethod: renewed, now: T0 + 9 })
    .then([{ type: 'customer.payment_method_updated', at: T0 + 9, data: { payment_method: renewed } }])
    .thenState((s) => s !== null && s.payment_methods?.length === 1);
  it.given(t, [created]).when({ type: 'UpdatePaymentMethod', paymentMethod: renewed, now: T0 + 9 }).thenNothing();
  it.given(t, []).when({ type: 'UpdatePaymentMethod', paymentMethod: renewed, now: T0 }).thenThrows('resource_missing', { status: 404 });
});

t.test('Delete marks the customer deleted and drops its saved cards; then it takes no changes', async (t) => {
  // The event names the cards it lets go (reconcile/work.ts clears their records from it).
  const deleted: CustomerEvent = { type: 'customer.deleted', at: T0 + 30, data: { payment_methods: [card.id] } };
  it.given(t, [created, attached])
    .when({ type: 'Delete', now: T0 + 30 })
    .then([deleted])
    .thenState((s) => s !== null && s.deleted === true && s.payment_methods?.length === 0 && s.email === 'jenny@example.com');
  it.given(t, [created, deleted]).when({ type: 'Delete', now: T0 + 40 }).thenNothing();
  it.given(t, [created, deleted]).when(update({ name: 'X' })).thenThrows('resource_missing', { status: 404 });
  it.given(t, [created, deleted]).when({ type: 'AttachPaymentMethod', paymentMethod: card, now: T0 + 40 }).thenThrows('resource_missing', { status: 404 });
  it.given(t, [created, deleted]).when({ type: 'Erase', reason: 'request', now: T0 + 40 }).thenState((s) => s !== null && s.email === null && s.deleted === true);
  it.given(t, []).when({ type: 'Delete', now: T0 }).thenThrows('resource_missing', { status: 404 });
});

t.test('Update sets the default card (invoice_settings) only to an attached one; detaching it unsets it', async (t) => {
  const setDefault = (pm: string | null): CustomerCommand => ({ type: 'Update', changes: {}, defaultPaymentMethod: pm, now: T0 + 20 });
  const defaulted: CustomerEvent = { type: 'customer.updated', at: T0 + 20, data: { default_payment_method: 'pm_1' } };
  it.given(t, [created, attached]).when(setDefault('pm_1')).then([defaulted]).thenState((s) => s?.default_payment_method === 'pm_1');
  it.given(t, [created, attached, defaulted]).when(setDefault('pm_1')).thenNothing();
  it.given(t, [created]).when(setDefault('pm_1')).thenThrows('resource_missing', { status: 400 });
  it.given(t, [created, attached, defaulted])
    .when(setDefault(null))
    .then([{ type: 'customer.updated', at: T0 + 20, data: { default_payment_method: null } }])
    .thenState((s) => s?.default_payment_method === null);
  it.given(t, [created, attached, defaulted])
    .when({ type: 'DetachPaymentMethod', paymentMethod: card, now: T0 + 30 })
    .thenState((s) => s !== null && s.default_payment_method === null && s.payment_methods?.length === 0);
});

const ADDRESS = { city: 'Pune', country: 'IN', line1: '1 MG Road', line2: null, postal_code: '411001', state: null };
const SHIP = { name: 'Jenny Rosen', phone: null, address: ADDRESS };

t.test('address and shipping: set at create, changed and unset by an update, cleared by an erasure', async (t) => {
  it.given(t, [])
    .when({ ...create, address: ADDRESS, shipping: SHIP })
    .then([{ type: 'customer.created', at: T0, data: { ...customer, address: ADDRESS, shipping: SHIP } }]);
  it.given(t, []).when({ ...create, address: null, shipping: null }).then([created]);
  it.given(t, [created]).when(update({ address: ADDRESS })).then([{ type: 'customer.updated', at: T0 + 10, data: { address: ADDRESS } }]);
  it.given(t, [created]).when(update({ address: null, shipping: null })).thenNothing();
  const withBoth: CustomerEvent = { type: 'customer.updated', at: T0 + 5, data: { address: ADDRESS, shipping: SHIP } };
  it.given(t, [created, withBoth]).when(update({ address: { ...ADDRESS } })).thenNothing();
  it.given(t, [created, withBoth]).when(update({ shipping: null })).then([{ type: 'customer.updated', at: T0 + 10, data: { shipping: null } }]);
  it.given(t, [created, withBoth])
    .when({ type: 'Erase', reason: 'request', now: T0 + 20 })
    .then([{ type: 'customer.erased', at: T0 + 20, data: { reason: 'request', fields: ['email', 'name', 'address', 'shipping'] } }])
    .thenState((s) => s !== null && s.address === null && s.shipping === null && s.email === null && s.metadata.order === '7');
});

t.test('preferred_locales and tax_exempt: the defaults write nothing, a change writes it', async (t) => {
  it.given(t, []).when({ ...create, preferred_locales: [], tax_exempt: 'none' }).then([created]);
  it.given(t, []).when({ ...create, preferred_locales: ['fr'], tax_exempt: 'exempt' }).thenState((s) => s?.preferred_locales?.[0] === 'fr' && s.tax_exempt === 'exempt');
  it.given(t, [created]).when(update({ preferred_locales: [], tax_exempt: 'none' })).thenNothing();
  it.given(t, [created]).when(update({ tax_exempt: 'reverse' })).then([{ type: 'customer.updated', at: T0 + 10, data: { tax_exempt: 'reverse' } }]);
});
