// `npm run ops -- <command> [args] [--json]`: what only the payment domain knows, next to the real
// nats CLI (`npm run nats -- …`) for everything NATS-level. Every command has --help.
import { UsageError, createContext } from './context.ts';
import { commands } from './commands/index.ts';

function overview(): string {
  const w = Math.max(...commands.map((c) => c.name.length), 4);
  return [
    'usage: npm run ops -- <command> [args] [--json]',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Every command takes --help and --json. The stack is found through NATS_URL, GATEWAY_URL and',
    'ADMIN_TOKEN, or else DATA_DIR/demo-merchant.json written by `npm start`.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const [name, ...rest] = args;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(overview() + '\n');
    return name ? 0 : 1;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`unknown command '${name}'\n\n${overview()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(cmd.help.trimEnd() + '\n');
    return 0;
  }
  const ctx = createContext(process.env, json);
  try {
    await cmd.run(rest, ctx);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${name}: ${err.message}\n\n${cmd.help.trimEnd()}\n`);
      return 2;
    }
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await ctx.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
