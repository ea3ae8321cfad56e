import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { decode, sentinelTest, toEngineering } from '../../drivers/modbus/codec.js';
import { packageTemplateDir, readTemplateFile, TemplateLibrary } from '../../gateway/config/device-templates.js';
import { loadSiteConfig, parseSiteConfig, SiteConfigError } from '../../gateway/config/load-site.js';
import type { ModbusDeviceConfig, ModbusPointConfig, SiteConfig } from '../../gateway/config/site-config.js';

/**
 * Per template and point: the wire address and one register pattern with the engineering value it must
 * decode to, all written out by hand from the register maps (docs/device-templates.md,
 * ../shared/data/meter-maps.md). Float patterns: IEEE-754 single precision, e.g. 2200.0 = 0x4509_8000.
 */
interface Expected {
  address: number;
  registers: number[];
  value: number;
  unit?: string;
}

const EXPECTED: Record<string, Record<string, Expected>> = {
  // float32 ABCD, FC 3, raw in 0.1 V / mA / 0.1 W / 0.01 Hz.
  'chint-dtsu666': {
    uab: { address: 0x2000, registers: [0x456d, 0x8000], value: 380, unit: 'V' }, // 3800.0 x 0.1
    ubc: { address: 0x2002, registers: [0x456d, 0xd000], value: 380.5, unit: 'V' }, // 3805.0
    uca: { address: 0x2004, registers: [0x456d, 0x3000], value: 379.5, unit: 'V' }, // 3795.0
    ua: { address: 0x2006, registers: [0x4509, 0x8000], value: 220, unit: 'V' }, // 2200.0
    ub: { address: 0x2008, registers: [0x4509, 0x3000], value: 219.5, unit: 'V' }, // 2195.0
    uc: { address: 0x200a, registers: [0x4509, 0xe000], value: 220.6, unit: 'V' }, // 2206.0
    ia: { address: 0x200c, registers: [0x45a0, 0x0000], value: 5.12, unit: 'A' }, // 5120.0 mA
    ib: { address: 0x200e, registers: [0x0000, 0x0000], value: 0, unit: 'A' },
    ic: { address: 0x2010, registers: [0x437a, 0x0000], value: 0.25, unit: 'A' }, // 250.0 mA
    p: { address: 0x2012, registers: [0x4627, 0x3c00], value: 1070.3, unit: 'W' }, // 10703.0 x 0.1
    pa: { address: 0x2014, registers: [0x4627, 0x3c00], value: 1070.3, unit: 'W' },
    pb: { address: 0x2016, registers: [0x0000, 0x0000], value: 0, unit: 'W' },
    pc: { address: 0x2018, registers: [0xc148, 0x0000], value: -1.25, unit: 'W' }, // -12.5 x 0.1
    pf: { address: 0x202a, registers: [0x446d, 0x8000], value: 0.95 }, // 950.0 x 0.001
    f: { address: 0x2044, registers: [0x459c, 0x4000], value: 50, unit: 'Hz' }, // 5000.0 x 0.01
    importEnergy: { address: 0x401e, registers: [0x4640, 0xe600], value: 12345.5, unit: 'kWh' },
    exportEnergy: { address: 0x4028, registers: [0x3fc0, 0x0000], value: 1.5, unit: 'kWh' },
  },
  // float32 ABCD, FC 4, engineering units.
  'eastron-sdm630': {
    ua: { address: 0, registers: [0x4366, 0x8000], value: 230.5, unit: 'V' },
    ub: { address: 2, registers: [0x4365, 0x0000], value: 229, unit: 'V' },
    uc: { address: 4, registers: [0x4367, 0x4000], value: 231.25, unit: 'V' },
    ia: { address: 6, registers: [0x4090, 0x0000], value: 4.5, unit: 'A' },
    ib: { address: 8, registers: [0x3f40, 0x0000], value: 0.75, unit: 'A' },
    ic: { address: 10, registers: [0x0000, 0x0000], value: 0, unit: 'A' },
    pa: { address: 12, registers: [0x4476, 0x6000], value: 985.5, unit: 'W' },
    pb: { address: 14, registers: [0x432b, 0xc000], value: 171.75, unit: 'W' },
    pc: { address: 16, registers: [0x0000, 0x0000], value: 0, unit: 'W' },
    p: { address: 52, registers: [0x4490, 0xa800], value: 1157.25, unit: 'W' },
    f: { address: 70, registers: [0x4248, 0x0000], value: 50, unit: 'Hz' },
    importEnergy: { address: 72, registers: [0x45a9, 0xc200], value: 5432.25, unit: 'kWh' },
    exportEnergy: { address: 74, registers: [0x4148, 0x0000], value: 12.5, unit: 'kWh' },
  },
  // int32 CDAB (low word first), FC 4; PF and frequency int16.
  'carlo-gavazzi-em24': {
    ua: { address: 0, registers: [0x0901, 0x0000], value: 230.5, unit: 'V' }, // 2305 x 0.1
    ub: { address: 2, registers: [0x08f2, 0x0000], value: 229, unit: 'V' }, // 2290
    uc: { address: 4, registers: [0x0908, 0x0000], value: 231.2, unit: 'V' }, // 2312
    ia: { address: 12, registers: [0x1194, 0x0000], value: 4.5, unit: 'A' }, // 4500 x 0.001
    ib: { address: 14, registers: [0x02ee, 0x0000], value: 0.75, unit: 'A' }, // 750
    ic: { address: 16, registers: [0x0000, 0x0000], value: 0, unit: 'A' },
    pa: { address: 18, registers: [0x267f, 0x0000], value: 985.5, unit: 'W' }, // 9855 x 0.1
    pb: { address: 20, registers: [0x06b5, 0x0000], value: 171.7, unit: 'W' }, // 1717
    pc: { address: 22, registers: [0xff9c, 0xffff], value: -10, unit: 'W' }, // -100 = 0xFFFF_FF9C, low word first
    p: { address: 40, registers: [0x1170, 0x0001], value: 7000, unit: 'W' }, // 70000 = 0x0001_1170
    pf: { address: 53, registers: [0x03b6], value: 0.95 }, // 950 x 0.001
    f: { address: 55, registers: [0x01f4], value: 50, unit: 'Hz' }, // 500 x 0.1
    importEnergy: { address: 66, registers: [0xe240, 0x0001], value: 12345.6, unit: 'kWh' }, // 123456 = 0x0001_E240
  },
  'carlo-gavazzi-em24-e1': {
    ua: { address: 0, registers: [0x0901, 0x0000], value: 230.5, unit: 'V' },
    ub: { address: 2, registers: [0x08f2, 0x0000], value: 229, unit: 'V' },
    uc: { address: 4, registers: [0x0908, 0x0000], value: 231.2, unit: 'V' },
    ia: { address: 12, registers: [0x1194, 0x0000], value: 4.5, unit: 'A' },
    ib: { address: 14, registers: [0x02ee, 0x0000], value: 0.75, unit: 'A' },
    ic: { address: 16, registers: [0x0000, 0x0000], value: 0, unit: 'A' },
    pa: { address: 18, registers: [0x267f, 0x0000], value: 985.5, unit: 'W' },
    pb: { address: 20, registers: [0x06b5, 0x0000], value: 171.7, unit: 'W' },
    pc: { address: 22, registers: [0xff9c, 0xffff], value: -10, unit: 'W' },
    p: { address: 40, registers: [0x1170, 0x0001], value: 7000, unit: 'W' },
    pf: { address: 49, registers: [0x03b6], value: 0.95 },
    f: { address: 51, registers: [0x01f4], value: 50, unit: 'Hz' },
    importEnergy: { address: 52, registers: [0xe240, 0x0001], value: 12345.6, unit: 'kWh' },
    exportEnergy: { address: 78, registers: [0x00fa, 0x0000], value: 25, unit: 'kWh' }, // 250 x 0.1
  },
  // Written with addressBase 1 (Schneider's register numbers): wire address = register - 1.
  'schneider-iem3xxx': {
    ua: { address: 3027, registers: [0x4366, 0x0000], value: 230, unit: 'V' },
    ub: { address: 3029, registers: [0x4367, 0x8000], value: 231.5, unit: 'V' },
    uc: { address: 3031, registers: [0x4365, 0x8000], value: 229.5, unit: 'V' },
    ia: { address: 2999, registers: [0x4148, 0x0000], value: 12.5, unit: 'A' },
    ib: { address: 3001, registers: [0x4120, 0x0000], value: 10, unit: 'A' },
    ic: { address: 3003, registers: [0x3f00, 0x0000], value: 0.5, unit: 'A' },
    pa: { address: 3053, registers: [0x4030, 0x0000], value: 2750, unit: 'W' }, // 2.75 kW
    pb: { address: 3055, registers: [0x4010, 0x0000], value: 2250, unit: 'W' }, // 2.25 kW
    pc: { address: 3057, registers: [0x3e00, 0x0000], value: 125, unit: 'W' }, // 0.125 kW
    p: { address: 3059, registers: [0x40a4, 0x0000], value: 5125, unit: 'W' }, // 5.125 kW
    f: { address: 3109, registers: [0x4248, 0x0000], value: 50, unit: 'Hz' },
    // int64 big-endian Wh: 123456789 = 0x0000_0000_075B_CD15; 5e9 = 0x0000_0001_2A05_F200.
    importEnergy: { address: 3203, registers: [0x0000, 0x0000, 0x075b, 0xcd15], value: 123456.789, unit: 'kWh' },
    exportEnergy: { address: 3207, registers: [0x0000, 0x0001, 0x2a05, 0xf200], value: 5_000_000, unit: 'kWh' },
  },
  // feederwatch's layout, uint16 holding registers.
  'generic-ftu': {
    position: { address: 0, registers: [2], value: 2 }, // double point: closed
    faultA: { address: 1, registers: [1], value: 1 },
    faultB: { address: 2, registers: [0], value: 0 },
    faultC: { address: 3, registers: [1], value: 1 },
    faultN: { address: 4, registers: [0], value: 0 },
    lockout: { address: 5, registers: [1], value: 1 },
    // Register 6 = 0b10: load side live, source side dark.
    sourceVoltage: { address: 6, registers: [0x0002], value: 0 },
    loadVoltage: { address: 6, registers: [0x0002], value: 1 },
    ia: { address: 8, registers: [367], value: 36.7, unit: 'A' },
    ib: { address: 9, registers: [365], value: 36.5, unit: 'A' },
    ic: { address: 10, registers: [0], value: 0, unit: 'A' },
    uab: { address: 11, registers: [10_000], value: 10_000, unit: 'V' },
  },
  'generic-ttu': {
    ua: { address: 0, registers: [2200], value: 220, unit: 'V' },
    ub: { address: 1, registers: [2194], value: 219.4, unit: 'V' },
    uc: { address: 2, registers: [2207], value: 220.7, unit: 'V' },
    ia: { address: 3, registers: [1234], value: 123.4, unit: 'A' },
    ib: { address: 4, registers: [0], value: 0, unit: 'A' },
    ic: { address: 5, registers: [57], value: 5.7, unit: 'A' },
    p: { address: 6, registers: [0xffff, 0xf63c], value: -2500, unit: 'W' }, // int32 ABCD, reverse flow
    f: { address: 8, registers: [5000], value: 50, unit: 'Hz' },
    importEnergy: { address: 10, registers: [0x0001, 0xe240], value: 12345.6, unit: 'kWh' }, // uint32 123456
  },
};

