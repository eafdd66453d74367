// `npm run ops -- kek …`: the key-encryption key's keyring entries (vault/kek.ts): status, rotate, retire.
import { readFileSync } from 'node:fs';
import { Kvm } from '@nats-io/kv';
import { buckets } from '../../nats/mod.ts';
import { kekIdOf, kekIds, retireKek, rewrapRoot } from '../../vault/kek.ts';
import { loadMasterKey } from '../../vault/mod.ts';
import { flag, positionals, type OpsCommand } from '../command.ts';
import { UsageError } from '../context.ts';

function readKey(source: string, raw: string): Buffer {
  const k = Buffer.from(raw.trim(), 'base64');
  if (k.length !== 32) throw new UsageError(`${source} must hold 32 bytes, base64-encoded`);
  return k;
}

export const kek: OpsCommand = {
  name: 'kek',
  summary: 'key-encryption key: which KEKs open the keyring, rotate to a new one, retire an old one',
  help: `usage: npm run ops -- kek <status|rotate|retire> [flags] [--json]

The KEK (MASTER_KEY, or DATA_DIR/keys/master.key) seals the keyring root in KV pay_security; every
working key (card data keys, webhook secrets, JWE private keys, API-key pepper) derives from the root.
Rotating re-wraps the root under a new KEK with no downtime:
  1. kek rotate --new-key-file new.key     (the root is now sealed under both KEKs)
  2. restart every process with MASTER_KEY = the new key (one at a time; old ones keep working)
  3. kek retire --kid <old kek id>         (the old KEK opens nothing any more)

subcommands:
  status                       the KEK ids with a keyring entry, and the id of the configured KEK
  rotate --new-key-file PATH   seal the root under the key in PATH (32 bytes base64); or NEW_MASTER_KEY
  retire --kid ID              delete the entry of KEK ID (never the last one)

The current KEK is MASTER_KEY if set, else DATA_DIR/keys/master.key. NATS_URL as for every command.
example: NEW_MASTER_KEY=$(openssl rand -base64 32) npm run ops -- kek rotate`,
  async run(args, ctx) {
    const [sub] = positionals(args);
    const kv = await new Kvm(await ctx.nats()).open(buckets.security);
    const current = () => (process.env.MASTER_KEY ? readKey('MASTER_KEY', process.env.MASTER_KEY) : loadMasterKey(ctx.dataDir, {}));
    switch (sub) {
      case 'status': {
        const ids = await kekIds(kv);
        const mine = kekIdOf(current());
        ctx.out(() => `keyring sealed under: ${ids.join(', ') || '(none yet: the first process start creates it)'}\nconfigured KEK: ${mine}${ids.includes(mine) ? '' : ' (NOT one of them)'}`, { kek_ids: ids, configured: mine, configured_opens_keyring: ids.includes(mine) });
        return;
      }
      case 'rotate': {
        const file = flag(args, 'new-key-file');
        const next = file ? readKey(file, readFileSync(file, 'utf8')) : process.env.NEW_MASTER_KEY ? readKey('NEW_MASTER_KEY', process.env.NEW_MASTER_KEY) : null;
        if (!next) throw new UsageError('kek rotate needs --new-key-file PATH or NEW_MASTER_KEY');
        const r = await rewrapRoot(kv, current(), next);
        ctx.out(`keyring root sealed under ${r.to} (as well as ${r.from}). Restart every process with the new MASTER_KEY, then: npm run ops -- kek retire --kid ${r.from}`, r);
        return;
      }
      case 'retire': {
        const kid = flag(args, 'kid');
        if (!kid) throw new UsageError('kek retire needs --kid ID');
        await retireKek(kv, kid);
        ctx.out(`kek ${kid} retired: it no longer opens the keyring`, { retired: kid, kek_ids: await kekIds(kv) });
        return;
      }
      default:
        throw new UsageError(`unknown subcommand '${sub ?? ''}' (status, rotate, retire); see --help`);
    }
  },
};
