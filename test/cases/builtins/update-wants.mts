// Fills in `want` for every case of corpus.yaml from the OPA CLI (never from the gateway engine), then prints the
// cases where the gateway engine disagrees. Add cases with only `expr` (and `note` if the expression does not speak
// for itself), run `node --import tsx test/cases/builtins/update-wants.mts`, and review the diff before committing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonical, CORPUS, evalWithGateway, evalWithOpa, loadCorpus } from '../../helpers/builtin-corpus.js';

const cases = loadCorpus();
const dir = mkdtempSync(join(tmpdir(), 'builtin-corpus-'));
try {
  const opa = evalWithOpa(dir, cases);
  const gateway = await evalWithGateway(dir, cases);
  let index = -1;
  const out: string[] = [];
  for (const line of readFileSync(CORPUS, 'utf8').split('\n')) {
    if (line.startsWith('  - ')) index++;
    if (line.startsWith('    want:')) continue;
    out.push(line);
    if (line.startsWith('  - expr:') || line.startsWith('    expr:')) out.push(`    want: ${JSON.stringify(opa[String(index)] ?? 'undefined')}`);
  }
  writeFileSync(CORPUS, out.join('\n'));
  let differ = 0;
  cases.forEach((c, i) => {
    const a = opa[String(i)];
    const b = gateway[String(i)];
    if (a === undefined || b === undefined ? a !== b : canonical(a) !== canonical(b)) {
      differ++;
      console.log(`${c.expr}\n  opa:     ${a ?? 'undefined'}\n  gateway: ${b ?? 'undefined'}`);
    }
  });
  console.log(`${cases.length} cases, ${differ} where the gateway differs from OPA`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
