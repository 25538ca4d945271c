/** `portcullis audit verify`: checks a hash-chained audit trail (file set or PostgreSQL table); exit 0 intact, 1 broken. */
import { Command } from 'commander';
import { verifyFiles, verifyPostgres, type VerifyResult } from '../audit/verify.js';

interface VerifyFlags {
  file?: string;
  postgres?: string;
  postgresEnv?: string;
  table: string;
  keyEnv?: string;
  key: boolean;
  open?: boolean;
  json?: boolean;
}

function describe(r: VerifyResult, keyChecked: boolean): string {
  if (!r.ok) {
    const p = r.problem!;
    const who = [p.seq !== undefined ? `seq ${p.seq}` : null, p.decision_id ? `decision_id ${p.decision_id}` : null].filter(Boolean).join(', ');
    return `audit verify: BROKEN at ${p.where}${who ? ` (${who})` : ''}: ${p.reason}\n` + `  ${r.entries} entries verified before it (${r.sources.join(', ')})\n`;
  }
  const lines = [
    `audit verify: OK: ${r.entries} entries (${r.records} records, ${r.checkpoints} checkpoints), seq ${r.firstSeq}..${r.lastSeq}` +
      `${keyChecked ? ', checkpoints authenticated' : ''} (${r.sources.join(', ')})`,
  ];
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return `${lines.join('\n')}\n`;
}

export async function auditVerify(o: VerifyFlags): Promise<number> {
  const pgUrl = o.postgres ?? (o.postgresEnv ? process.env[o.postgresEnv] : undefined);
  if ((o.file ? 1 : 0) + (pgUrl || o.postgresEnv ? 1 : 0) !== 1) {
    process.stderr.write('audit verify: give exactly one of --file FILE or --postgres URL / --postgres-env NAME\n');
    return 2;
  }
  if (o.postgresEnv && !pgUrl) {
    process.stderr.write(`audit verify: environment variable ${o.postgresEnv} is not set\n`);
    return 2;
  }
  let key: string | undefined;
  if (o.keyEnv) {
    key = process.env[o.keyEnv];
    if (!key) {
      process.stderr.write(`audit verify: environment variable ${o.keyEnv} (--key-env) is not set\n`);
      return 2;
    }
  } else if (o.key) {
    // Without the key a forged closing checkpoint would pass: say so rather than pass quietly.
    process.stderr.write('audit verify: --key-env NAME is required to authenticate checkpoints (or --no-key to check the hash chain only)\n');
    return 2;
  }
  let r: VerifyResult;
  try {
    r = o.file ? await verifyFiles(o.file, { key, open: o.open }) : await verifyPostgres(pgUrl!, o.table, { key, open: o.open });
  } catch (err) {
    process.stderr.write(`audit verify: ${(err as Error).message}\n`);
    return 2;
  }
  process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : describe(r, key !== undefined));
  return r.ok ? 0 : 1;
}

export function auditCommand(setExit: (code: number) => void): Command {
  const cmd = new Command('audit').description('work with the hash-chained audit trail');
  cmd
    .command('verify')
    .description('check an audit trail and name the first broken entry; exit 0 intact, 1 broken, 2 usage error')
    .option('--file <file>', 'the audit file (rotated siblings FILE.1, FILE.2, ... are read first)')
    .option('--postgres <url>', 'PostgreSQL URL of the audit table')
    .option('--postgres-env <name>', 'environment variable holding the PostgreSQL URL (keeps the password off the command line)')
    .option('--table <name>', 'audit table', 'portcullis_audit')
    .option('--key-env <name>', 'environment variable holding the checkpoint key (audit.checkpoint.keyEnv)')
    .option('--no-key', 'check the hash chain only, without authenticating checkpoints')
    .option('--open', 'accept a tail not closed by a closing checkpoint (the gateway is still running)')
    .option('--json', 'print the result as JSON')
    .action(async (o: VerifyFlags) => setExit(await auditVerify(o)));
  return cmd;
}
