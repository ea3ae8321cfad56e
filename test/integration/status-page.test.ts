/**
 * The status page in headless Chromium against the demo stack (simulator + gateway + real Mosquitto): a fault
 * on F1-S3 trips recloser F1-R1; the diagram must show F1-S3 faulted and F1-S2, F1-S4 de-energized within 2 s
 * of the trip being visible at the device, then everything energized again after repair and reclose.
 * Screenshots of each state go to test-artifacts/status-page/. No request may leave 127.0.0.1.
 * Then `feederwatch status` against the same running stack.
 */
import t from 'tap';
import { mkdir } from 'node:fs/promises';
import { chromium, type Page } from 'playwright-core';
import { packagePath } from '../../gateway/paths.js';
import { control, eventually, startDemoStack } from '../helpers/demo-stack.js';
import { runCli } from '../helpers/cli.js';
import { startMosquitto } from '../helpers/services.js';

const ARTIFACTS = packagePath('test-artifacts', 'status-page');

/** The data-state of each named section of feeder F1 as the page shows it. */
async function sectionStates(page: Page, ids: string[]): Promise<Record<string, string | null>> {
  const out: Record<string, string | null> = {};
  for (const id of ids) out[id] = await page.getAttribute(`[data-feeder="F1"] path[data-section="${id}"]`, 'data-state');
  return out;
}

async function waitForStates(page: Page, expected: Record<string, string>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  // Runs in the page (the test's TypeScript has no DOM types, hence the small structural type).
  await page.waitForFunction(
    (exp: Record<string, string>) => {
      const doc = (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } }).document;
      return Object.entries(exp).every(([id, state]) => doc.querySelector(`[data-feeder="F1"] path[data-section="${id}"]`)?.getAttribute('data-state') === state);
    },
    expected,
    { timeout: timeoutMs, polling: 20 },
  );
  return Date.now() - started;
}

