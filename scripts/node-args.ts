// How a process of the stack is started: `node` with scripts/loader.mjs (TypeScript compiled by
// esbuild without keepNames), the working directory being the repository's root.
export const stackNodeArgs = (entry: string): string[] => ['--import', './scripts/loader.mjs', entry];
