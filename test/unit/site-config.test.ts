import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadSiteConfig, parseSiteConfig, SiteConfigError, type ConfigIssue } from '../../gateway/config/load-site.js';
import type { ModbusDeviceConfig, OpcUaDeviceConfig, SiteConfig } from '../../gateway/config/site-config.js';
import { packagePath } from '../../gateway/paths.js';

const DEMO = 'config/sites/demo.yaml';

/** Runs `load` and returns the SiteConfigError it throws; fails the test if it throws nothing else. */
async function configError(load: () => unknown): Promise<SiteConfigError> {
  try {
    await load();
  } catch (error) {
    if (error instanceof SiteConfigError) return error;
    throw error;
  }
  throw new Error('expected a SiteConfigError, the configuration was accepted');
}

function parseError(text: string, env: Record<string, string | undefined> = {}): Promise<SiteConfigError> {
  return configError(() => parseSiteConfig(text, { env }));
}

const paths = (issues: readonly ConfigIssue[]): string[] => issues.map((issue) => issue.path);

function modbus(site: SiteConfig, index: number): ModbusDeviceConfig {
  const device = site.devices[index];
  if (device === undefined || device.protocol === 'opcua') throw new Error(`device ${index} is not a Modbus device`);
  return device;
}

function opcua(site: SiteConfig, index: number): OpcUaDeviceConfig {
  const device = site.devices[index];
  if (device?.protocol !== 'opcua') throw new Error(`device ${index} is not an OPC UA device`);
  return device;
}

// A small valid site; tests append or replace lines to make one point.
const MINIMAL = `
siteId: mini
feeders:
  - id: F1
    breaker: F1-CB
    switches:
      - { id: F1-CB, kind: breaker, to: F1-S1, normal: closed }
      - { id: F1-SW1, kind: sectionalizer, from: F1-S1, to: F1-S2, normal: closed }
    sections: [{ id: F1-S1 }, { id: F1-S2 }]
    transformers:
      - { id: T1, section: F1-S2, areaClass: rural, customers: [C1, C2] }
devices:
  - id: ftu-1
    protocol: modbus-tcp
    host: 10.0.0.5
    port: 502
    unitId: 1
    binds: { switch: F1-SW1 }
    points:
      - { name: position, function: input, address: 10, type: uint16, observe: switch.position, encoding: singleBit }
`;

t.test('the demo site loads with defaults applied', async (t) => {
  const site = await loadSiteConfig(DEMO, {});
  t.equal(site.siteId, 'demo-xixi');
  t.equal(site.feeders.length, 2);
  t.equal(site.devices.length, 23);
  t.same(
    site.feeders[0]?.switches.map((sw) => sw.id),
    ['F1-CB', 'F1-R1', 'F1-LS1', 'F1-FU1', 'TIE-12'],
  );
  t.same(site.feeders[1]?.transformers[1]?.customers, ['C20201', 'C20202']);
  const ftu = modbus(site, 0);
  t.equal(ftu.template, 'generic-ftu');
  t.equal(ftu.pollIntervalMs, 500);
  t.equal(ftu.slowPollIntervalMs, 60_000);
  t.equal(ftu.points[0]?.encoding, 'doublePoint');
  // faultA has no wordOrder, scale, offset or priority in the template.
  t.match(ftu.points[1], { name: 'faultA', address: 1, wordOrder: 'ABCD', scale: 1, offset: 0, priority: 'fast', phase: 'A', observe: 'switch.faultFlag' });
  const meter = modbus(site, 6);
  t.equal(meter.template, 'chint-dtsu666');
  t.match(meter.points.find((p) => p.name === 'ua'), { address: 0x2006, scale: 0.1, observe: 'meter.voltage' });
  t.match(meter.points.find((p) => p.name === 'importEnergy'), { address: 0x401e, priority: 'slow' });
  t.equal(site.thresholds.meterVoltageLossV, 110);
  t.equal(site.thresholds.meterLossHoldMs, 5000);
  t.same(site.simulator, {
    controlHost: '127.0.0.1',
    controlPort: 8081,
    meterNominalV: 220,
    automation: {
      feeders: [
        { feeder: 'F1', mode: 'voltageTime', capacityA: 400 },
        { feeder: 'F2', mode: 'none', capacityA: 400 },
      ],
      protection: [
        { device: 'F1-CB', deadTimesMs: [5000, 15000] },
        { device: 'F1-R1', deadTimesMs: [5000, 15000] },
      ],
      voltageTime: { xMs: 7000, yMs: 5000, xlMs: 45000, lossOfVoltageOpenMs: 3000 },
      centralized: { actionDelayMs: 2000 },
      loadPerTransformerA: 12,
    },
  });
  t.same(site.mqtt, { url: 'mqtt://127.0.0.1:1883', clientId: 'feederwatch-demo-xixi', protocolVersion: 4 });
  t.equal(site.influx, undefined);
  t.same(site.buses, []);
  t.equal(site.opcua, undefined);
  t.notOk('pointSets' in site, 'pointSets is only for YAML anchors and is dropped');
});

// Any existing file stands for a CA bundle: the loader checks that TLS files exist.
const CA_FILE = packagePath('package.json');

