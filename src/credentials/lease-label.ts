/**
 * How lease ids and token accessors appear in logs: enough to find them in Vault (`bao list sys/leases/lookup/<path>`
 * shows the same prefix), too little to renew or revoke anything with.
 */

const SHOWN = 6;

/** `database/creds/analyst-ro/6mj81gfnejJnLHvzBd7B2C8j` → `database/creds/analyst-ro/6mj81g…`. */
export function leaseLabel(leaseId: string): string {
  if (!leaseId) return '(no lease)';
  const cut = leaseId.lastIndexOf('/');
  return `${leaseId.slice(0, cut + 1)}${shortId(leaseId.slice(cut + 1))}`;
}

/** The first characters of an opaque id (token accessor, lease suffix). */
export function shortId(id: string): string {
  if (!id) return '';
  return id.length <= SHOWN ? '…' : `${id.slice(0, SHOWN)}…`;
}
