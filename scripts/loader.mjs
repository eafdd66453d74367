// `node --import ./scripts/loader.mjs <entry>.ts`: how the supervisor (scripts/start.ts) runs the
// stack's processes. TypeScript is compiled by esbuild as tsx does, with one difference that matters
// on the hot path: no `keepNames`. tsx turns it on, and then every named closure the code creates
// (a callback, a `const f = () => …` inside a function) is wrapped in a `__name(fn, "f")` call, an
// Object.defineProperty per closure created: a measurable share of CPU per request. Names stay as
// they are anyway: the code is not minified, so nothing is renamed. `npm run bench` (the load
// generator) runs with it too; tools, tests and the supervisor itself still run under tsx.
import { register } from 'node:module';

process.setSourceMapsEnabled(true); // stack traces point at the .ts lines, as under tsx
register('./loader-hooks.mjs', import.meta.url);
