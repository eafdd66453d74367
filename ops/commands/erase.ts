// `npm run ops -- erase`: a data subject's erasure request (GDPR art. 17) through the admin API
// (POST /admin/merchants/:id/erasures). Each matching customer gets a customer.erased event; the
// ledger of amounts stays.
import { flag, type OpsCommand } from '../command.ts';
import { UsageError } from '../context.ts';

interface Erasure {
  object: 'erasure';
  merchant: string;
  customers: string[];
  created: number;
}

export const erase: OpsCommand = {
  name: 'erase',
  summary: 'erase a customer’s personal data (email, name, phone, description) by customer id or email',
  help: `usage: npm run ops -- erase --merchant ACCT (--customer CUS | --email ADDRESS) [--json]

Records a customer.erased event on each matching customer (by id, or every customer of the merchant
with exactly that email, test and live). The customer's email, name, phone and description become
null in the actor state and the read model, and the receipt_email of its PaymentIntents is cleared
in the read model and in stored events. Amounts, currencies and statuses are never touched.
Events already in the PAY_EVENTS stream keep the old values until the stream's max age removes them.

flags:
  --merchant ACCT      the merchant (acct_…)
  --customer CUS       one customer id
  --email ADDRESS      every customer with this exact email

Needs GATEWAY_URL and ADMIN_TOKEN (or a running npm start).
example: npm run ops -- erase --merchant acct_123 --email jenny@example.com`,
  async run(args, ctx) {
    const merchant = flag(args, 'merchant');
    const customer = flag(args, 'customer');
    const email = flag(args, 'email');
    if (!merchant) throw new UsageError('erase needs --merchant ACCT');
    if ((customer === undefined) === (email === undefined)) throw new UsageError('erase needs exactly one of --customer CUS or --email ADDRESS');
    const r = await ctx.admin<Erasure>('POST', `/admin/merchants/${encodeURIComponent(merchant)}/erasures`, customer !== undefined ? { customer } : { email });
    ctx.out(
      () => (r.customers.length === 0 ? `no customer of ${merchant} matched; nothing erased` : `erased personal data of ${r.customers.length} customer(s): ${r.customers.join(', ')}`),
      r,
    );
  },
};
