// Module hooks for scripts/loader.mjs: a project `.ts` file is compiled by esbuild (types stripped,
// inline source map, no keepNames); everything else loads as Node loads it.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts') || url.includes('/node_modules/')) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { code } = await transform(await readFile(file, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    platform: 'node',
    sourcefile: file,
    sourcemap: 'inline',
    keepNames: false,
  });
  return { format: 'module', source: code, shortCircuit: true };
}
