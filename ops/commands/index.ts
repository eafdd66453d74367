// Every ops command, in the order `npm run ops -- --help` lists them.
import type { OpsCommand } from '../command.ts';

export const commands: OpsCommand[] = [];
commands.push((await import('./recon.ts')).recon);
