import { readFile } from 'node:fs/promises';
import t from 'tap';
import { loadSiteConfig, parseSiteConfig, SiteConfigError, type ConfigIssue } from '../../gateway/config/load-site.js';

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
  // faultFlag has no wordOrder, scale or offset in the file.
  t.equal(site.devices[0]?.points[1]?.wordOrder, 'ABCD');
  t.equal(site.devices[0]?.points[1]?.scale, 1);
  t.equal(site.devices[0]?.points[1]?.offset, 0);
  t.equal(site.devices[0]?.points[0]?.encoding, 'doublePoint');
  t.equal(site.devices[6]?.points[0]?.address, 0x2006);
  t.equal(site.devices[6]?.points[0]?.scale, 0.1);
  t.equal(site.devices[0]?.pollIntervalMs, 500);
  t.equal(site.thresholds.meterVoltageLossV, 110);
  t.equal(site.thresholds.meterLossHoldMs, 5000);
  t.same(site.simulator, { controlHost: '127.0.0.1', controlPort: 8081, meterNominalV: 220 });
  t.same(site.mqtt, { url: 'mqtt://127.0.0.1:1883', clientId: 'feederwatch-demo-xixi', protocolVersion: 4 });
  t.equal(site.influx, undefined);
  t.notOk('pointSets' in site, 'pointSets is only for YAML anchors and is dropped');
});

t.test('defaults fill every omitted optional key', async (t) => {
  const site = parseSiteConfig(
    MINIMAL +
      `
mqtt: { url: mqtts://broker:8883, tls: { ca: /etc/ca.pem } }
influx: { host: influx.local }
`,
    { env: {} },
  );
  const device = site.devices[0];
  t.equal(device?.pollIntervalMs, 1000);
  t.equal(device?.timeoutMs, 1000);
  t.same(device?.points[0], {
    name: 'position',
    function: 'input',
    address: 10,
    type: 'uint16',
    observe: 'switch.position',
    encoding: 'singleBit',
    wordOrder: 'ABCD',
    scale: 1,
    offset: 0,
  });
  t.same(site.thresholds, { meterVoltageLossV: 110, meterLossHoldMs: 5000 });
  t.same(site.simulator, { controlHost: '127.0.0.1', controlPort: 8081, meterNominalV: 220 });
  t.same(site.mqtt, { url: 'mqtts://broker:8883', protocolVersion: 4, tls: { ca: '/etc/ca.pem', rejectUnauthorized: true } });
  t.same(site.influx, { host: 'influx.local', port: 8086, protocol: 'http', database: 'feederwatch' });
});

t.test('a partly given section keeps the defaults of the keys it omits', async (t) => {
  const site = parseSiteConfig(MINIMAL + 'thresholds: { meterLossHoldMs: 2000 }\n', { env: {} });
  t.same(site.thresholds, { meterVoltageLossV: 110, meterLossHoldMs: 2000 });
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
const invalidFiles: { file: string; path: string; message: string }[] = [
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
];

t.test('every invalid example fails with exactly its one defect', async (t) => {
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

t.test('a defect in a shared point set is reported once, where it is defined', async (t) => {
  const error = await loadDemoWith((text) => text.replace('type: uint16, observe: switch.faultFlag', 'type: uint61, observe: switch.faultFlag'));
  t.same(error.issues, [
    {
      path: 'pointSets.ftu[1].type',
      message: 'must be one of int16, uint16, int32, uint32, float32',
      value: 'uint61',
    },
  ]);
});

t.test('duplicate point names are reported once per point list', async (t) => {
  const error = await loadDemoWith((text) => text.replace('- { name: p, function', '- { name: ia, function'));
  t.same(error.issues, [
    { path: 'pointSets.meter[2].name', message: 'duplicate point name, already used at pointSets.meter[1].name', value: 'ia' },
  ]);
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
      .replace('unitId: 17, pollIntervalMs: 1000, timeoutMs: 500, binds: { customer: C20202 }', 'unitId: 17, pollIntervalMs: 1000, timeoutMs: 500, binds: { customer: C20201 }')
      .replace('{ id: meter-c20201,', '{ id: meter-c20103,')
      .replace('binds: { customer: C10101 }, points: *meterPoints', 'binds: { customer: C10101 }, points: *ftuPoints'),
  );
  t.same(error.issues, [
    { path: 'feeders[1].transformers[1].customers[2]', message: 'customer is already supplied by transformer T202 (feeders[1].transformers[1].customers[0])', value: 'C20201' },
    { path: 'feeders[0].switches[2].from', message: 'is required for a loadBreakSwitch: only the feeder breaker has no source-side section' },
    { path: 'feeders[0].switches[4].from', message: 'section "F2-S1" belongs to feeder F2; from must be a section of this feeder (F1)', value: 'F2-S1' },
    { path: 'feeders[1].breaker', message: 'switch "F1-CB" belongs to feeder F1, not F2', value: 'F1-CB' },
    { path: 'feeders[1].transformers[1].section', message: 'section "F1-S4" belongs to feeder F1; a transformer must be on a section of its own feeder (F2)', value: 'F1-S4' },
    { path: 'devices[5].binds.switch', message: 'switch "F2-SW9" does not exist', value: 'F2-SW9' },
    { path: 'devices[6].points[0].observe', message: 'switch.position needs a device bound to a switch (this one is bound to customer "C10101")', value: 'switch.position' },
    { path: 'devices[6].points[1].observe', message: 'switch.faultFlag needs a device bound to a switch (this one is bound to customer "C10101")', value: 'switch.faultFlag' },
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
  t.equal(site.devices[1]?.host, '10.0.0.5');
  t.equal(site.devices[1]?.unitId, 2);
  t.equal(site.devices[1]?.points[0]?.name, 'position');
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
