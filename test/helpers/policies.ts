/** Test policies: the example set extended through its documented extension point (deny_reasons), and an allow-all build. */
import { join } from 'node:path';
import { buildBundle, extendPolicyDir } from './bundles.js';
import { ALLOW_ALL_POLICIES, EXAMPLE_POLICIES } from './paths.js';

export const VETO_REASON = 'echo must not carry the word forbidden';

/** A veto added the way policies/README.md §5.6 shows: any echo whose text contains "forbidden" is denied. */
export const VETO_REGO = `package portcullis

deny_reasons contains "${VETO_REASON}" if {
	input.tool.name == "echo"
	contains(input.arguments.text, "forbidden")
}
`;

/**
 * A second complete \`decision\` rule that is true together with the example's allow rule for echo("conflict"):
 * two different values for one complete rule, which OPA reports as an evaluation (conflict) error.
 */
export const CONFLICT_REGO = `package portcullis

decision := {"outcome": "allow", "reasons": ["the conflicting rule"]} if {
	input.tool.name == "echo"
	input.arguments.text == "conflict"
}
`;

/** The example policy set plus the given extra files, built with the real CLI into `<dir>/<name>.tar.gz`. */
export function buildExampleBundle(dir: string, extra: Record<string, string> = {}, name = 'example'): string {
  const src = extendPolicyDir(EXAMPLE_POLICIES, join(dir, `${name}-src`), extra);
  return buildBundle(src, join(dir, `${name}.tar.gz`), `${name}-rev`);
}

export function buildAllowAllBundle(dir: string): string {
  return buildBundle(ALLOW_ALL_POLICIES, join(dir, 'allow-all.tar.gz'), 'allow-all-rev');
}