const library = new TemplateLibrary([packageTemplateDir()]);

function template(name: string): { points: readonly ModbusPointConfig[] } {
  const lookup = library.lookup(name);
  if (lookup.status !== 'found') throw new Error(`template ${name}: ${JSON.stringify(lookup)}`);
  return lookup.template;
}

t.test('every shipped template has a test table, and every table a template', async (t) => {
  const files = (await readdir('config/devices')).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -'.yaml'.length));
  t.same(files.sort(), Object.keys(EXPECTED).sort());
});

for (const [name, expected] of Object.entries(EXPECTED)) {
  t.test(`template ${name}: every point decodes its hand-computed pattern`, async (t) => {
    const points = template(name).points;
    t.same(points.map((p) => p.name).sort(), Object.keys(expected).sort(), 'the table covers exactly the template points');
    for (const point of points) {
      const want = expected[point.name];
      if (want === undefined) continue;
      t.equal(point.address, want.address, `${point.name}: wire address`);
      t.equal(point.unit, want.unit, `${point.name}: unit`);
      const value = toEngineering(decode(want.registers, 0, point.type, point.wordOrder, point.bitIndex ?? 0), point);
      t.ok(Math.abs(value - want.value) <= 1e-9 * Math.max(1, Math.abs(want.value)), `${point.name}: ${value} = ${want.value}`);
    }
  });
}