t.test('defaults fill every omitted optional key', async (t) => {
  const site = parseSiteConfig(
    MINIMAL +
      `
mqtt: { url: mqtts://broker:8883, tls: { ca: ${CA_FILE} } }
influx: { host: influx.local }
`,
    { env: {} },
  );
  const device = modbus(site, 0);
  t.same(
    { ...device, points: undefined },
    {
      id: 'ftu-1',
      protocol: 'modbus-tcp',
      host: '10.0.0.5',
      port: 502,
      unitId: 1,
      binds: { switch: 'F1-SW1' },
      pollIntervalMs: 1000,
      slowPollIntervalMs: 60_000,
      timeoutMs: 1000,
      maxGap: 8,
      maxRegisters: 125,
      points: undefined,
    },
  );
  t.same(device.points[0], {
    name: 'position',
    function: 'input',
    address: 10,
    type: 'uint16',
    observe: 'switch.position',
    encoding: 'singleBit',
    wordOrder: 'ABCD',
    scale: 1,
    offset: 0,
    priority: 'fast',
  });
  t.same(site.buses, []);
  t.same(site.thresholds, {
    meterVoltageLossV: 110,
    meterLossHoldMs: 5000,
    momentaryStandard: 'DL/T 836',
    momentaryThresholdMs: 180_000,
    transformerOutShare: 0.6,
    selfHealingQuietMs: 30_000,
  });
  t.same(site.plannedOutages, []);
  t.same(site.simulator, { controlHost: '127.0.0.1', controlPort: 8081, meterNominalV: 220 });
  t.same(site.mqtt, { url: 'mqtts://broker:8883', protocolVersion: 4, tls: { ca: CA_FILE, rejectUnauthorized: true } });
  t.same(site.influx, { host: 'influx.local', port: 8086, protocol: 'http', database: 'feederwatch', retention: { telemetry: '90d', events: 'INF' } });
});

t.test('a partly given section keeps the defaults of the keys it omits', async (t) => {
  const site = parseSiteConfig(MINIMAL + "thresholds: { meterLossHoldMs: 2000, momentaryStandard: 'IEEE 1366' }\n", { env: {} });
  t.same(site.thresholds, {
    meterVoltageLossV: 110,
    meterLossHoldMs: 2000,
    momentaryStandard: 'IEEE 1366',
    momentaryThresholdMs: 300_000,
    transformerOutShare: 0.6,
    selfHealingQuietMs: 30_000,
  });
});

t.test('a feeder may omit transformers', async (t) => {
  const text = MINIMAL.replace(/    transformers:\n.*\n/, '').replace('binds: { switch: F1-SW1 }', 'binds: { switch: F1-CB }');
  const site = parseSiteConfig(text, { env: {} });
  t.same(site.feeders[0]?.transformers, []);
});

t.test('the returned site is deeply frozen', async (t) => {
  const site = await loadSiteConfig(DEMO, {});
  t.ok(Object.isFrozen(site));
  t.ok(Object.isFrozen(site.feeders));
  t.ok(Object.isFrozen(site.feeders[0]?.switches[2]));
  t.ok(Object.isFrozen(site.devices[22]?.points));
  t.ok(Object.isFrozen(site.devices[22]?.points[0]));
  t.ok(Object.isFrozen(site.thresholds));
  t.throws(() => {
    (site.thresholds as { meterVoltageLossV: number }).meterVoltageLossV = 1;
  }, TypeError);
  t.throws(() => {
    site.feeders[0]?.transformers[0]?.customers.push('C99');
  }, TypeError);
});

// One defect per file; path and message fragment written out by hand.
const invalidFiles: { file: string; path: string; message: string | RegExp }[] = [
  { file: 'unknown-key.yaml', path: 'devices[0].pollInterval', message: 'unknown key "pollInterval"' },
  {
    file: 'bad-enum.yaml',
    path: 'feeders[0].switches[1].kind',
    message: 'must be one of breaker, recloser, sectionalizer, loadBreakSwitch, fuse, tie',
  },
  { file: 'switch-to-missing-section.yaml', path: 'feeders[0].switches[1].to', message: 'section "F1-S9" does not exist' },
  {
    file: 'duplicate-section-id.yaml',
    path: 'feeders[0].sections[2].id',
    message: 'duplicate section id, already used at feeders[0].sections[1].id',
  },
  { file: 'breaker-is-recloser.yaml', path: 'feeders[0].breaker', message: 'switch "F1-R1" is a recloser' },
  { file: 'unknown-customer-binding.yaml', path: 'devices[1].binds.customer', message: 'customer "C99999" does not exist' },
  { file: 'missing-env-var.yaml', path: 'mqtt.password', message: 'environment variable MQTT_PASSWORD is not set' },
  { file: 'unit-id-out-of-range.yaml', path: 'devices[0].unitId', message: 'must be <= 255' },
  {
    file: 'observe-not-matching-binding.yaml',
    path: 'devices[1].points[0].observe',
    message: 'switch.position needs a device bound to a switch (this one is bound to customer "C10101")',
  },
  { file: 'yaml-syntax-error.yaml', path: '', message: 'YAML error at line 14' },
  { file: 'disconnected-section.yaml', path: 'feeders[0].sections[2]', message: 'section is not connected to the feeder breaker' },
  {
    file: 'duplicate-customer.yaml',
    path: 'feeders[0].transformers[1].customers[1]',
    message: 'customer is already supplied by transformer T101',
  },
  { file: 'duplicate-key.yaml', path: '', message: 'YAML error at line 8, column 62: Map keys must be unique' },
  {
    file: 'encoding-without-position.yaml',
    path: 'pointSets.meter[0].encoding',
    message: 'is only allowed with observe: switch.position',
  },
  { file: 'binds-both.yaml', path: 'devices[0].binds', message: 'must name exactly one of switch, customer' },
  {
    file: 'recloser-to-other-feeder.yaml',
    path: 'feeders[0].switches[1].to',
    message: 'section "F2-S1" belongs to feeder F2; only a tie may lead to another feeder',
  },
  {
    file: 'shared-modbus-endpoint.yaml',
    path: 'devices[1].unitId',
    message: 'host 127.0.0.1 port 15020 unit 1 is already used by device ftu-f1-cb',
  },
  { file: 'bad-site-id.yaml', path: 'siteId', message: "may contain only letters, digits, '_' and '-'" },
  { file: 'unknown-template.yaml', path: 'devices[1].template', message: /^no template named "chint-dtsu667" \(looked for chint-dtsu667\.yaml in .*config\/devices\)$/ },
  {
    file: 'override-unknown-point.yaml',
    path: 'devices[1].pointOverrides.u1',
    message: 'template chint-dtsu666 has no point "u1" (its points: uab, ubc, uca, ua, ub, uc, ia, ib, ic, p, pa, pb, pc, pf, f, importEnergy, exportEnergy)',
  },
  { file: 'bit-without-bitindex.yaml', path: 'devices[0].points[1].bitIndex', message: 'is required with type: bit (0..15, 0 = least significant bit)' },
  { file: 'rtu-unknown-bus.yaml', path: 'devices[0].bus', message: 'bus "RS485-9" does not exist' },
  { file: 'duplicate-rtu-unit.yaml', path: 'devices[1].unitId', message: 'bus RS485-1 unit 3 is already used by device meter-c10101 (devices[0])' },
  { file: 'rtu-unit-id-zero.yaml', path: 'devices[0].unitId', message: 'must be 1..247 on a serial line (0 is broadcast)' },
  {
    file: 'opcua-nodeid-and-browsepath.yaml',
    path: 'devices[0].points[0].browsePath',
    message: 'is not allowed together with nodeId: give exactly one of nodeId, browsePath',
  },
  {
    file: 'opcua-without-client-block.yaml',
    path: 'opcua',
    message: 'is required: device ftu-f1-r1 (devices[0]) uses protocol opcua (opcua: {} takes every default, pkiDir ./pki)',
  },
  {
    file: 'opcua-sign-without-policy.yaml',
    path: 'devices[0].securityPolicy',
    message: 'cannot be None with securityMode Sign or SignAndEncrypt: use Basic256Sha256',
  },
  { file: 'voltage-present-without-side.yaml', path: 'devices[0].points[1].side', message: 'is required with observe: switch.voltagePresent (source or load)' },
  {
    file: 'transformer-voltage-on-meter.yaml',
    path: 'devices[0].pointOverrides.ua.observe',
    message: 'transformer.voltage needs a device bound to a transformer (this one is bound to customer "C10101")',
  },
  {
    file: 'http-without-token.yaml',
    path: 'http.token',
    message: 'is required when http.host is not a loopback address (host 0.0.0.0)',
  },
  {
    file: 'address-below-base.yaml',
    path: 'devices[0].points[1].address',
    message: 'register 0 does not exist with addressBase 1 (registers are numbered from 1)',
  },
];

