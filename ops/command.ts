// The shape of one ops command. Each lives in ops/commands/<name>.ts and is listed in ops/commands/index.ts.
import type { OpsContext } from './context.ts';

export interface OpsCommand {
  /** First word on the command line, e.g. 'streams'. */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Full `--help` text: usage line, subcommands, flags, an example. */
  help: string;
  /** args: everything after the command name, with --json already removed. */
  run(args: string[], ctx: OpsContext): Promise<void>;
}

/** `--name value` or `--name=value` from args; undefined when absent. */
export function flag(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}`) return args[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** Positional args (those not starting with -- and not the value of a --flag). */
export function positionals(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--')) {
      if (!a.includes('=') && i + 1 < args.length && !args[i + 1]!.startsWith('--')) i++;
      continue;
    }
    out.push(a);
  }
  return out;
}