t.test('status page: fault, then restoration, live in the diagram; nothing leaves 127.0.0.1', { timeout: 120_000 }, async (t) => {
  await mkdir(ARTIFACTS, { recursive: true });
  const broker = await startMosquitto();
  t.teardown(() => broker.stop());
  const stack = await startDemoStack({ mqttUrl: broker.url, http: true });
  t.teardown(() => stack.stop());
  await eventually('every device online', async () => (stack.gateway.status().devices.every((d) => d.state === 'online') ? true : undefined), 15_000);

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  const foreign: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    requests.push(url.href);
    if (url.hostname !== '127.0.0.1') {
      foreign.push(url.href);
      return route.abort();
    }
    return route.continue();
  });
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  await page.goto(stack.httpUrl!);
  await page.waitForSelector('#live.ok', { timeout: 5000 });
  t.same(await sectionStates(page, ['F1-S1', 'F1-S2', 'F1-S3', 'F1-S4']), { 'F1-S1': 'energized', 'F1-S2': 'energized', 'F1-S3': 'energized', 'F1-S4': 'energized' }, 'all of F1 energized before the fault');
  t.equal(await page.getAttribute('[data-feeder="F1"] g[data-switch="F1-R1"]', 'data-position'), 'closed');
  t.equal(await page.getAttribute('[data-feeder="F1"] g[data-switch="TIE-12"]', 'data-tie'), 'true', 'the tie is marked');
  t.equal(await page.getAttribute('[data-feeder="F1"] g[data-switch="TIE-12"]', 'data-position'), 'open');
  t.equal(await page.textContent('#ready'), 'ready');
  await page.screenshot({ path: `${ARTIFACTS}/1-normal.png`, fullPage: true });

  // The fault trips F1-R1 in the simulator at once; the FTU's next poll shows it.
  const faultAt = Date.now();
  await control(stack.controlUrl, 'POST', '/faults', { section: 'F1-S3' });
  await waitForStates(page, { 'F1-S1': 'energized', 'F1-S2': 'deenergized', 'F1-S3': 'faulted', 'F1-S4': 'deenergized' }, 5000);
  const shownMs = Date.now() - faultAt;
  t.ok(shownMs < 2000, `fault shown in the diagram ${shownMs} ms after the trip`);
  t.equal(await page.getAttribute('[data-feeder="F1"] g[data-switch="F1-R1"]', 'data-position'), 'open', 'F1-R1 drawn open');
  t.equal(await page.getAttribute('[data-feeder="F1"] g[data-transformer="T103"]', 'data-state'), 'faulted');
  t.equal(await page.getAttribute('[data-feeder="F2"] path[data-section="F2-S2"]', 'data-state'), 'energized', 'F2 untouched');
  const outageText = await page.textContent('#outages');
  t.match(outageText, /F1-R1/);
  t.match(outageText, /protectionTrip/);
  t.match(outageText, /F1-S3/);
  await page.waitForSelector('[data-feeder="F1"] [data-customers-out]:has-text("8 customers out")', { timeout: 2000 });
  await page.screenshot({ path: `${ARTIFACTS}/2-faulted.png`, fullPage: true });

  // `feederwatch status` against the running stack, while the outage is on.
  const status = await runCli(['status', '--url', stack.httpUrl!]);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /Site demo-xixi .*: ready/);
  t.match(status.stdout, /F1 10 kV Xixi line 1: 8 customers out/);
  t.match(status.stdout, /FAULTED: F1-S3/);
  t.match(status.stdout, /de-energized: F1-S2, F1-S4/);
  t.match(status.stdout, /open: F1-R1, TIE-12/);
  t.match(status.stdout, /Active outages: 1\n {2}\S+: F1 protectionTrip at F1-R1, fault on F1-S3, 8 customers out \(8 affected\)/);
  const asJson = await runCli(['status', '--url', stack.httpUrl!, '--json']);
  t.equal(asJson.code, 0);
  t.match(JSON.parse(asJson.stdout), { siteId: 'demo-xixi', feeders: [{ id: 'F1', sections: { 'F1-S3': 'faulted', 'F1-S2': 'deenergized', 'F1-S1': 'energized' } }, { id: 'F2' }] });

  // Repair and reclose.
  await control(stack.controlUrl, 'DELETE', '/faults/F1-S3');
  const closeAt = Date.now();
  await control(stack.controlUrl, 'POST', '/switches/F1-R1', { position: 'closed' });
  await waitForStates(page, { 'F1-S1': 'energized', 'F1-S2': 'energized', 'F1-S3': 'energized', 'F1-S4': 'energized' }, 5000);
  const restoredMs = Date.now() - closeAt;
  t.ok(restoredMs < 2000, `restoration shown in the diagram ${restoredMs} ms after the reclose`);
  t.equal(await page.getAttribute('[data-feeder="F1"] g[data-switch="F1-R1"]', 'data-position'), 'closed');
  await page.waitForSelector('#outages .empty', { timeout: 2000 });
  await page.screenshot({ path: `${ARTIFACTS}/3-restored.png`, fullPage: true });

  // A tablet-sized viewport: the diagram scales, nothing overflows the page sideways.
  await page.setViewportSize({ width: 768, height: 1024 });
  const overflow = await page.evaluate(() => {
    const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document.documentElement;
    return root.scrollWidth - root.clientWidth;
  });
  t.ok(overflow <= 0, `no horizontal page overflow on a tablet (${overflow} px)`);
  await page.screenshot({ path: `${ARTIFACTS}/4-tablet.png`, fullPage: true });

  t.same(foreign, [], 'no request left 127.0.0.1');
  t.ok(requests.some((u) => u.endsWith('/api/events')), 'the page opened the event stream');
  t.same(consoleErrors, [], 'no script or CSP error on the page');
  t.comment(`fault -> diagram ${shownMs} ms, reclose -> diagram ${restoredMs} ms`);
});
