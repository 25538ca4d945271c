/** Reads the gateway's audit file: one JSON record per line (a line that is not a JSON object fails loudly). */
import { existsSync, readFileSync } from 'node:fs';

export interface AuditLine {
  decision_id: string;
  action: string;
  outcome: string;
  reasons: string[];
  tool?: string;
  arguments?: unknown;
  error_code?: number;
  [k: string]: unknown;
}

/** The non-empty lines of the file, unparsed. */
export function auditLines(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
}

export function parseAuditLine(line: string, index: number): AuditLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    v = undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new Error(`audit line ${index + 1} is not a JSON record: ${JSON.stringify(line.slice(0, 200))}`);
  }
  return v as AuditLine;
}

export function readAudit(file: string): AuditLine[] {
  return auditLines(file).map(parseAuditLine);
}