t.test('every invalid example fails with exactly its one defect', async (t) => {
  const files = (await readdir('config/invalid')).filter((f) => f.endsWith('.yaml'));
  t.same(invalidFiles.map((f) => f.file).sort(), files.sort(), 'every file in config/invalid is listed here');
  for (const { file, path, message } of invalidFiles) {
    t.match(await readFile(`config/invalid/${file}`, 'utf8'), /^# INVALID: .+\n/, `${file}: says what is wrong`);
    const error = await configError(() => loadSiteConfig(`config/invalid/${file}`, {}));
    t.equal(error.issues.length, 1, `${file}: one issue`);
    t.equal(error.issues[0]?.path, path, `${file}: path`);
    t.match(error.issues[0]?.message, message, `${file}: message`);
    t.match(error.message, `config/invalid/${file}: invalid site configuration (1 issue):`, `${file}: header`);
  }
});

t.test('the error message lists each issue on its own line with path and value', async (t) => {
  const error = await configError(() => loadSiteConfig('config/invalid/switch-to-missing-section.yaml', {}));
  t.equal(
    error.message,
    'config/invalid/switch-to-missing-section.yaml: invalid site configuration (1 issue):\n' +
      'feeders[0].switches[1].to: section "F1-S9" does not exist (value: "F1-S9")',
  );
  t.equal(error.name, 'SiteConfigError');
});

t.test('schema messages name the path and the offending value', async (t) => {
  const error = await parseError(
    MINIMAL.replace('kind: sectionalizer', 'kind: recloserr').replace('    breaker: F1-CB', '    breaker: F1-CB\n    swiches: []'),
  );
  t.same(error.message.split('\n').slice(1), [
    'feeders[0].swiches: unknown key "swiches"',
    'feeders[0].switches[1].kind: must be one of breaker, recloser, sectionalizer, loadBreakSwitch, fuse, tie (value: "recloserr")',
  ]);
});

t.test('range and type rules', async (t) => {
  const error = await parseError(
    MINIMAL.replace('port: 502', 'port: 70000')
      .replace('unitId: 1', 'unitId: 0\n    pollIntervalMs: 49\n    timeoutMs: 9')
      .replace('address: 10', 'address: "10"')
      .replace('- id: F1\n', '- id: ""\n'),
  );
  t.same(
    error.issues.map((issue) => `${issue.path} | ${issue.message} | ${JSON.stringify(issue.value)}`).sort(),
    [
      'devices[0].points[0].address | must be an integer | "10"',
      'devices[0].pollIntervalMs | must be >= 50 | 49',
      'devices[0].port | must be <= 65535 | 70000',
      'devices[0].timeoutMs | must be >= 10 | 9',
      "feeders[0].id | must be non-empty and must not contain '/', '+' or '#' (it is used in MQTT topics) | \"\"",
    ],
    'unitId 0 is fine for Modbus TCP',
  );
});

t.test('a required key that is missing is named by its path', async (t) => {
  const error = await parseError(MINIMAL.replace(', encoding: singleBit', '').replace('siteId: mini\n', ''));
  t.same(paths(error.issues).sort(), ['devices[0].points[0].encoding', 'siteId']);
  t.match(error.issues.find((issue) => issue.path === 'siteId')?.message, 'required key "siteId" is missing');
  t.match(error.issues.find((issue) => issue.path === 'devices[0].points[0].encoding')?.message, 'is required with observe: switch.position');
});

t.test('an empty file is one clear issue', async (t) => {
  const error = await parseError('');
  t.same(error.issues, [{ path: '', message: 'the file must hold a mapping of site keys (siteId, feeders, devices, ...)' }]);
});

// MINIMAL with a point set shared by two devices through a YAML alias.
const SHARED = MINIMAL.replace('devices:\n', `pointSets:
  ftu: &ftuPoints
    - { name: position, function: holding, address: 0, type: uint16, observe: switch.position, encoding: doublePoint }
    - { name: faultFlag, function: holding, address: 1, type: uint16, observe: switch.faultFlag }
    - { name: ia, function: holding, address: 2, type: float32, scale: 0.1, unit: A }
devices:
  - { id: ftu-cb, protocol: modbus-tcp, host: 10.0.0.5, port: 502, unitId: 2, binds: { switch: F1-CB }, points: *ftuPoints }
  - { id: ftu-sw, protocol: modbus-tcp, host: 10.0.0.5, port: 502, unitId: 3, binds: { switch: F1-SW1 }, points: *ftuPoints }
`);

t.test('a defect in a shared point set is reported once, where it is defined', async (t) => {
  const error = await parseError(SHARED.replace('type: uint16, observe: switch.faultFlag', 'type: uint61, observe: switch.faultFlag'));
  t.same(error.issues, [
    {
      path: 'pointSets.ftu[1].type',
      message: 'must be one of int16, uint16, int32, uint32, int64, uint64, float32, float64, bit, string',
      value: 'uint61',
    },
  ]);
  const below = await parseError(SHARED.replaceAll('unitId: 2, binds', 'unitId: 2, addressBase: 1, binds').replaceAll('unitId: 3, binds', 'unitId: 3, addressBase: 1, binds'));
  t.same(below.issues, [{ path: 'pointSets.ftu[0].address', message: 'register 0 does not exist with addressBase 1 (registers are numbered from 1)', value: 0 }]);
});

t.test('duplicate point names are reported once per point list', async (t) => {
  const error = await parseError(SHARED.replace('- { name: ia, function', '- { name: faultFlag, function'));
  t.same(error.issues, [
    { path: 'pointSets.ftu[2].name', message: 'duplicate point name, already used at pointSets.ftu[1].name', value: 'faultFlag' },
  ]);
});

t.test('a shared list stays one object, also with an address base', async (t) => {
  const site = parseSiteConfig(SHARED, { env: {} });
  t.equal(modbus(site, 0).points, modbus(site, 1).points);
  const based = parseSiteConfig(
    SHARED.replace('address: 0, type: uint16', 'address: 1, type: uint16')
      .replace('address: 1, type: uint16, observe: switch.faultFlag', 'address: 2, type: uint16, observe: switch.faultFlag')
      .replace('address: 2, type: float32', 'address: 3, type: float32')
      .replace('unitId: 2, binds', 'unitId: 2, addressBase: 1, binds')
      .replace('unitId: 3, binds', 'unitId: 3, addressBase: 1, binds'),
    { env: {} },
  );
  t.equal(modbus(based, 0).points, modbus(based, 1).points, 'converted once');
  t.same(modbus(based, 0).points.map((p) => p.address), [0, 1, 2]);
  t.same(
    based.devices[2]?.points.map((p) => p.name),
    ['position'],
    'a device without addressBase keeps its own list',
  );
});

async function loadDemoWith(edit: (text: string) => string): Promise<SiteConfigError> {
  const text = await readFile(DEMO, 'utf8');
  const edited = edit(text);
  if (edited === text) throw new Error('the edit did not change the demo');
  return parseError(edited);
}

t.test('reference checks collect every issue, not just the first', async (t) => {
  const error = await loadDemoWith((text) =>
    text
      .replace('{ id: F1-LS1, kind: loadBreakSwitch, from: F1-S2, to: F1-S3', '{ id: F1-LS1, kind: loadBreakSwitch, to: F1-S3')
      .replace('{ id: TIE-12, kind: tie, from: F1-S3, to: F2-S2', '{ id: TIE-12, kind: tie, from: F2-S1, to: F2-S2')
      .replace('{ id: T202, section: F2-S2', '{ id: T202, section: F1-S4')
      .replace('breaker: F2-CB', 'breaker: F1-CB')
      .replace('customers: [C20201, C20202]', 'customers: [C20201, C20202, C20201]')
      .replace('binds: { switch: F2-SW1 }', 'binds: { switch: F2-SW9 }')
      .replace('unitId: 17, pollIntervalMs: 1000, timeoutMs: 500, template: chint-dtsu666, binds: { customer: C20202 }', 'unitId: 17, pollIntervalMs: 1000, timeoutMs: 500, template: chint-dtsu666, binds: { customer: C20201 }')
      .replace('{ id: meter-c20201,', '{ id: meter-c20103,')
      .replace('template: chint-dtsu666, binds: { customer: C10101 }', 'template: generic-ftu, binds: { customer: C10101 }'),
  );
  const wrongBinding = (point: string, observe: string): ConfigIssue => ({
    path: 'devices[6].template',
    message: `point "${point}" of template generic-ftu: ${observe} needs a device bound to a switch (this one is bound to customer "C10101")`,
    value: observe,
  });
  t.same(error.issues, [
    { path: 'feeders[1].transformers[1].customers[2]', message: 'customer is already supplied by transformer T202 (feeders[1].transformers[1].customers[0])', value: 'C20201' },
    { path: 'feeders[0].switches[2].from', message: 'is required for a loadBreakSwitch: only the feeder breaker has no source-side section' },
    { path: 'feeders[0].switches[4].from', message: 'section "F2-S1" belongs to feeder F2; from must be a section of this feeder (F1)', value: 'F2-S1' },
    { path: 'feeders[1].breaker', message: 'switch "F1-CB" belongs to feeder F1, not F2', value: 'F1-CB' },
    { path: 'feeders[1].transformers[1].section', message: 'section "F1-S4" belongs to feeder F1; a transformer must be on a section of its own feeder (F2)', value: 'F1-S4' },
    { path: 'devices[5].binds.switch', message: 'switch "F2-SW9" does not exist', value: 'F2-SW9' },
    wrongBinding('position', 'switch.position'),
    wrongBinding('faultA', 'switch.faultFlag'),
    wrongBinding('faultB', 'switch.faultFlag'),
    wrongBinding('faultC', 'switch.faultFlag'),
    wrongBinding('faultN', 'switch.faultFlag'),
    wrongBinding('lockout', 'switch.lockout'),
    wrongBinding('sourceVoltage', 'switch.voltagePresent'),
    wrongBinding('loadVoltage', 'switch.voltagePresent'),
    { path: 'devices[21].id', message: 'duplicate device id, already used at devices[20].id', value: 'meter-c20103' },
    { path: 'devices[22].binds.customer', message: 'customer "C20201" is already bound to device meter-c20103 (devices[21])', value: 'C20201' },
  ]);
});

t.test('breaker rules', async (t) => {
  const withFrom = await parseError(MINIMAL.replace('{ id: F1-CB, kind: breaker, to: F1-S1', '{ id: F1-CB, kind: breaker, from: F1-S2, to: F1-S1'));
  t.same(withFrom.issues, [
    { path: 'feeders[0].breaker', message: 'switch "F1-CB" has a from section; the feeder breaker is fed by the substation bus and has none', value: 'F1-CB' },
  ]);
  const secondSource = await parseError(MINIMAL.replace('kind: sectionalizer, from: F1-S1,', 'kind: breaker,'));
  t.same(secondSource.issues, [
    { path: 'feeders[0].switches[1].from', message: 'is required: only the feeder breaker (F1-CB) has no source-side section' },
  ]);
  const missing = await parseError(MINIMAL.replace('breaker: F1-CB', 'breaker: F1-XX'));
  t.same(missing.issues, [{ path: 'feeders[0].breaker', message: 'switch "F1-XX" does not exist', value: 'F1-XX' }]);
});

t.test('a section fed only through a tie is not connected', async (t) => {
  const text = MINIMAL.replace('kind: sectionalizer', 'kind: tie').replace('normal: closed }\n    sections', 'normal: open }\n    sections');
  const error = await parseError(text);
  t.same(error.issues, [{ path: 'feeders[0].sections[1]', message: 'section is not connected to the feeder breaker', value: 'F1-S2' }]);
});

t.test('a switch from a section to itself is rejected', async (t) => {
  const error = await parseError(MINIMAL.replace('from: F1-S1, to: F1-S2', 'from: F1-S1, to: F1-S1'));
  // F1-S2 is now unfed too, but that follows from this defect and is not reported separately.
  t.same(error.issues, [{ path: 'feeders[0].switches[1].to', message: 'must not be the same section as from', value: 'F1-S1' }]);
});

t.test('meter.voltage only on a device bound to a customer', async (t) => {
  const error = await parseError(MINIMAL.replace('observe: switch.position, encoding: singleBit', 'observe: meter.voltage'));
  t.same(error.issues, [
    { path: 'devices[0].points[0].observe', message: 'meter.voltage needs a device bound to a customer (this one is bound to switch "F1-SW1")', value: 'meter.voltage' },
  ]);
});

t.test('a fuse may be bound to a device', async (t) => {
  const site = parseSiteConfig(MINIMAL.replace('kind: sectionalizer', 'kind: fuse'), { env: {} });
  t.equal(site.devices[0]?.binds.switch, 'F1-SW1');
});

t.test('environment substitution', async (t) => {
  const mqtt = `
mqtt:
  url: mqtt://\${BROKER_HOST}:1883
  username: gateway
  password: \${MQTT_PASSWORD}
  clientId: fw-$\${literal}
`;
  t.test('replaces ${NAME} and keeps $${ as a literal ${', async (t) => {
    const site = parseSiteConfig(MINIMAL + mqtt, { env: { MQTT_PASSWORD: 's3cret!', BROKER_HOST: 'broker.lan' } });
    t.equal(site.mqtt?.password, 's3cret!');
    t.equal(site.mqtt?.url, 'mqtt://broker.lan:1883');
    t.equal(site.mqtt?.clientId, 'fw-${literal}');
  });

  t.test('a missing variable names the variable and the path', async (t) => {
    const error = await parseError(MINIMAL + mqtt, { BROKER_HOST: 'broker.lan' });
    t.same(error.issues, [{ path: 'mqtt.password', message: 'environment variable MQTT_PASSWORD is not set' }]);
  });

  t.test('reference checks still run when only a variable is missing', async (t) => {
    const error = await parseError(MINIMAL.replace('binds: { switch: F1-SW1 }', 'binds: { switch: F1-SW2 }') + mqtt, { MQTT_PASSWORD: 'x' });
    t.same(paths(error.issues), ['mqtt.url', 'devices[0].binds.switch']);
  });

  t.test('secrets never appear in a message', async (t) => {
    const text = MINIMAL + `
mqtt:
  url: \${MQTT_URL}
  username: 12345
  password: \${MQTT_PASSWORD}
influx: { host: db, password: 98765 }
`;
    const error = await parseError(text, { MQTT_URL: 'http://admin:hunter2@broker', MQTT_PASSWORD: 'pa55word' });
    t.same(error.issues, [
      { path: 'mqtt.url', message: 'must be a broker URL such as mqtt://host:1883 or mqtts://host:8883', value: '<redacted>' },
      { path: 'mqtt.username', message: 'must be a string', value: '<redacted>' },
      { path: 'influx.password', message: 'must be a string', value: '<redacted>' },
    ]);
    for (const secret of ['hunter2', '12345', '98765', 'pa55word']) t.notMatch(error.message, secret);
  });

  t.test('a malformed reference is reported', async (t) => {
    const error = await parseError(MINIMAL.replace('host: 10.0.0.5', 'host: ${FTU HOST}'));
    t.same(paths(error.issues), ['devices[0].host']);
    t.match(error.issues[0]?.message, 'malformed "${"');
  });
  t.end();
});

t.test('YAML merge keys work for shared device settings', async (t) => {
  const text = MINIMAL.replace(
    'devices:\n  - id: ftu-1\n',
    'devices:\n  - &ftu\n    id: ftu-1\n',
  ) + `  - { <<: *ftu, id: ftu-2, unitId: 2, binds: { switch: F1-CB } }\n`;
  const site = parseSiteConfig(text, { env: {} });
  const second = site.devices[1];
  t.match(second, { protocol: 'modbus-tcp', host: '10.0.0.5', unitId: 2 });
  t.equal(second?.points[0]?.name, 'position');
});

t.test('a missing file is a SiteConfigError for the whole file', async (t) => {
  const error = await configError(() => loadSiteConfig('config/sites/no-such-site.yaml', {}));
  t.equal(error.issues.length, 1);
  t.equal(error.issues[0]?.path, '');
  t.match(error.issues[0]?.message, 'cannot read the file: ENOENT');
});

t.test('a YAML syntax error carries its position', async (t) => {
  const error = await parseError('siteId: x\nfeeders:\n  - id: F1\n   breaker: F1-CB\n');
  t.equal(error.issues.length, 1);
  t.equal(error.issues[0]?.path, '');
  t.equal(error.issues[0]?.line, 4);
});

t.test('aliases stay shared, bad aliases are reported', async (t) => {
  const site = await loadSiteConfig(DEMO, {});
  t.equal(site.devices[6]?.points, site.devices[22]?.points, 'one point list for all meters');

  const unknown = await parseError(MINIMAL.replace('binds: { switch: F1-SW1 }', 'binds: *nowhere'));
  t.same(unknown.issues, [{ path: 'devices[0].binds', message: 'alias *nowhere has no anchor &nowhere before it' }]);

  const cycle = await parseError(MINIMAL + 'pointSets:\n  loop: &loop [ *loop ]\n');
  t.same(cycle.issues, [{ path: 'pointSets.loop[0]', message: 'alias *loop is inside the node it refers to (a cycle)' }]);
});

// Two buses, RTU devices on both, an OPC UA FTU: the protocols of docs/config.md.
const PROTOCOLS = MINIMAL.replace('devices:\n', `buses:
  - { id: RS485-1, type: serial, path: /dev/ttyS1 }
  - { id: DS-1, type: rtu-over-tcp, host: 10.0.0.40, port: 4001, baudRate: 19200, parity: even, stopBits: 1, interFrameGapMs: 2 }
opcua: { applicationName: fw-mini }
devices:
  - { id: meter-c1, protocol: modbus-rtu, bus: RS485-1, unitId: 1, template: chint-dtsu666, binds: { customer: C1 } }
  - { id: meter-c2, protocol: modbus-rtu, bus: DS-1, unitId: 1, pollIntervalMs: 2000, slowPollIntervalMs: 2000, maxGap: 0, maxRegisters: 40, template: eastron-sdm630, binds: { customer: C2 } }
  - id: ftu-cb
    protocol: opcua
    endpointUrl: opc.tcp://10.0.0.31:4840
    securityMode: SignAndEncrypt
    securityPolicy: Basic256Sha256
    username: gateway
    password: \${FTU_PASSWORD}
    binds: { switch: F1-CB }
    points:
      - { name: position, nodeId: "ns=2;s=CB.Position", observe: switch.position, encoding: doublePoint }
      - { name: ia, browsePath: /2:CB/2:Ia, unit: A, samplingIntervalMs: 100, queueSize: 1, deadband: { type: percent, value: 2 } }
`);

t.test('buses, Modbus RTU devices and OPC UA devices, with their defaults', async (t) => {
  const site = parseSiteConfig(PROTOCOLS, { env: { FTU_PASSWORD: 'pw' }, baseDir: '/etc/feederwatch' });
  t.same(site.buses, [
    { id: 'RS485-1', type: 'serial', path: '/dev/ttyS1', baudRate: 9600, parity: 'none', dataBits: 8, stopBits: 1 },
    { id: 'DS-1', type: 'rtu-over-tcp', host: '10.0.0.40', port: 4001, baudRate: 19200, parity: 'even', dataBits: 8, stopBits: 1, interFrameGapMs: 2 },
  ]);
  t.same(
    { ...modbus(site, 0), points: undefined },
    {
      id: 'meter-c1',
      protocol: 'modbus-rtu',
      bus: 'RS485-1',
      unitId: 1,
      template: 'chint-dtsu666',
      binds: { customer: 'C1' },
      pollIntervalMs: 1000,
      slowPollIntervalMs: 60_000,
      timeoutMs: 1000,
      maxGap: 8,
      maxRegisters: 125,
      points: undefined,
    },
  );
  t.match(modbus(site, 1), { protocol: 'modbus-rtu', bus: 'DS-1', maxGap: 0, maxRegisters: 40, pollIntervalMs: 2000, slowPollIntervalMs: 2000 });
  t.same(opcua(site, 2), {
    id: 'ftu-cb',
    protocol: 'opcua',
    endpointUrl: 'opc.tcp://10.0.0.31:4840',
    securityMode: 'SignAndEncrypt',
    securityPolicy: 'Basic256Sha256',
    username: 'gateway',
    password: 'pw',
    timeoutMs: 5000,
    binds: { switch: 'F1-CB' },
    points: [
      { name: 'position', nodeId: 'ns=2;s=CB.Position', observe: 'switch.position', encoding: 'doublePoint', samplingIntervalMs: 500, queueSize: 10, scale: 1, offset: 0 },
      { name: 'ia', browsePath: '/2:CB/2:Ia', unit: 'A', samplingIntervalMs: 100, queueSize: 1, deadband: { type: 'percent', value: 2 }, scale: 1, offset: 0 },
    ],
  });
  t.same(site.opcua, { applicationName: 'fw-mini', pkiDir: '/etc/feederwatch/pki', automaticallyAcceptUnknownCertificate: false });
});

t.test('opcua.pkiDir is relative to the site file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'fw-site-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'site.yaml'), PROTOCOLS.replace('opcua: { applicationName: fw-mini }', 'opcua: { pkiDir: ../secrets/pki }'));
  const site = await loadSiteConfig(join(dir, 'site.yaml'), { FTU_PASSWORD: 'pw' });
  t.equal(site.opcua?.pkiDir, join(dir, '..', 'secrets', 'pki'));
  t.equal(site.opcua?.applicationName, 'feederwatch');
  const absolute = parseSiteConfig(PROTOCOLS.replace('opcua: { applicationName: fw-mini }', 'opcua: { pkiDir: /var/lib/fw/pki }'), { env: { FTU_PASSWORD: 'pw' } });
  t.equal(absolute.opcua?.pkiDir, '/var/lib/fw/pki');
});

