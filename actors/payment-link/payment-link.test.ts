import t from 'tap';
import { spec } from '../testing.ts';
import { MAX_LINK_LINE_ITEMS, linkTotal, paymentLinkDecider, type PaymentLink, type PaymentLinkCommand, type PaymentLinkEvent } from './payment-link.ts';

const it = spec(paymentLinkDecider);

const T0 = 1_700_000_000;

const link: Omit<PaymentLink, 'created'> = {
  id: 'plink_1',
  merchant_id: 'acct_1',
  livemode: false,
  active: true,
  currency: 'usd',
  line_items: [{ id: 'li_1', price: 'price_1', product: 'prod_1', name: 'Poster', description: null, unit_amount: 1250, quantity: 2 }],
  metadata: { campaign: 'spring' },
  after_completion: { type: 'hosted_confirmation', custom_message: null },
  payment_intent_data: {},
  url: 'http://127.0.0.1/b/plink_1',
  inactive_message: null,
};

const create: PaymentLinkCommand = { type: 'Create', link, now: T0 };
const created: PaymentLinkEvent = { type: 'payment_link.created', at: T0, data: { ...link, created: T0 } };

t.test('a new link: created active, selling its line items', async (t) => {
  it.given(t, []).when(create).then([created]).thenState({ active: true, currency: 'usd', created: T0 });
  t.equal(linkTotal(link), 2500);
});

t.test('the same create twice writes nothing', async (t) => {
  it.given(t, [created]).when(create).thenNothing();
});

t.test('a link sells something, and not too much', async (t) => {
  it.given(t, []).when({ ...create, link: { ...link, line_items: [] } } as PaymentLinkCommand).thenThrows('parameter_missing', { param: 'line_items' });
  const many = Array.from({ length: MAX_LINK_LINE_ITEMS + 1 }, (_, n) => ({ ...link.line_items[0]!, id: `li_${n}` }));
  it.given(t, []).when({ ...create, link: { ...link, line_items: many } } as PaymentLinkCommand).thenThrows('parameter_invalid', { param: 'line_items' });
});

t.test('update: deactivate, after_completion, metadata merged; nothing changed writes nothing', async (t) => {
  it.given(t, [created])
    .when({ type: 'Update', active: false, inactiveMessage: 'Sold out', metadata: { batch: '2' }, now: T0 + 5 })
    .then([{ type: 'payment_link.updated', at: T0 + 5, data: { active: false, inactive_message: 'Sold out', metadata: { campaign: 'spring', batch: '2' } } }])
    .thenState({ active: false, inactive_message: 'Sold out' });
  it.given(t, [created])
    .when({ type: 'Update', afterCompletion: { type: 'redirect', url: 'https://example.com/thanks' }, now: T0 + 5 })
    .then([{ type: 'payment_link.updated', at: T0 + 5, data: { after_completion: { type: 'redirect', url: 'https://example.com/thanks' } } }]);
  it.given(t, [created]).when({ type: 'Update', active: true, metadata: { campaign: 'spring' }, now: T0 + 5 }).thenNothing();
  it.given(t, []).when({ type: 'Update', active: false, now: T0 }).thenThrows('resource_missing', { status: 404 });
});
