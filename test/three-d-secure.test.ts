// 3-D Secure: the 3DS test cards stop at requires_action with next_action.redirect_to_url pointing
// at our simulated challenge page; completing or failing it resumes the intent.
import t from 'tap';
import Stripe from 'stripe';
import { startStack } from './helpers/stack.ts';

const THREE_DS_CARDS = ['4000002760003184', '4000002500003155', '4000000000003220'];

t.test('3-D Secure challenge, completed and failed', async (t) => {
  const stack = await startStack(t);
  const m = await stack.onboard();
  const stripe = new Stripe(m.secret_key, { host: '127.0.0.1', port: stack.port, protocol: 'http' });

  async function challenge(pan: string, returnUrl?: string) {
    const pm = await stripe.paymentMethods.create({ type: 'card', card: { number: pan, exp_month: 12, exp_year: 2034, cvc: '123' } });
    const pi = await stripe.paymentIntents.create({
      amount: 2500,
      currency: 'eur',
      payment_method: pm.id,
      confirm: true,
      ...(returnUrl ? { return_url: returnUrl } : {}),
    });
    return pi;
  }

  for (const pan of THREE_DS_CARDS) {
    const pi = await challenge(pan);
    t.equal(pi.status, 'requires_action', `${pan.slice(-4)} asks for authentication`);
    t.equal(pi.next_action?.type, 'redirect_to_url');
  }

  t.test('completing the challenge succeeds the payment and redirects to return_url', async (t) => {
    const pi = await challenge('4000002760003184', 'https://shop.example/return?order=9');
    const url = pi.next_action!.redirect_to_url!.url!;
    t.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${stack.port}/3ds/challenge/`));
    const page = await fetch(url);
    t.equal(page.status, 200);
    t.match(page.headers.get('content-security-policy'), /default-src 'none'/);
    t.match(page.headers.get('content-security-policy'), /frame-ancestors 'self'/, 'framed only by us (and the merchant origins)');
    t.notMatch(page.headers.get('content-security-policy'), /frame-ancestors( [^;]*)? \*( |;|$)/, 'not by any site (no bare *)');
    const html = await page.text();
    t.match(html, /€25\.00/, 'the amount as the cardholder reads it');
    t.match(html, /3184/);
    t.notMatch(html, /4000002760003184/, 'the page never shows the card number');
    const tok = new URL(url).searchParams.get('t')!;
    const done = await fetch(`${url.split('?')[0]}/complete`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ t: tok }).toString(),
    });
    t.equal(done.status, 303, done.status === 303 ? 'redirected' : await done.clone().text());
    const back = new URL(done.headers.get('location')!);
    t.equal(back.origin + back.pathname, 'https://shop.example/return');
    t.equal(back.searchParams.get('order'), '9');
    t.equal(back.searchParams.get('payment_intent'), pi.id);
    t.equal(back.searchParams.get('redirect_status'), 'succeeded');
    t.equal(back.searchParams.get('payment_intent_client_secret'), pi.client_secret);
    const after = await stripe.paymentIntents.retrieve(pi.id, { expand: ['latest_charge'] });
    t.equal(after.status, 'succeeded');
    t.equal(after.next_action, null);
    t.equal((after.latest_charge as Stripe.Charge).status, 'succeeded');
    // A second click changes nothing.
    const again = await fetch(`${url.split('?')[0]}/fail`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `t=${encodeURIComponent(tok)}` });
    t.equal(again.status, 200, 'answered (the challenge is over)');
    t.equal((await stripe.paymentIntents.retrieve(pi.id)).status, 'succeeded', 'terminal stays terminal');
  });

  t.test('failing the challenge returns the intent to requires_payment_method', async (t) => {
    const pi = await challenge('4000000000003220');
    const url = pi.next_action!.redirect_to_url!.url!;
    const tok = new URL(url).searchParams.get('t')!;
    const res = await fetch(`${url.split('?')[0]}/fail`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `t=${encodeURIComponent(tok)}` });
    t.equal(res.status, 200);
    t.match(await res.text(), /Authentication failed/);
    const after = await stripe.paymentIntents.retrieve(pi.id);
    t.equal(after.status, 'requires_payment_method');
    t.equal(after.last_payment_error?.code, 'payment_intent_authentication_failure');
    // The shopper retries with a good card: a new attempt on the same intent.
    const ok = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    t.equal(ok.status, 'succeeded');
  });

  t.test('payment_method_options[card][request_three_d_secure]: any / challenge ask every card, automatic leaves it to the issuer', async (t) => {
    const complete = async (url: string) => {
      const tok = new URL(url).searchParams.get('t')!;
      return fetch(`${url.split('?')[0]}/complete`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ t: tok }).toString() });
    };
    // A card the issuer does not ask authentication for (pm_card_visa), 3-D Secure requested on create.
    const pi = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method: 'pm_card_visa', payment_method_options: { card: { request_three_d_secure: 'any' } }, confirm: true, return_url: 'https://shop.example/back' });
    t.equal(pi.status, 'requires_action', 'any: authentication asked for a card that does not require it');
    t.equal(pi.next_action?.type, 'redirect_to_url');
    t.equal(pi.payment_method_options?.card?.request_three_d_secure, 'any', 'echoed');
    t.equal((await complete(pi.next_action!.redirect_to_url!.url!)).status, 303);
    const paid = await stripe.paymentIntents.retrieve(pi.id);
    t.equal(paid.status, 'succeeded', 'authenticated, then authorized');
    t.equal(paid.payment_method_options?.card?.request_three_d_secure, 'any');

    // Set at confirm time, on an intent created without it.
    const later = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd' });
    t.equal(later.payment_method_options?.card?.request_three_d_secure, 'automatic', 'the default');
    const asked = await stripe.paymentIntents.confirm(later.id, { payment_method: 'pm_card_mastercard', payment_method_options: { card: { request_three_d_secure: 'challenge' } } });
    t.equal(asked.status, 'requires_action', 'challenge on confirm');
    t.equal(asked.payment_method_options?.card?.request_three_d_secure, 'challenge');

    // Set by an update, then back to automatic: the issuer decides again (pm_card_visa: no challenge).
    const upd = await stripe.paymentIntents.create({ amount: 1500, currency: 'usd' });
    t.equal((await stripe.paymentIntents.update(upd.id, { payment_method_options: { card: { request_three_d_secure: 'any' } } })).payment_method_options?.card?.request_three_d_secure, 'any');
    t.equal((await stripe.paymentIntents.update(upd.id, { payment_method_options: { card: { request_three_d_secure: 'automatic' } } })).payment_method_options?.card?.request_three_d_secure, 'automatic');
    t.equal((await stripe.paymentIntents.confirm(upd.id, { payment_method: 'pm_card_visa' })).status, 'succeeded', 'automatic: no challenge for this card');

    // Nobody to authenticate: declined authentication_required, back to requires_payment_method.
    let err: unknown;
    try {
      await stripe.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method: 'pm_card_visa', payment_method_options: { card: { request_three_d_secure: 'any' } }, confirm: true, error_on_requires_action: true });
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof Stripe.errors.StripeCardError, 'error_on_requires_action: a card error');
    const ce = err as Stripe.errors.StripeCardError;
    t.equal(ce.code, 'authentication_required');
    t.equal((ce.payment_intent as Stripe.PaymentIntent | undefined)?.status, 'requires_payment_method');

    // An unknown value is refused, naming the parameter.
    let bad: unknown;
    try {
      await stripe.paymentIntents.create({ amount: 1500, currency: 'usd', payment_method_options: { card: { request_three_d_secure: 'always' as never } } });
    } catch (e) {
      bad = e;
    }
    t.ok(bad instanceof Stripe.errors.StripeInvalidRequestError, 'request_three_d_secure=always refused');
  });

  t.test('a forged challenge link is refused', async (t) => {
    const pi = await challenge('4000002500003155');
    const url = pi.next_action!.redirect_to_url!.url!;
    const forged = url.replace(/t=[^&]+/, 't=forged');
    t.equal((await fetch(forged)).status, 404);
    const post = await fetch(`${url.split('?')[0]}/complete`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 't=forged' });
    t.equal(post.status, 404);
    t.equal((await stripe.paymentIntents.retrieve(pi.id)).status, 'requires_action');
  });
});
