import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runScenario } from '../helpers/scenario-runner.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', 'scenarios');

for (const name of readdirSync(root).sort()) {
  t.test(name, (t) => {
    const result = runScenario(join(root, name));
    t.strictSame(result.mismatches, [], 'events as expected');
    t.end();
  });
}