t.test('keys of one protocol are rejected on another, with the reason', async (t) => {
  const error = await parseError(
    PROTOCOLS.replace('bus: RS485-1, unitId: 1,', 'bus: RS485-1, host: 10.0.0.9, unitId: 1,')
      .replace('endpointUrl: opc.tcp://10.0.0.31:4840', 'endpointUrl: opc.tcp://10.0.0.31:4840\n    pollIntervalMs: 100\n    unitId: 1')
      .replace('{ id: RS485-1, type: serial, path: /dev/ttyS1 }', '{ id: RS485-1, type: serial, path: /dev/ttyS1, port: 4001 }'),
    { FTU_PASSWORD: 'pw' },
  );
  t.same(error.issues, [
    { path: 'buses[0].port', message: 'does not apply to a serial bus (it has a path)', value: 4001 },
    { path: 'devices[0].host', message: 'does not apply to a modbus-rtu device (it names its bus; line settings belong to the bus)', value: '10.0.0.9' },
    { path: 'devices[2].unitId', message: 'does not apply to an opcua device', value: 1 },
    { path: 'devices[2].pollIntervalMs', message: 'does not apply to an opcua device (the server pushes changes; set samplingIntervalMs per point)', value: 100 },
  ]);
});

t.test('required keys per protocol and bus type', async (t) => {
  const error = await parseError(
    PROTOCOLS.replace('bus: RS485-1, unitId: 1,', 'unitId: 1,')
      .replace('    endpointUrl: opc.tcp://10.0.0.31:4840\n', '')
      .replace('{ id: DS-1, type: rtu-over-tcp, host: 10.0.0.40, port: 4001,', '{ id: DS-1, type: rtu-over-tcp, host: 10.0.0.40,')
      .replace('    password: ${FTU_PASSWORD}\n', ''),
  );
  t.same(error.issues, [
    { path: 'buses[1].port', message: "is required for an rtu-over-tcp bus (the serial device server's address)" },
    { path: 'devices[0].bus', message: 'required key "bus" is missing' },
    { path: 'devices[2].endpointUrl', message: 'required key "endpointUrl" is missing' },
    { path: 'devices[2].password', message: 'is required with username' },
  ]);
});