t.test('read priorities: energy counters are slow, everything else fast', async (t) => {
  for (const name of Object.keys(EXPECTED)) {
    for (const point of template(name).points) {
      t.equal(point.priority, point.unit === 'kWh' ? 'slow' : 'fast', `${name}.${point.name}`);
    }
  }
});

t.test('what the templates observe', async (t) => {
  const observed = (name: string): string[] =>
    template(name)
      .points.filter((p) => p.observe !== undefined)
      .map((p) => `${p.name}:${p.observe ?? ''}${p.phase === undefined ? '' : `/${p.phase}`}${p.side === undefined ? '' : `/${p.side}`}`);
  for (const meter of ['chint-dtsu666', 'eastron-sdm630', 'carlo-gavazzi-em24', 'carlo-gavazzi-em24-e1', 'schneider-iem3xxx']) {
    t.same(observed(meter), ['ua:meter.voltage'], meter);
  }
  t.same(observed('generic-ftu'), [
    'position:switch.position',
    'faultA:switch.faultFlag/A',
    'faultB:switch.faultFlag/B',
    'faultC:switch.faultFlag/C',
    'faultN:switch.faultFlag/N',
    'lockout:switch.lockout',
    'sourceVoltage:switch.voltagePresent/source',
    'loadVoltage:switch.voltagePresent/load',
  ]);
  t.equal(template('generic-ftu').points[0]?.encoding, 'doublePoint');
  t.same(observed('generic-ttu'), ['ua:transformer.voltage']);
});

