// A merchant's access settings (KV pay_security, `merchant.<merchant_id>`): its own rate limits and
// whether it is PCI-validated (may send plain card data server-side in live mode). Every gateway
// keeps the whole bucket in memory through a watch, so reading a setting costs no round trip.
import type { KV } from '@nats-io/kv';

export interface MerchantSecurity {
  /** Requests per second, per mode; absent = the configured default; 0 = unlimited. */
  rate_limit?: { live?: number; test?: number };
  /** Attested PCI DSS (SAQ D): may send card numbers server-side unencrypted in live mode. */
  pci_validated?: boolean;
  updated?: number;
}

const keyOf = (merchantId: string) => `merchant.${merchantId}`;

export function createMerchantSecurity(kv: KV) {
  const all = new Map<string, MerchantSecurity>();
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => (resolveReady = r));
  void (async () => {
    try {
      const it = await kv.watch({ key: 'merchant.*' });
      resolveReady();
      for await (const e of it) {
        const id = e.key.slice('merchant.'.length);
        if (e.operation === 'PUT' && e.value.length > 0) all.set(id, e.json<MerchantSecurity>());
        else all.delete(id);
      }
    } catch {
      resolveReady();
    }
  })();
  return {
    /** Resolves once the watch is in place (the current settings arrive right after). */
    ready,
    get(merchantId: string): MerchantSecurity | undefined {
      return all.get(merchantId);
    },
    /** Reads through KV (for the admin API: the latest, not the watched copy). */
    async read(merchantId: string): Promise<MerchantSecurity> {
      const e = await kv.get(keyOf(merchantId));
      return e && e.operation === 'PUT' && e.value.length > 0 ? e.json<MerchantSecurity>() : {};
    },
    async write(merchantId: string, s: MerchantSecurity): Promise<void> {
      await kv.put(keyOf(merchantId), JSON.stringify(s));
      all.set(merchantId, s);
    },
  };
}
export type MerchantSecuritySettings = ReturnType<typeof createMerchantSecurity>;
