// Every ops command, in the order `npm run ops -- --help` lists them.
import type { OpsCommand } from '../command.ts';

import { replayCommand } from './replay.ts';
import { auditCommand } from './audit.ts';

export const commands: OpsCommand[] = [];
import { streams } from './streams.ts'; commands.push(streams);
import { consumers } from './consumers.ts'; commands.push(consumers);
import { partitions } from './partitions.ts'; commands.push(partitions);
import { intent } from './intent.ts'; commands.push(intent);
import { merchant } from './merchant.ts'; commands.push(merchant);
import { webhooks } from './webhooks.ts';
commands.push(webhooks);
import { kek } from './kek.ts';
commands.push(kek);
commands.push((await import('./recon.ts')).recon);
commands.push(replayCommand);
commands.push(auditCommand);
commands.push((await import('./erase.ts')).erase);