t.test('the generic templates mark "not measured" with sentinels', async (t) => {
  const ia = template('generic-ftu').points.find((p) => p.name === 'ia') as ModbusPointConfig;
  const notMeasured = sentinelTest(ia);
  t.ok(notMeasured?.([0xffff], 0), '0xFFFF is no value');
  t.notOk(notMeasured?.([0xfffe], 0));
  const p = template('generic-ttu').points.find((q) => q.name === 'p') as ModbusPointConfig;
  t.ok(sentinelTest(p)?.([0x7fff, 0xffff], 0), 'int32 0x7FFFFFFF is no value');
});

// A site with one feeder, a customer, a transformer and a switch, to use templates from.
const SITE = `
siteId: tpl
feeders:
  - id: F1
    breaker: F1-CB
    switches:
      - { id: F1-CB, kind: breaker, to: F1-S1, normal: closed }
      - { id: F1-R1, kind: recloser, from: F1-S1, to: F1-S2, normal: closed }
    sections: [{ id: F1-S1 }, { id: F1-S2 }]
    transformers:
      - { id: T1, section: F1-S2, areaClass: rural, customers: [C1, C2] }
devices:
`;

function parse(devices: string, extra = '', baseDir?: string): SiteConfig {
  return parseSiteConfig(SITE + devices + extra, baseDir === undefined ? { env: {} } : { env: {}, baseDir });
}

function modbus(site: SiteConfig, index: number): ModbusDeviceConfig {
  const device = site.devices[index];
  if (device === undefined || device.protocol === 'opcua') throw new Error(`device ${index} is not a Modbus device`);
  return device;
}

function parseError(devices: string, extra = '', baseDir?: string): SiteConfigError {
  try {
    parse(devices, extra, baseDir);
  } catch (error) {
    if (error instanceof SiteConfigError) return error;
    throw error;
  }
  throw new Error('expected a SiteConfigError');
}

const point = (device: ModbusDeviceConfig, name: string): ModbusPointConfig | undefined => device.points.find((p) => p.name === name);

