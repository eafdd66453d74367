// Compares two V8 heap snapshots (`npm run bench -- --heap-snapshots` takes one of each stack node at
// the end of the warm-up and one at the end of the load): `npx tsx bench/heapdiff.ts A B [top] [Name]`.
// With a Name (a constructor, e.g. JsMsgImpl), also prints who holds a few new objects of that name.
// Prints, per node type + constructor/name, the change in count and self size (B − A), largest
// growth first, and B's largest single objects with the edge that holds them (a growing Map's
// backing table shows up there, named after the property that holds the Map).
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]]; edge_fields: string[]; edge_types: [string[], ...unknown[]] }; node_count: number };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function load(file: string): Snapshot {
  return JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
}

/** Where each field sits in the flat node and edge arrays of a snapshot. */
function layout(s: Snapshot) {
  const m = s.snapshot.meta;
  const n = (f: string) => m.node_fields.indexOf(f);
  const e = (f: string) => m.edge_fields.indexOf(f);
  return {
    nf: m.node_fields.length,
    ef: m.edge_fields.length,
    iType: n('type'),
    iName: n('name'),
    iId: n('id'),
    iSize: n('self_size'),
    iEdges: n('edge_count'),
    eType: e('type'),
    eName: e('name_or_index'),
    eTo: e('to_node'),
    types: m.node_types[0],
    etypes: m.edge_types[0],
  };
}

function groups(s: Snapshot): Map<string, { count: number; size: number }> {
  const { nf, iType, iName, iSize, types } = layout(s);
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < s.nodes.length; i += nf) {
    const type = types[s.nodes[i + iType]!]!;
    let name = s.strings[s.nodes[i + iName]!] ?? '';
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '';
    else if (name.length > 60) name = name.slice(0, 60) + '…';
    const k = `${type} ${name}`;
    const g = out.get(k) ?? { count: 0, size: 0 };
    g.count++;
    g.size += s.nodes[i + iSize]!;
    out.set(k, g);
  }
  return out;
}

/** The largest single nodes of a snapshot, each with one edge (parent name . edge name) that holds it. */
function largest(s: Snapshot, top: number): string[] {
  const { nf, ef, iType, iName, iSize, iEdges, eType, eName, eTo, types, etypes } = layout(s);
  const idx: number[] = [];
  for (let i = 0; i < s.nodes.length; i += nf) idx.push(i);
  idx.sort((a, b) => s.nodes[b + iSize]! - s.nodes[a + iSize]!);
  const want = new Set(idx.slice(0, top));
  const holder = new Map<number, string>();
  let e = 0;
  for (let i = 0; i < s.nodes.length; i += nf) {
    const n = s.nodes[i + iEdges]!;
    for (let k = 0; k < n; k++, e += ef) {
      const to = s.edges[e + eTo]!;
      if (!want.has(to) || holder.has(to)) continue;
      const et = etypes[s.edges[e + eType]!];
      const en = et === 'element' || et === 'hidden' ? `[${s.edges[e + eName]}]` : s.strings[s.edges[e + eName]!];
      holder.set(to, `${types[s.nodes[i + iType]!]} ${(s.strings[s.nodes[i + iName]!] ?? '').slice(0, 50)} .${et}:${en}`);
    }
  }
  return idx.slice(0, top).map((i) => `${(s.nodes[i + iSize]! / 2 ** 20).toFixed(2)} MB  ${types[s.nodes[i + iType]!]} ${(s.strings[s.nodes[i + iName]!] ?? '').slice(0, 50)}  ← ${holder.get(i) ?? '?'}`);
}

/**
 * Retainer chains (first strong holder at each level, up to `depth`) of a few objects named `name`
 * in B that were not in A (node ids are stable between snapshots of one process).
 */