t.test('OPC UA credentials are never shown', async (t) => {
  const error = await parseError(PROTOCOLS.replace('username: gateway', 'username: 12345').replace('password: ${FTU_PASSWORD}', 'password: ${FTU_PASSWORD}x'), {
    FTU_PASSWORD: 'hunter2',
  });
  t.same(error.issues, [{ path: 'devices[2].username', message: 'must be a string', value: '<redacted>' }]);
  t.notMatch(error.message, 'hunter2');
  t.notMatch(error.message, '12345');
});

t.test('bus and endpoint conflicts', async (t) => {
  const error = await parseError(
    PROTOCOLS.replace('  - { id: DS-1,', '  - { id: RS485-2, type: serial, path: /dev/ttyS1 }\n  - { id: DS-1,')
      .replace('{ id: meter-c2, protocol: modbus-rtu, bus: DS-1, unitId: 1,', '{ id: meter-c2, protocol: modbus-tcp, host: 10.0.0.40, port: 4001, unitId: 1,') +
      '  - { id: ftu-sw, protocol: opcua, endpointUrl: "opc.tcp://10.0.0.31:4840", binds: { switch: F1-SW1 }, points: [{ name: p, nodeId: "i=1", observe: switch.position, encoding: singleBit }] }\n',
    { FTU_PASSWORD: 'pw' },
  );
  t.same(error.issues, [
    { path: 'buses[1].path', message: 'serial port /dev/ttyS1 is already used by bus RS485-1 (buses[0])', value: '/dev/ttyS1' },
    { path: 'devices[1].port', message: 'host 10.0.0.40 port 4001 is the rtu-over-tcp bus DS-1; a port speaks either Modbus TCP or RTU over TCP', value: 4001 },
    {
      path: 'devices[4].endpointUrl',
      message: 'device ftu-cb (devices[2]) uses this endpoint with other securityMode, securityPolicy or credentials; devices on one endpoint share one session and must agree',
      value: 'opc.tcp://10.0.0.31:4840',
    },
  ]);
});

