/**
 * Which server a resource URI belongs to on the aggregate endpoint, learnt from what servers list: exact URIs
 * from resources/list, and patterns from resources/templates/list (RFC 6570 templates, matched loosely: each
 * expression stands for one or more characters). Shared by every client (a URI names the same resource for
 * everyone) and bounded, so no client can grow it without limit.
 */
const MAX_URIS = 10_000;
const MAX_TEMPLATES = 1_000;

export class ResourceOwners {
  private readonly uris = new Map<string, string>();
  private readonly templates = new Map<string, { serverId: string; re: RegExp }>();

  remember(uri: string, serverId: string): void {
    this.uris.delete(uri);
    this.uris.set(uri, serverId);
    // Map iteration order is insertion order: the first key is the least recently listed.
    if (this.uris.size > MAX_URIS) this.uris.delete(this.uris.keys().next().value!);
  }

  rememberTemplate(template: string, serverId: string): void {
    const key = `${serverId}\u0000${template}`;
    if (this.templates.has(key)) return;
    const re = templateRegExp(template);
    if (!re) return;
    this.templates.set(key, { serverId, re });
    if (this.templates.size > MAX_TEMPLATES) this.templates.delete(this.templates.keys().next().value!);
  }

  /** The server that listed `uri`, or the only one among `candidates` whose templates match it. */
  ownerOf(uri: string, candidates: readonly string[]): string | undefined {
    const listed = this.uris.get(uri);
    if (listed && candidates.includes(listed)) return listed;
    const matching = new Set<string>();
    for (const t of this.templates.values()) if (candidates.includes(t.serverId) && t.re.test(uri)) matching.add(t.serverId);
    return matching.size === 1 ? [...matching][0] : undefined;
  }
}

/** A template as a whole-string RegExp: literal text escaped, each `{…}` expression one or more characters. */
export function templateRegExp(template: string): RegExp | undefined {
  if (template.length > 2048) return undefined;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open === -1) {
      out += escape(template.slice(i));
      break;
    }
    const close = template.indexOf('}', open);
    if (close === -1) return undefined;
    out += escape(template.slice(i, open));
    const op = template[open + 1];
    // {+x} and {#x} may span slashes; {x} is one path segment's worth of text.
    out += op === '+' || op === '#' ? '.+' : op === '?' || op === '&' ? '(?:[?&].*)?' : '[^/?#]+';
    i = close + 1;
  }
  return new RegExp(`^${out}$`);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
