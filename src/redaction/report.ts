/** What redaction and scrubbing removed from one answer: for the audit record, never the values themselves. */
export interface RedactionReport {
  /** Pointers that matched something and were removed. */
  erased: string[];
  /** Masked substrings, by rule name (or pattern). */
  masked: Record<string, number>;
}