t.test('a device using a template carries its name and its points', async (t) => {
  const site = parse(`
  - { id: m1, protocol: modbus-tcp, host: 10.0.0.9, port: 502, unitId: 1, template: chint-dtsu666, binds: { customer: C1 } }
  - { id: m2, protocol: modbus-tcp, host: 10.0.0.9, port: 502, unitId: 2, template: chint-dtsu666, binds: { customer: C2 } }
`);
  const m1 = modbus(site, 0);
  t.equal(m1.template, 'chint-dtsu666');
  t.equal(m1.points.length, 17);
  t.same(point(m1, 'ua'), {
    name: 'ua',
    function: 'holding',
    address: 0x2006,
    type: 'float32',
    wordOrder: 'ABCD',
    scale: 0.1,
    offset: 0,
    priority: 'fast',
    unit: 'V',
    observe: 'meter.voltage',
  });
  t.equal(modbus(site, 1).points, m1.points, 'devices without changes share the template point list');
  t.notOk('pointOverrides' in m1 || 'addressBase' in m1, 'document-only keys are dropped');
});

t.test('pointOverrides change keys of one point; null removes an optional key', async (t) => {
  const site = parse(`
  - id: m1
    protocol: modbus-tcp
    host: 10.0.0.9
    port: 502
    unitId: 1
    template: chint-dtsu666
    binds: { transformer: T1 }
    pointOverrides:
      ua: { function: input, observe: transformer.voltage }
      ub: { unit: null, scale: 1 }
      importEnergy: { address: 0x101E, priority: fast }
`);
  const m1 = modbus(site, 0);
  t.match(point(m1, 'ua'), { function: 'input', address: 0x2006, observe: 'transformer.voltage', scale: 0.1 });
  t.notOk(point(m1, 'ub') !== undefined && 'unit' in (point(m1, 'ub') as object), 'unit removed');
  t.equal(point(m1, 'ub')?.scale, 1);
  t.match(point(m1, 'importEnergy'), { address: 0x101e, priority: 'fast', unit: 'kWh' });
  t.same(
    m1.points.map((p) => p.name),
    ['uab', 'ubc', 'uca', 'ua', 'ub', 'uc', 'ia', 'ib', 'ic', 'p', 'pa', 'pb', 'pc', 'pf', 'f', 'importEnergy', 'exportEnergy'],
    'template order kept',
  );
});

