/** Cross-reference checks of simulator.automation (gateway/config/cross-references.ts) on the demo site. */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadSiteConfig } from '../../gateway/config/load-site.js';

t.test('automation must name existing feeders and only breakers/reclosers for protection', async (t) => {
  const demo = await readFile('config/sites/demo.yaml', 'utf8');
  const bad = demo
    .replace('{ feeder: F2, mode: none, capacityA: 400 }', '{ feeder: F9, mode: none, capacityA: 400 }')
    .replace('{ device: F1-CB, deadTimesMs: [5000, 15000] }', '{ device: F1-LS1, deadTimesMs: [5000] }');
  // Device templates resolve relative to the site file's folder: keep it beside the demo's config/devices.
  const file = join(process.cwd(), 'config/sites', `.fa-config-test-${process.pid}.yaml`);
  await writeFile(file, bad);
  t.teardown(() => rm(file, { force: true }));
  const err = await loadSiteConfig(file, {}).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  t.match(err?.message ?? '', /simulator\.automation\.feeders\[1\]\.feeder.*feeder "F9" does not exist/s);
  t.match(err?.message ?? '', /simulator\.automation\.protection\[0\]\.device.*F1-LS1.*only breakers and reclosers reclose/s);
});
