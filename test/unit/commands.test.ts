import t from 'tap';
import type { PlannedOutageConfig } from '../../gateway/config/site-config.js';
import { CommandHandler } from '../../gateway/runtime/commands.js';

const TOKEN = 'a-long-enough-command-token';

function target(): { registered: PlannedOutageConfig[]; hasSwitch(id: string): boolean; registerPlannedOutage(p: PlannedOutageConfig): void } {
  const registered: PlannedOutageConfig[] = [];
  return { registered, hasSwitch: (id) => ['F1-CB', 'F1-R1'].includes(id), registerPlannedOutage: (p) => registered.push(p) };
}

const good = { token: TOKEN, requestId: 'r1', id: 'PL-2026-001', devices: ['F1-R1'], start: '2026-12-10T08:00:00+08:00', end: '2026-12-10T12:00:00+08:00', reason: 'pole replacement' };

t.test('an authorized, well-formed planned outage is registered and answered ok', (t) => {
  const tg = target();
  const r = new CommandHandler(TOKEN, tg).handle('plannedOutage', JSON.stringify(good));
  t.same(r, { command: 'plannedOutage', ok: true, requestId: 'r1', registered: { id: 'PL-2026-001', devices: ['F1-R1'], start: good.start, end: good.end, reason: 'pole replacement' } });
  t.same(tg.registered.map((p) => p.id), ['PL-2026-001']);
  t.end();
});

t.test('refusals name what was wrong and register nothing', (t) => {
  const cases: Array<[string, string | Record<string, unknown>, string]> = [
    ['plannedOutage', 'not json', 'payload is not JSON'],
    ['plannedOutage', { ...good, token: 'wrong-token-of-some-length' }, 'not authorized: missing or wrong token'],
    ['plannedOutage', { ...good, token: undefined }, 'not authorized: missing or wrong token'],
    ['plannedOutage', { ...good, devices: ['F9-X'] }, 'devices: unknown switch "F9-X"'],
    ['plannedOutage', { ...good, end: '2026-12-10T07:00:00+08:00' }, 'end: must be after start (2026-12-10T08:00:00+08:00)'],
    ['plannedOutage', { ...good, start: 'tomorrow' }, 'start: must be an ISO-8601 time with a zone (got "tomorrow")'],
    ['plannedOutage', { ...good, id: 'a/b' }, `id: must be a non-empty string without '/', '+' or '#' (got "a/b")`],
    ['plannedOutage', { ...good, colour: 'red' }, 'unknown field "colour"'],
    ['reboot', good, 'unknown command "reboot" (known: plannedOutage)'],
  ];
  for (const [name, payload, error] of cases) {
    const tg = target();
    const r = new CommandHandler(TOKEN, tg).handle(name, typeof payload === 'string' ? payload : JSON.stringify(payload));
    t.equal(r.ok, false, error);
    t.equal(r.error, error);
    t.same(tg.registered, []);
  }
  const disabled = new CommandHandler(undefined, target()).handle('plannedOutage', JSON.stringify(good));
  t.equal(disabled.error, 'commands are disabled on this gateway (no commands.token in the site configuration)');
  t.end();
});