t.test('poll intervals and request sizes', async (t) => {
  const error = await parseError(
    MINIMAL.replace('unitId: 1\n', 'unitId: 1\n    pollIntervalMs: 1000\n    slowPollIntervalMs: 500\n    maxRegisters: 4\n') +
      '      - { name: serial, function: holding, address: 20, type: string, length: 8 }\n',
  );
  t.same(error.issues, [
    { path: 'devices[0].slowPollIntervalMs', message: 'must not be shorter than pollIntervalMs (1000)', value: 500 },
    { path: 'devices[0].maxRegisters', message: 'point "serial" spans 8 registers, more than one request may read (4)', value: 4 },
  ]);
});

t.test('point rules: types, functions, observe companions, sentinels', async (t) => {
  const point = (fields: string): string => MINIMAL + `      - { name: x, ${fields} }\n`;
  const cases: Array<[string, ConfigIssue[]]> = [
    ['function: coil, address: 3, type: uint16', [{ path: 'devices[0].points[1].type', message: 'must be bit: a coil or discrete input is one bit', value: 'uint16' }]],
    ['function: discrete, address: 3, type: bit, bitIndex: 2', [{ path: 'devices[0].points[1].bitIndex', message: 'must be 0 or left out: a coil or discrete input is one bit', value: 2 }]],
    ['function: holding, address: 3, type: uint16, bitIndex: 2', [{ path: 'devices[0].points[1].bitIndex', message: 'is only allowed with type: bit', value: 2 }]],
    ['function: holding, address: 3, type: uint16, length: 2', [{ path: 'devices[0].points[1].length', message: 'is only allowed with type: string', value: 2 }]],
    ['function: holding, address: 3, type: uint16, phase: A', [{ path: 'devices[0].points[1].phase', message: 'is only allowed with observe: switch.faultFlag', value: 'A' }]],
    ['function: holding, address: 3, type: uint16, side: load', [{ path: 'devices[0].points[1].side', message: 'is only allowed with observe: switch.voltagePresent', value: 'load' }]],
    ['function: holding, address: 3, type: bit, bitIndex: 0, observe: switch.position, encoding: doublePoint', [{ path: 'devices[0].points[1].type', message: 'cannot hold a double point (two bits): use a register type such as uint16', value: 'bit' }]],
    ['function: holding, address: 3, type: uint16, scale: 0', [{ path: 'devices[0].points[1].scale', message: 'must not be 0 (value = raw x scale + offset)', value: 0 }]],
    ['function: holding, address: 3, type: int16, sentinels: [0xFFFF]', [{ path: 'devices[0].points[1].sentinels', message: 'sentinel 65535 can never match: an int16 holds -32768..32767' }]],
    ['function: holding, address: 3, type: uint32, sentinels: [1.5]', [{ path: 'devices[0].points[1].sentinels', message: 'sentinel 1.5 can never match: a uint32 holds 0..4294967295' }]],
    ['function: coil, address: 3, type: bit, sentinels: [2]', [{ path: 'devices[0].points[1].sentinels', message: 'sentinel 2 can never match: a bit holds 0..1' }]],
    ['function: holding, address: 3, type: int64, sentinels: [0x10000000000000000]', [{ path: 'devices[0].points[1].sentinels', message: 'sentinel 18446744073709552000 does not fit in int64' }]],
    ['function: holding, address: 65535, type: uint32', [{ path: 'devices[0].points[1].address', message: 'the point spans wire addresses 65535..65536, past the last Modbus address 65535', value: 65535 }]],
  ];
  for (const [fields, issues] of cases) {
    const error = await parseError(point(fields));
    t.same(error.issues, issues, fields);
  }
  const valid = parseSiteConfig(
    point('function: coil, address: 3, type: bit, observe: switch.faultFlag, phase: N, sentinels: [1]') +
      '      - { name: y, function: input, address: 5, type: string, length: 4 }\n      - { name: z, function: holding, address: 6, type: int64, sentinels: [0x7FFFFFFFFFFFFFFF] }\n',
    { env: {} },
  );
  t.match(modbus(valid, 0).points[1], { function: 'coil', type: 'bit', phase: 'N' });
  t.match(modbus(valid, 0).points[2], { type: 'string', length: 4 });
});

