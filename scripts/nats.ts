// `npm run nats -- <args>`: the pinned nats CLI, pointed at this stack's server. NATS_URL wins;
// otherwise the URL `npm start` wrote to DATA_DIR/demo-merchant.json.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ensureNatsCli } from './tools.ts';

const bin = await ensureNatsCli();
let url = process.env.NATS_URL;
const demo = path.resolve(process.env.DATA_DIR ?? '.data', 'demo-merchant.json');
if (!url && existsSync(demo)) url = (JSON.parse(readFileSync(demo, 'utf8')) as { nats_url?: string }).nats_url;
const r = spawnSync(bin, process.argv.slice(2), { stdio: 'inherit', env: { ...process.env, ...(url ? { NATS_URL: url } : {}) } });
process.exit(r.status ?? 1);
