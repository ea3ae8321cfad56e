import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { generateSubstationCommand } from '../../gateway/cli/generate-substation.js';
import { COMMANDS } from '../../gateway/cli/commands.js';
import { UsageError } from '../../gateway/cli/usage-error.js';
import { parseSiteConfig } from '../../gateway/config/load-site.js';
import { generateSubstation, substationYaml } from '../../simulators/synthetic/substation.js';

t.test('a 2 x 3 x 2 substation: every id, kind, position and device written out', (t) => {
  const doc = generateSubstation({ feeders: 2, transformersPerFeeder: 3, customersPerTransformer: 2, meters: 3 });
  t.equal(doc.siteId, 'synthetic-2x3x2');
  t.strictSame(
    doc.feeders.map((f) => f.id),
    ['F01', 'F02'],
  );
  // round(sqrt(3)) = 2 zones: zone 1 has 2 transformers (one on the trunk, one on a fused lateral), zone 2 one.
  t.strictSame(doc.feeders[0], {
    id: 'F01',
    name: 'Synthetic 10 kV feeder 1',
    breaker: 'F01-CB',
    switches: [
      { id: 'F01-CB', kind: 'breaker', to: 'F01-S01', normal: 'closed', at: [0, 0] },
      { id: 'F01-FU0101', kind: 'fuse', from: 'F01-S01', to: 'F01-L0101', normal: 'closed', at: [20, -10] },
      { id: 'F01-R02', kind: 'recloser', from: 'F01-S01', to: 'F01-S02', normal: 'closed', at: [100, 0] },
      { id: 'TIE-01-02', kind: 'tie', from: 'F01-S02', to: 'F02-S02', normal: 'open', at: [200, -50] },
    ],
    sections: [
      { id: 'F01-S01', at: [50, 0] },
      { id: 'F01-L0101', at: [20, -30] },
      { id: 'F01-S02', at: [150, 0] },
    ],
    transformers: [
      { id: 'F01-T0101', section: 'F01-S01', areaClass: 'cityCentre', customers: ['C01010101', 'C01010102'], at: [10, 10] },
      { id: 'F01-T0102', section: 'F01-L0101', areaClass: 'cityCentre', customers: ['C01010201', 'C01010202'], at: [25, -20] },
      { id: 'F01-T0201', section: 'F01-S02', areaClass: 'cityCentre', customers: ['C01020101', 'C01020102'], at: [110, 10] },
    ],
  });
  const f2 = doc.feeders[1]!;
  t.strictSame(
    f2.switches.map((s) => [s.id, s.kind, s.from ?? null, s.to]),
    [
      ['F02-CB', 'breaker', null, 'F02-S01'],
      ['F02-FU0101', 'fuse', 'F02-S01', 'F02-L0101'],
      ['F02-R02', 'recloser', 'F02-S01', 'F02-S02'],
    ],
    'the last feeder lists no tie: TIE-01-02 is listed under F01',
  );
  t.strictSame(
    f2.transformers.map((x) => [x.id, x.section, x.areaClass, x.customers]),
    [
      ['F02-T0101', 'F02-S01', 'urban', ['C02010101', 'C02010102']],
      ['F02-T0102', 'F02-L0101', 'urban', ['C02010201', 'C02010202']],
      ['F02-T0201', 'F02-S02', 'urban', ['C02020101', 'C02020102']],
    ],
  );
  t.strictSame(
    doc.devices.map((d) => [d.id, d.template, d.port, d.unitId, 'switch' in d.binds ? d.binds.switch : d.binds.customer]),
    [
      ['ftu-f01-cb', 'generic-ftu', 15020, 1, 'F01-CB'],
      ['ftu-f01-r02', 'generic-ftu', 15020, 2, 'F01-R02'],
      ['ftu-tie-01-02', 'generic-ftu', 15020, 3, 'TIE-01-02'],
      ['ftu-f02-cb', 'generic-ftu', 15020, 4, 'F02-CB'],
      ['ftu-f02-r02', 'generic-ftu', 15020, 5, 'F02-R02'],
      // 3 of 12 customers, evenly spread (every 4th), on the port after the FTUs'.
      ['meter-c01010202', 'chint-dtsu666', 15021, 1, 'C01010202'],
      ['meter-c02010102', 'chint-dtsu666', 15021, 2, 'C02010102'],
      ['meter-c02020102', 'chint-dtsu666', 15021, 3, 'C02020102'],
    ],
    'no FTU on the fuses',
  );
  t.ok(doc.devices.every((d) => d.host === '127.0.0.1' && d.protocol === 'modbus-tcp'));
  t.end();
});