t.test('transformer bindings and what they may observe', async (t) => {
  const site = parseSiteConfig(MINIMAL + '  - { id: ttu-1, protocol: modbus-tcp, host: 10.0.0.6, port: 502, unitId: 1, template: generic-ttu, binds: { transformer: T1 } }\n', { env: {} });
  t.same(site.devices[1]?.binds, { transformer: 'T1' });
  const error = await parseError(MINIMAL + '  - { id: ttu-1, protocol: modbus-tcp, host: 10.0.0.6, port: 502, unitId: 1, template: generic-ttu, binds: { transformer: T9 } }\n');
  t.same(error.issues, [{ path: 'devices[1].binds.transformer', message: 'transformer "T9" does not exist', value: 'T9' }]);
});

t.test('OPC UA point lists can be shared through pointSets too', async (t) => {
  const text = PROTOCOLS.replace('devices:\n', 'pointSets:\n  opc: &opcPoints\n    - { name: position, nodeId: "ns=2;s=P", observe: switch.position, encoding: singleBit }\ndevices:\n') +
    '  - { id: ftu-sw, protocol: opcua, endpointUrl: "opc.tcp://10.0.0.32:4840", binds: { switch: F1-SW1 }, points: *opcPoints }\n';
  const site = parseSiteConfig(text, { env: { FTU_PASSWORD: 'pw' } });
  t.match(opcua(site, 4).points[0], { nodeId: 'ns=2;s=P', samplingIntervalMs: 500, queueSize: 10 });
});

