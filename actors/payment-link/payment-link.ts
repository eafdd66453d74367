// The payment link aggregate: Stripe's PaymentLink, a shareable URL that sells fixed line items of the
// catalogue. Each visit to its URL opens a Checkout Session for them (the session, held by its
// PaymentIntent, is where money moves); the link itself only says what is sold and whether it still
// is. Its line items are copied from the prices when it is made (a price's amount never changes, and
// an archived price does not take a live link down). Pure: ids, the mode and `now` ride on the commands.
import { DomainError, assertNever, type Decider } from '../decider.ts';
import { checkMetadata, mergeMetadata, type MetadataPatch } from '../customer/customer.ts';
import type { CaptureMethod, Shipping } from '../payment-intent/intent.ts';

export interface LinkLineItem {
  id: string; // li_…
  price: string;
  product: string;
  /** The product's name and description when the link was made (what the page and the session show). */
  name: string;
  description: string | null;
  unit_amount: number;
  quantity: number;
}

/** After a payment: our confirmation page (with the merchant's message), or on to the merchant's URL. */
export type AfterCompletion = { type: 'hosted_confirmation'; custom_message: string | null } | { type: 'redirect'; url: string };

/** What the link's sessions give their PaymentIntents (Stripe's payment_intent_data). */
export interface LinkIntentData {
  capture_method?: CaptureMethod;
  description?: string | null;
  metadata?: Record<string, string>;
  statement_descriptor?: string | null;
  statement_descriptor_suffix?: string | null;
  shipping?: Shipping | null;
}

export interface PaymentLink {
  id: string; // plink_…
  merchant_id: string;
  livemode: boolean;
  active: boolean;
  currency: string;
  line_items: LinkLineItem[];
  metadata: Record<string, string>;
  after_completion: AfterCompletion;
  payment_intent_data: LinkIntentData;
  /** Where customers go: our page that opens a Checkout Session (fixed when the link is made, as Stripe's). */
  url: string;
  /** Stripe's inactive_message: shown to a visitor once the link is deactivated. */
  inactive_message: string | null;
  created: number;
}

export type PaymentLinkState = PaymentLink | null;

export type PaymentLinkCommand =
  | { type: 'Create'; link: Omit<PaymentLink, 'created'>; now: number }
  | { type: 'Update'; active?: boolean; metadata?: MetadataPatch; afterCompletion?: AfterCompletion; inactiveMessage?: string | null; now: number };

export type PaymentLinkEvent =
  | { type: 'payment_link.created'; at: number; data: PaymentLink }
  | { type: 'payment_link.updated'; at: number; data: { active?: boolean; metadata?: Record<string, string>; after_completion?: AfterCompletion; inactive_message?: string | null } };

export type PaymentLinkEventType = PaymentLinkEvent['type'];

/** Stripe: at most 20 line items on a link. */
export const MAX_LINK_LINE_ITEMS = 20;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function decide(cmd: PaymentLinkCommand, s: PaymentLinkState): PaymentLinkEvent[] {
  switch (cmd.type) {
    case 'Create': {
      if (s !== null) return []; // ids are derived from the command: the same create twice writes nothing
      const l = cmd.link;
      if (l.line_items.length === 0) throw new DomainError('parameter_missing', 'Missing required param: line_items.', 'line_items');
      if (l.line_items.length > MAX_LINK_LINE_ITEMS) throw new DomainError('parameter_invalid', `A payment link can have at most ${MAX_LINK_LINE_ITEMS} line items.`, 'line_items');
      checkMetadata(l.metadata);
      return [{ type: 'payment_link.created', at: cmd.now, data: { ...l, created: cmd.now } }];
    }
    case 'Update': {
      if (s === null) throw new DomainError('resource_missing', 'No such payment link.', 'id', 404);
      const data: Extract<PaymentLinkEvent, { type: 'payment_link.updated' }>['data'] = {};
      if (cmd.active !== undefined && cmd.active !== s.active) data.active = cmd.active;
      if (cmd.afterCompletion !== undefined && !same(cmd.afterCompletion, s.after_completion)) data.after_completion = cmd.afterCompletion;
      if (cmd.inactiveMessage !== undefined && cmd.inactiveMessage !== s.inactive_message) data.inactive_message = cmd.inactiveMessage;
      if (cmd.metadata !== undefined) {
        const metadata = mergeMetadata(s.metadata, cmd.metadata);
        if (!same(metadata, s.metadata)) {
          checkMetadata(metadata);
          data.metadata = metadata;
        }
      }
      return Object.keys(data).length === 0 ? [] : [{ type: 'payment_link.updated', at: cmd.now, data }];
    }
    default:
      return assertNever(cmd);
  }
}

function evolve(s: PaymentLinkState, e: PaymentLinkEvent): PaymentLinkState {
  switch (e.type) {
    case 'payment_link.created':
      return { ...e.data, metadata: { ...e.data.metadata }, line_items: e.data.line_items.map((li) => ({ ...li })) };
    case 'payment_link.updated':
      return s && { ...s, ...e.data };
    default:
      return assertNever(e);
  }
}

export const paymentLinkDecider: Decider<PaymentLinkCommand, PaymentLinkEvent, PaymentLinkState> = {
  initialState: null,
  decide,
  evolve,
};

/** What a link sells, in minor units of its currency. */
export const linkTotal = (l: Pick<PaymentLink, 'line_items'>) => l.line_items.reduce((n, li) => n + li.unit_amount * li.quantity, 0);