t.test('site points replace template points of the same name and add new ones', async (t) => {
  const site = parse(`
  - id: m1
    protocol: modbus-tcp
    host: 10.0.0.9
    port: 502
    unitId: 1
    template: eastron-sdm630
    binds: { customer: C1 }
    points:
      - { name: ua, function: input, address: 0, type: float32, unit: V }
      - { name: uab, function: input, address: 0xC8, type: float32, unit: V }
`);
  const m1 = modbus(site, 0);
  t.same(point(m1, 'ua'), { name: 'ua', function: 'input', address: 0, type: 'float32', unit: 'V', wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast' });
  t.equal(m1.points.findIndex((p) => p.name === 'ua'), 0, 'replaced in place');
  t.equal(m1.points[m1.points.length - 1]?.name, 'uab', 'added after the template points');
});

t.test('address bases: the template writes its own, a device writes in its own (default: the template base)', async (t) => {
  const site = parse(`
  - id: m1
    protocol: modbus-tcp
    host: 10.0.0.9
    port: 502
    unitId: 1
    template: schneider-iem3xxx
    binds: { customer: C1 }
    pointOverrides:
      ua: { address: 3036 }
    points:
      - { name: uavg, function: holding, address: 3036, type: float32, unit: V }
  - id: m2
    protocol: modbus-tcp
    host: 10.0.0.9
    port: 502
    unitId: 2
    addressBase: 0
    template: schneider-iem3xxx
    binds: { customer: C2 }
    points:
      - { name: uavg, function: holding, address: 3035, type: float32, unit: V }
  - id: ftu
    protocol: modbus-tcp
    host: 10.0.0.9
    port: 502
    unitId: 3
    addressBase: 1
    binds: { switch: F1-R1 }
    points:
      - { name: position, function: holding, address: 1, type: uint16, observe: switch.position, encoding: doublePoint }
`);
  t.equal(point(modbus(site, 0), 'ua')?.address, 3035, 'override in the template base (1): register 3036 is wire 3035');
  t.equal(point(modbus(site, 0), 'uavg')?.address, 3035);
  t.equal(point(modbus(site, 1), 'uavg')?.address, 3035, 'device addressBase 0');
  t.equal(point(modbus(site, 1), 'ia')?.address, 2999, 'template points keep the template base');
  t.equal(point(modbus(site, 2), 'position')?.address, 0, 'a plain device with addressBase 1');
});

t.test('a register number below the address base is rejected', async (t) => {
  const error = parseError(`
  - { id: ftu, protocol: modbus-tcp, host: 10.0.0.9, port: 502, unitId: 3, addressBase: 1, binds: { switch: F1-R1 }, points: [{ name: x, function: holding, address: 0, type: uint16 }] }
  - id: m1
    protocol: modbus-tcp
    host: 10.0.0.9
    port: 502
    unitId: 1
    template: schneider-iem3xxx
    binds: { customer: C1 }
    pointOverrides: { ua: { address: 0 } }
`);
  t.same(error.issues, [
    { path: 'devices[0].points[0].address', message: 'register 0 does not exist with addressBase 1 (registers are numbered from 1)', value: 0 },
    { path: 'devices[1].pointOverrides.ua.address', message: 'register 0 does not exist with addressBase 1 (registers are numbered from 1)', value: 0 },
  ]);
});

t.test('template mistakes name the device path and the value', async (t) => {
  const unknown = parseError(`
  - { id: m1, protocol: modbus-tcp, host: h, port: 502, unitId: 1, template: chint-dtsu999, binds: { customer: C1 } }
  - { id: m2, protocol: modbus-tcp, host: h, port: 502, unitId: 2, template: chint-dtsu999, binds: { customer: C2 } }
`);
  t.equal(unknown.issues.length, 1, 'one issue for a template missing twice');
  t.equal(unknown.issues[0]?.path, 'devices[0].template');
  t.match(unknown.issues[0]?.message, /^no template named "chint-dtsu999" \(looked for chint-dtsu999\.yaml in .*config\/devices\)$/);
  t.equal(unknown.issues[0]?.value, 'chint-dtsu999');

  const overrides = parseError(`
  - id: m1
    protocol: modbus-tcp
    host: h
    port: 502
    unitId: 1
    template: generic-ftu
    binds: { switch: F1-R1 }
    pointOverrides:
      fault_a: { address: 9 }
      ia: { type: bit }
      ib: { type: string }
      position: { encoding: null }
    points:
      - { name: uab, function: holding, address: 20, type: uint16 }
`);
  t.same(overrides.issues, [
    {
      path: 'devices[0].pointOverrides.fault_a',
      message: 'template generic-ftu has no point "fault_a" (its points: position, faultA, faultB, faultC, faultN, lockout, sourceVoltage, loadVoltage, ia, ib, ic, uab)',
      value: 'fault_a',
    },
    { path: 'devices[0].pointOverrides.position.encoding', message: 'is required with observe: switch.position (singleBit or doublePoint)' },
    { path: 'devices[0].pointOverrides.ia.bitIndex', message: 'is required with type: bit (0..15, 0 = least significant bit)' },
    { path: 'devices[0].pointOverrides.ib.length', message: 'is required with type: string (number of registers)' },
    { path: 'devices[0].pointOverrides.ib.sentinels', message: 'is not allowed with type: string' },
  ]);
});

t.test('overriding and replacing one point at once is ambiguous', async (t) => {
  const error = parseError(`
  - id: m1
    protocol: modbus-tcp
    host: h
    port: 502
    unitId: 1
    template: generic-ttu
    binds: { transformer: T1 }
    pointOverrides: { ua: { scale: 1 } }
    points: [{ name: ua, function: holding, address: 0, type: uint16 }]
`);
  t.same(error.issues, [{ path: 'devices[0].pointOverrides.ua', message: 'point "ua" is also replaced in points[0]: override it or replace it, not both' }]);
});

t.test('a template point that observes what the binding cannot is reported at the template, by point', async (t) => {
  const error = parseError(`
  - { id: ttu, protocol: modbus-tcp, host: h, port: 502, unitId: 1, template: chint-dtsu666, binds: { transformer: T1 } }
`);
  t.same(error.issues, [
    {
      path: 'devices[0].template',
      message: 'point "ua" of template chint-dtsu666: meter.voltage needs a device bound to a customer (this one is bound to transformer "T1")',
      value: 'meter.voltage',
    },
  ]);
});

t.test('only Modbus devices use templates; a template device needs no points', async (t) => {
  const error = parseError(`
  - { id: opc, protocol: opcua, endpointUrl: "opc.tcp://h:4840", template: generic-ftu, binds: { switch: F1-R1 }, points: [{ name: pos, nodeId: "ns=2;s=P", observe: switch.position, encoding: singleBit }] }
  - { id: plain, protocol: modbus-tcp, host: h, port: 502, unitId: 1, binds: { switch: F1-CB } }
`, 'opcua: {}\n');
  t.same(error.issues, [
    { path: 'devices[0].template', message: 'does not apply to an opcua device', value: 'generic-ftu' },
    { path: 'devices[1].points', message: 'is required (a Modbus device may name a template instead)' },
  ]);
});

t.test('templateDirs: site folders first, relative to the site file; bad templates are reported with their file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-templates-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'maps'));
  await writeFile(
    join(dir, 'maps', 'acme-ftu.yaml'),
    `name: acme-ftu
description: ACME FTU, 1-based map
protocol: modbus
addressBase: 1
defaults: { function: input, type: uint16 }
points:
  - { name: pos, address: 1, observe: switch.position, encoding: singleBit }
  - { name: closed, address: 2, type: bit, bitIndex: 3 }
`,
  );
  // Shadows the shipped template of the same name, for this site only.
  await writeFile(
    join(dir, 'maps', 'generic-ttu.yaml'),
    `name: generic-ttu
description: local copy
protocol: modbus
points: [{ name: ua, address: 100, type: uint16, observe: transformer.voltage }]
`,
  );
  await writeFile(join(dir, 'maps', 'broken.yaml'), `name: broken\ndescription: x\nprotocol: modbus\npoints:\n  - { name: a, address: 1 }\n  - { name: a, address: 2, type: uint16 }\n`);
  await writeFile(
    join(dir, 'site.yaml'),
    SITE +
      `
  - { id: ftu, protocol: modbus-tcp, host: h, port: 502, unitId: 1, template: acme-ftu, binds: { switch: F1-R1 } }
  - { id: ttu, protocol: modbus-tcp, host: h, port: 502, unitId: 2, template: generic-ttu, binds: { transformer: T1 } }
templateDirs: [maps]
`,
  );
  const site = await loadSiteConfig(join(dir, 'site.yaml'), {});
  t.same(modbus(site, 0).points, [
    { name: 'pos', function: 'input', address: 0, type: 'uint16', wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast', observe: 'switch.position', encoding: 'singleBit' },
    { name: 'closed', function: 'input', address: 1, type: 'bit', wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast', bitIndex: 3 },
  ]);
  t.equal(modbus(site, 1).points[0]?.address, 100, 'the site folder wins over the package');

  const broken = parseError(`  - { id: b, protocol: modbus-tcp, host: h, port: 502, unitId: 1, template: broken, binds: { switch: F1-R1 } }\n`, 'templateDirs: [maps, nowhere]\n', dir);
  t.same(
    broken.issues.map((i) => `${i.path} | ${i.message.replace(dir, '<dir>')}`).sort(),
    [
      `templateDirs[1] | folder not found: <dir>/nowhere`,
      `devices[0].template | template "broken" (<dir>/maps/broken.yaml) is invalid: points[1].name: duplicate point name, already used at points[0].name (value: "a")`,
      `devices[0].template | template "broken" (<dir>/maps/broken.yaml) is invalid: points[0].type: is required: the template has no defaults.type`,
    ].sort(),
  );
});

t.test('a template file whose name is not its file name is invalid', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-templates-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'copy.yaml');
  await writeFile(file, 'name: original\ndescription: x\nprotocol: modbus\ndefaults: { type: uint16 }\npoints: [{ name: a, address: 1 }]\n');
  const lookup = readTemplateFile(file, 'copy');
  t.same(lookup, { status: 'invalid', file, issues: [{ path: 'name', message: 'must be the file name without .yaml (copy)', value: 'original' }] });
});