function retainers(sa: Set<number>, s: Snapshot, name: string, samples: number, depth: number): string[] {
  const { nf, ef, iType, iName, iId, iEdges, eType, eName, eTo, types, etypes } = layout(s);
  // One strong parent per node (the first one seen), for the whole graph.
  const parent = new Map<number, { from: number; edge: string }>();
  let e = 0;
  for (let i = 0; i < s.nodes.length; i += nf) {
    const n = s.nodes[i + iEdges]!;
    for (let k = 0; k < n; k++, e += ef) {
      const et = etypes[s.edges[e + eType]!]!;
      if (et === 'weak' || et === 'shortcut') continue;
      const to = s.edges[e + eTo]!;
      if (parent.has(to)) continue;
      const en = et === 'element' || et === 'hidden' ? `[${s.edges[e + eName]}]` : s.strings[s.edges[e + eName]!];
      parent.set(to, { from: i, edge: `${et}:${en}` });
    }
  }
  const label = (i: number) => `${types[s.nodes[i + iType]!]} ${(s.strings[s.nodes[i + iName]!] ?? '').slice(0, 60)}`;
  const out: string[] = [];
  let found = 0;
  // Spread the samples over the snapshot (every k-th match), not just the first ones.
  let seen = 0;
  const every = Math.max(1, Number(process.env.HEAPDIFF_EVERY ?? 1));
  for (let i = 0; i < s.nodes.length && found < samples; i += nf) {
    // '@type' (e.g. '@string') matches by node type instead of by name.
    const hit = name.startsWith('@') ? types[s.nodes[i + iType]!] === name.slice(1) : s.strings[s.nodes[i + iName]!] === name;
    if (!hit || sa.has(s.nodes[i + iId]!)) continue;
    if (seen++ % every !== 0) continue;
    found++;
    const chain: string[] = [label(i)];
    let cur = i;
    for (let d = 0; d < depth; d++) {
      const p = parent.get(cur);
      if (!p) break;
      chain.push(`  ← .${p.edge}  ${label(p.from)}`);
      cur = p.from;
    }
    out.push(chain.join('\n'));
  }
  return out;
}

const [a, b, topArg, retainName] = process.argv.slice(2);
if (!a || !b) {
  process.stderr.write('usage: npx tsx bench/heapdiff.ts A.heapsnapshot B.heapsnapshot [top=30] [ConstructorName]\n');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const sa = load(a);
const ga = groups(sa);
const total = (g: Map<string, { size: number }>) => [...g.values()].reduce((x, y) => x + y.size, 0);
const ta = total(ga);
const idsA = new Set<number>();
if (retainName) {
  const nf = sa.snapshot.meta.node_fields.length;
  const iId = sa.snapshot.meta.node_fields.indexOf('id');
  for (let i = 0; i < sa.nodes.length; i += nf) idsA.add(sa.nodes[i + iId]!);
}
(sa as Partial<Snapshot>).nodes = []; // let A go before B is parsed
const sb = load(b);
const gb = groups(sb);
const tb = total(gb);
const rows = [...new Set([...ga.keys(), ...gb.keys()])].map((k) => ({ k, dc: (gb.get(k)?.count ?? 0) - (ga.get(k)?.count ?? 0), ds: (gb.get(k)?.size ?? 0) - (ga.get(k)?.size ?? 0), sb: gb.get(k)?.size ?? 0 }));
rows.sort((x, y) => y.ds - x.ds);
const mb = (n: number) => (n / 2 ** 20).toFixed(2);
process.stdout.write(`self size A ${mb(ta)} MB → B ${mb(tb)} MB (${mb(tb - ta)} MB)\n\ngrowth by type + name (Δ MB, Δ count, B MB):\n`);
for (const r of rows.slice(0, top)) process.stdout.write(`${mb(r.ds).padStart(8)}  ${String(r.dc).padStart(8)}  ${mb(r.sb).padStart(8)}  ${r.k}\n`);
process.stdout.write(`\nlargest objects in B:\n${largest(sb, Math.min(top, 20)).join('\n')}\n`);
if (retainName) process.stdout.write(`\nwho holds new '${retainName}' (in B, not in A):\n${retainers(idsA, sb, retainName, Number(process.env.HEAPDIFF_SAMPLES ?? 3), 14).join('\n\n')}\n`);