t.test('MQTT TLS files must exist (relative paths resolve against the site file); env values are known secrets', async (t) => {
  const err = (() => {
    try {
      parseSiteConfig(MINIMAL + `\nmqtt: { url: mqtts://broker:8883, tls: { ca: certs/ca.pem, cert: ${CA_FILE} } }\n`, { env: {}, baseDir: '/nonexistent-site-dir' });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof SiteConfigError);
  t.same((err as SiteConfigError).issues, [{ path: 'mqtt.tls.ca', message: 'file not found: /nonexistent-site-dir/certs/ca.pem', value: 'certs/ca.pem' }]);

  const { siteSecrets } = await import('../../gateway/config/load-site.js');
  const site = parseSiteConfig(MINIMAL + '\nmqtt: { url: "mqtt://fw:${MQTT_PW}@broker:1883" }\n', { env: { MQTT_PW: 'pw-in-url-123' } });
  t.equal(site.mqtt?.url, 'mqtt://fw:pw-in-url-123@broker:1883');
  t.same(siteSecrets(site), ['pw-in-url-123'], 'a value from the environment is a secret whatever its key');
});

t.test('ids that would break MQTT topics are refused', async (t) => {
  const text = MINIMAL.replace('F1-SW1', 'F1#SW1');
  t.throws(() => parseSiteConfig(text, { env: {} }), /must not contain '\/', '\+' or '#'/);
});
