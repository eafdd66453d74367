// Every ops command, in the order `npm run ops -- --help` lists them.
import type { OpsCommand } from '../command.ts';

import { replayCommand } from './replay.ts';
import { auditCommand } from './audit.ts';

export const commands: OpsCommand[] = [];
commands.push(replayCommand);
commands.push(auditCommand);
