// Renders docs/config.md from the descriptions in src/config/config.schema.json (the schema is the single source).
import { readFileSync, writeFileSync } from 'node:fs';

const schema = JSON.parse(readFileSync('src/config/config.schema.json', 'utf8'));
const rows = [];
function typeOf(n) {
  if (n.enum) return n.enum.map((v) => `\`${v}\``).join(' \\| ');
  if (n.oneOf) return n.oneOf.map(typeOf).join(' or ');
  if (n.type === 'array') return `${typeOf(n.items ?? {})}[]`;
  return n.type ?? 'any';
}
function walk(node, path) {
  for (const [k, v] of Object.entries(node.properties ?? {})) {
    const p = `${path}${k}`;
    const req = (node.required ?? []).includes(k) ? ' (required)' : '';
    const def = v.default !== undefined ? ` Default: \`${JSON.stringify(v.default)}\`.` : '';
    rows.push(`| \`${p}\`${req} | ${typeOf(v)} | ${v.description ?? ''}${def} |`);
    if (v.type === 'object' && v.properties) walk(v, `${p}.`);
    // A map of named entries (e.g. credentials.<name>): document the entry's own fields under a placeholder.
    if (v.type === 'object' && v.additionalProperties?.properties) walk(v.additionalProperties, `${p}.<name>.`);
    if (v.type === 'array' && v.items?.properties) walk(v.items, `${p}[].`);
  }
}
walk(schema, '');
const out = `# Configuration reference

Generated from \`src/config/config.schema.json\` by \`node scripts/gen-config-doc.mjs\`; do not edit by hand.
${schema.description}

Check a file with \`portcullis validate --config FILE\`: it runs the checks \`serve\` runs (the schema, every secret environment variable set, every key and certificate file readable) without starting anything, and exits 0, or prints each problem (\`servers[1].url: must match format "uri"\`) and exits 1.

| Field | Type | Meaning |
|---|---|---|
${rows.join('\n')}
`;
writeFileSync('docs/config.md', out);
console.log(`docs/config.md: ${rows.length} fields`);