t.test('a 20 x 50 x 100 feeder: trunk, recloser mid-trunk, fused laterals, area classes', (t) => {
  const doc = generateSubstation({ feeders: 20, transformersPerFeeder: 50, customersPerTransformer: 100, meters: 2000 });
  const f7 = doc.feeders[6]!;
  t.strictSame(
    f7.switches.filter((s) => s.kind !== 'fuse').map((s) => `${s.id} ${s.kind} ${s.from ?? 'bus'}->${s.to}`),
    [
      'F07-CB breaker bus->F07-S01',
      'F07-SEC02 sectionalizer F07-S01->F07-S02',
      'F07-SEC03 sectionalizer F07-S02->F07-S03',
      'F07-R04 recloser F07-S03->F07-S04',
      'F07-LBS05 loadBreakSwitch F07-S04->F07-S05',
      'F07-LBS06 loadBreakSwitch F07-S05->F07-S06',
      'F07-LBS07 loadBreakSwitch F07-S06->F07-S07',
      'TIE-07-08 tie F07-S07->F08-S07',
    ],
  );
  // 50 transformers over 7 zones: 8, 7, 7, 7, 7, 7, 7; one on the trunk, the rest 3 a lateral.
  t.strictSame(
    f7.switches.filter((s) => s.kind === 'fuse' && s.from === 'F07-S01').map((s) => `${s.id}->${s.to}`),
    ['F07-FU0101->F07-L0101', 'F07-FU0102->F07-L0102', 'F07-FU0103->F07-L0103'],
  );
  t.strictSame(
    f7.transformers.filter((x) => x.section === 'F07-L0402').map((x) => x.id),
    ['F07-T0405', 'F07-T0406', 'F07-T0407'],
  );
  t.strictSame(f7.transformers.find((x) => x.id === 'F07-T0412'), undefined, 'zone 4 has 7 transformers');
  const t0407 = f7.transformers.find((x) => x.id === 'F07-T0407')!;
  t.equal(t0407.customers[0], 'C070407001');
  t.equal(t0407.customers[99], 'C070407100');
  t.equal(f7.sections.length, 7 + 15);
  // F07 is a town feeder (cityCentre, urban, town, rural in turn); laterals past the recloser are rural.
  t.equal(f7.transformers.find((x) => x.id === 'F07-T0402')!.areaClass, 'town');
  t.equal(f7.transformers.find((x) => x.id === 'F07-T0501')!.areaClass, 'town', 'on the trunk');
  t.equal(f7.transformers.find((x) => x.id === 'F07-T0502')!.areaClass, 'rural', 'on a lateral past the recloser');
  const ftus = doc.devices.filter((d) => d.template === 'generic-ftu');
  const meters = doc.devices.filter((d) => d.template === 'chint-dtsu666');
  t.equal(ftus.length, 20 * 7 + 19, 'breaker, 6 trunk devices per feeder and 19 ties');
  t.equal(meters.length, 2000);
  t.strictSame([ftus[0]!.port, ftus[0]!.unitId, ftus[158]!.port, ftus[158]!.unitId], [15020, 1, 15020, 159], '159 FTUs behind one port');
  t.strictSame(
    [meters[0], meters[246], meters[247], meters[1999]].map((m) => [m!.port, m!.unitId]),
    [
      [15021, 1],
      [15021, 247],
      [15022, 1],
      [15029, 24],
    ],
    '2,000 meters behind 9 ports, 247 unit ids each',
  );
  t.equal(meters[0]!.id, 'meter-c010101050', 'every 50th customer');
  t.end();
});

