/** Every read error code a driver can produce is documented in docs/errors.md (and nothing undocumented ships). */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { packagePath } from '../../gateway/paths.js';

t.test('every ReadErrorCode is documented', async (t) => {
  const source = await readFile(packagePath('drivers/reading.ts'), 'utf8');
  const union = /export type ReadErrorCode =([\s\S]*?);/.exec(source)?.[1] ?? '';
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
  t.ok(codes.length >= 6, `found ${codes.length} codes in drivers/reading.ts`);
  const doc = await readFile(packagePath('docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
  t.same([...documented].sort(), [...codes].sort(), 'docs/errors.md lists exactly the codes of ReadErrorCode');
});