t.test('the written file passes the site loader (schema and references) and keeps every element', (t) => {
  const doc = generateSubstation({ feeders: 3, transformersPerFeeder: 10, customersPerTransformer: 4, meters: 30, basePort: 16000 });
  const site = parseSiteConfig(substationYaml(doc, ['a header line']), { env: {} });
  t.equal(site.siteId, 'synthetic-3x10x4');
  t.strictSame(
    site.feeders.map((f) => [f.id, f.switches.map((s) => s.id), f.sections.map((s) => s.id), f.transformers.map((x) => [x.id, x.customers, x.at])]),
    doc.feeders.map((f) => [f.id, f.switches.map((s) => s.id), f.sections.map((s) => s.id), f.transformers.map((x) => [x.id, x.customers, x.at])]),
  );
  t.equal(site.devices.length, 3 * 3 + 2 + 30);
  t.strictSame(site.devices[0]!.protocol === 'modbus-tcp' ? [site.devices[0]!.port, site.devices[0]!.points.length] : null, [16000, 12]);
  t.end();
});

t.test('options are checked', (t) => {
  t.throws(() => generateSubstation({ feeders: 0, transformersPerFeeder: 1, customersPerTransformer: 1 }), /feeders must be an integer 1..999/);
  t.throws(() => generateSubstation({ feeders: 1, transformersPerFeeder: 1, customersPerTransformer: 2, meters: 3 }), /meters must be 0..2/);
  const bare = generateSubstation({ feeders: 1, transformersPerFeeder: 1, customersPerTransformer: 1, ftus: false });
  t.strictSame(bare.devices, []);
  t.strictSame(bare.feeders[0]!.switches.map((s) => s.id), ['F01-CB'], 'one transformer: one zone, no lateral');
  t.match(substationYaml(bare), /\ndevices: \[\]\n$/);
  t.end();
});

t.test('feederwatch generate-substation writes a file, and refuses bad options', async (t) => {
  t.equal(COMMANDS['generate-substation'], generateSubstationCommand);
  const dir = await mkdtemp(join(tmpdir(), 'fw-synthetic-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out: string[] = [];
  const ctx = { stdout: (s: string) => out.push(s), stderr: (s: string) => out.push(s), env: {} };
  const file = join(dir, 'site.yaml');
  const code = await generateSubstationCommand.run({ feeders: '2', transformers: '3', customers: '2', meters: '25%', out: file }, ctx);
  t.equal(code, 0);
  t.equal(out.join(''), `${file}: 2 feeders, 7 switching devices, 6 sections, 6 transformers, 12 customers, 8 devices on 2 Modbus TCP ports.\n`);
  const text = await readFile(file, 'utf8');
  t.match(text, /^# Synthetic substation written by: feederwatch generate-substation --feeders 2 --transformers 3 --customers 2 --meters 25%\n/);
  t.equal(text.split('\n').filter((l) => l.includes('chint-dtsu666')).length, 3);
  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ transformers: '3', customers: '2', out: file }, /--feeders <n> is required/],
    [{ feeders: 'x', transformers: '3', customers: '2', out: file }, /--feeders must be an integer 1..999/],
    [{ feeders: '2', transformers: '3', customers: '2' }, /--out <file> is required/],
    [{ feeders: '2', transformers: '3', customers: '2', meters: '13', out: file }, /--meters 13 is more than the 12 customers/],
    [{ feeders: '2', transformers: '3', customers: '2', meters: '120%', out: file }, /--meters must be a count or a percentage/],
    [{ feeders: '2', transformers: '3', customers: '2', 'site-id': 'a/b', out: file }, /--site-id must be/],
  ];
  for (const [values, message] of bad) await t.rejects(generateSubstationCommand.run(values, ctx), { constructor: UsageError, message });
  t.end();
});
