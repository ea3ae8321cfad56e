/**
 * Every shipped device template, end to end: a site with one device using it is served by the simulator,
 * and the registers are read with modbus-serial (an independent client) at the addresses the template
 * gives, decoded with the template's type, word order and scale, and compared with what the simulated
 * feeder holds. Raw register patterns that are known exactly (50 Hz, the FTU's double point, the TTU's
 * nominal voltage) are checked word for word.
 */
import t, { type Test } from 'tap';
import modbusSerial from 'modbus-serial';
import { decode, pointRegisterCount, toEngineering } from '../../drivers/modbus/codec.js';
import { ManualClock } from '../../gateway/clock.js';
import { parseSiteConfig } from '../../gateway/config/load-site.js';
import type { ModbusDeviceConfig, ModbusPointConfig, SiteConfig } from '../../gateway/config/site-config.js';
import { DeviceRegisters } from '../../simulators/device-registers.js';
import { FeederModel } from '../../simulators/feeder-model.js';
import { Simulator } from '../../simulators/simulator.js';

// modbus-serial is CommonJS; `.default` is the constructor both for the types and at run time.
const ModbusRTU = modbusSerial.default;
type Client = InstanceType<typeof ModbusRTU>;

const FEEDER = `
siteId: templates
feeders:
  - id: F1
    breaker: F1-CB
    switches:
      - { id: F1-CB, kind: breaker, to: F1-S1, normal: closed }
      - { id: F1-R1, kind: recloser, from: F1-S1, to: F1-S2, normal: closed }
    sections: [{ id: F1-S1 }, { id: F1-S2 }]
    transformers:
      - { id: T1, section: F1-S2, areaClass: urban, customers: [C1, C2, C3] }
devices:
`;

type Binding = 'customer: C1' | 'switch: F1-R1' | 'transformer: T1';

function siteWith(template: string, binds: Binding): SiteConfig {
  return parseSiteConfig(FEEDER + `  - { id: dev, protocol: modbus-tcp, host: 127.0.0.1, port: 15500, unitId: 7, template: ${template}, binds: { ${binds} } }\n`, {
    env: {},
  });
}

interface Served {
  sim: Simulator;
  device: ModbusDeviceConfig;
  /** Reads one point as the gateway would: its registers at its address, decoded and scaled. */
  value(name: string): Promise<number>;
  /** The raw registers of one point. */
  raw(name: string): Promise<number[]>;
}

async function serve(t: Test, template: string, binds: Binding): Promise<Served> {
  const site = siteWith(template, binds);
  const device = site.devices[0];
  if (device?.protocol !== 'modbus-tcp') throw new Error('expected a Modbus TCP device');
  t.equal(device.template, template);
  const sim = new Simulator(site, { clock: new ManualClock(0), controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  t.teardown(() => sim.stop());
  const port = endpoints.modbusEndpoints[0]?.boundPort ?? 0;
  const client: Client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(device.unitId);
  client.setTimeout(1000);
  t.teardown(() => new Promise<void>((resolve) => client.close(() => resolve())));

  const pointNamed = (name: string): ModbusPointConfig => {
    const point = device.points.find((p) => p.name === name);
    if (point === undefined) throw new Error(`template ${template} has no point ${name}`);
    return point;
  };
  const raw = async (name: string): Promise<number[]> => {
    const point = pointNamed(name);
    const count = pointRegisterCount(point);
    switch (point.function) {
      case 'holding':
        return (await client.readHoldingRegisters(point.address, count)).data;
      case 'input':
        return (await client.readInputRegisters(point.address, count)).data;
      default:
        throw new Error(`${name}: ${point.function} is not read by this test`);
    }
  };
  const value = async (name: string): Promise<number> => {
    const point = pointNamed(name);
    return toEngineering(decode(await raw(name), 0, point.type, point.wordOrder, point.bitIndex ?? 0), point);
  };
  return { sim, device, value, raw };
}

/** Equal within float32 precision (the simulator serves the model's value through the point's own type). */
function near(t: Test, actual: number, expected: number, what: string, relative = 1e-6): void {
  t.ok(Math.abs(actual - expected) <= relative * Math.max(1, Math.abs(expected)), `${what}: ${actual} ~ ${expected}`);
}

interface MeterCase {
  template: string;
  /** The raw registers of 50 Hz in this template's encoding, written out by hand. */
  fiftyHz: number[];
  /** Points the map has besides ua..uc, ia..ic, p, pa..pc, f, importEnergy. */
  pf: boolean;
  exportEnergy: boolean;
}

const METERS: MeterCase[] = [
  { template: 'chint-dtsu666', fiftyHz: [0x459c, 0x4000], pf: true, exportEnergy: true }, // float32 5000.0 (0.01 Hz)
  { template: 'eastron-sdm630', fiftyHz: [0x4248, 0x0000], pf: false, exportEnergy: true }, // float32 50.0
  { template: 'carlo-gavazzi-em24', fiftyHz: [0x01f4], pf: true, exportEnergy: false }, // int16 500 (0.1 Hz)
  { template: 'carlo-gavazzi-em24-e1', fiftyHz: [0x01f4], pf: true, exportEnergy: true },
  { template: 'schneider-iem3xxx', fiftyHz: [0x4248, 0x0000], pf: false, exportEnergy: true }, // float32 50.0
];

for (const meter of METERS) {
  t.test(`${meter.template}: a meter read from the simulator`, async (t) => {
    const { sim, device, value, raw } = await serve(t, meter.template, 'customer: C1');
    const model = sim.model.meterValues('C1');
    t.ok(model.voltage > 215 && model.voltage < 225, `the model's supply voltage ${model.voltage} V`);

    const ua = await value('ua');
    near(t, ua, model.voltage, 'ua = the supply voltage', meter.template.startsWith('carlo') ? 0.001 : 1e-6);
    for (const phase of ['ub', 'uc']) {
      const u = await value(phase);
      t.ok(Math.abs(u - ua) < 0.01 * ua, `${phase} ${u} V within 1 % of ua`);
    }
    // A single-phase household on phase A: its current and power, none on B and C.
    near(t, await value('ia'), model.current, 'ia', 0.001);
    t.equal(await value('ib'), 0, 'ib');
    t.equal(await value('ic'), 0, 'ic');
    near(t, await value('p'), model.power, 'p = the household power', 0.001);
    near(t, await value('pa'), model.power, 'pa', 0.001);
    t.equal(await value('pb'), 0, 'pb');
    t.ok(Math.abs(model.power - ua * model.current * 0.95) < 1, 'P = U x I x 0.95');

    t.same(await raw('f'), meter.fiftyHz, '50 Hz, word for word');
    t.equal(await value('f'), 50, 'f = 50 Hz');
    if (meter.pf) near(t, await value('pf'), 0.95, 'pf', 1e-3);
    const energy = await value('importEnergy');
    t.ok(energy >= 1000 && energy <= 11_000, `import energy ${energy} kWh`);
    if (meter.exportEnergy) t.ok((await value('exportEnergy')) >= 0, 'export energy');
    t.equal(device.points.find((p) => p.name === 'ua')?.unit, 'V');
    t.equal(device.points.find((p) => p.name === 'p')?.unit, 'W');
    t.equal(device.points.find((p) => p.name === 'importEnergy')?.unit, 'kWh');

    // A fault on the meter's section trips the recloser: the meter reads 0 V and no frequency.
    sim.model.injectFault('F1-S2');
    t.equal(await value('ua'), 0, 'ua 0 V after the trip');
    t.equal(await value('f'), 0, 'f 0 after the trip');
    t.equal(await value('ia'), 0, 'ia 0 after the trip');
  });
}

t.test('generic-ftu: an FTU read from the simulator', async (t) => {
  const { sim, value, raw } = await serve(t, 'generic-ftu', 'switch: F1-R1');
  const model = sim.model.switchValues('F1-R1');
  t.same(await raw('position'), [2], 'closed: double point 2');
  for (const flag of ['faultA', 'faultB', 'faultC', 'faultN', 'lockout']) t.same(await raw(flag), [0], `${flag} clear`);
  t.same(await raw('sourceVoltage'), [0b11], 'status word: source (bit 0) and load (bit 1) live');
  t.equal(await value('sourceVoltage'), 1);
  t.equal(await value('loadVoltage'), 1);
  t.same(await raw('uab'), [10_000], 'uab 10 kV in volts');
  near(t, await value('ia'), model.ia, 'ia', 0.01);
  t.ok(model.ia > 10, `the recloser carries load (${model.ia} A)`);
  near(t, await value('ib'), model.ia, 'ib (balanced)', 0.01);
  near(t, await value('ic'), model.ia, 'ic (balanced)', 0.01);

  sim.model.injectFault('F1-S2');
  t.same(await raw('position'), [1], 'tripped: double point 1');
  t.same(await raw('faultA'), [1], 'phase A flagged');
  t.same(await raw('faultB'), [1], 'phase B flagged');
  t.same(await raw('faultC'), [1], 'phase C flagged');
  t.same(await raw('faultN'), [0], 'no earth fault');
  t.same(await raw('lockout'), [1], 'open with the flag set: locked out (the model does not reclose)');
  t.equal(await value('sourceVoltage'), 1, 'source side still live');
  t.equal(await value('loadVoltage'), 0, 'load side dark');
  t.equal(await value('ia'), 0, 'no current through an open switch');
});

t.test('generic-ttu: a TTU read from the simulator', async (t) => {
  const { value, raw } = await serve(t, 'generic-ttu', 'transformer: T1');
  t.same(await raw('ua'), [2200], 'Ua 220.0 V (the nominal voltage) in 0.1 V');
  t.equal(await value('ua'), 220);
  for (const phase of ['ub', 'uc']) {
    const u = await value(phase);
    t.ok(Math.abs(u - 220) < 2.2, `${phase} ${u} V within 1 % of 220 V`);
  }
  t.same(await raw('f'), [5000], '50.00 Hz in 0.01 Hz');
  for (const phase of ['ia', 'ib', 'ic']) {
    const i = await value(phase);
    t.ok(i >= 0 && i < 100, `${phase} ${i} A`);
  }
  const p = await value('p');
  t.ok(p >= 0 && p < 100_000, `p ${p} W`);
  const energy = await value('importEnergy');
  t.ok(energy >= 1000 && energy <= 11_000, `import energy ${energy} kWh`);
});

/**
 * What the simulator's register image knows when it is given the site (topology) and the clock: a TTU
 * follows its transformer's section and sums its customers' meters; an FTU's load side follows its `to`
 * section, so an open tie shows the other feeder's voltage; energy counters grow with the clock.
 */
t.test('register images with the site topology and the clock', async (t) => {
  const site = parseSiteConfig(
    FEEDER.replace(
      'devices:\n',
      `  - id: F2
    breaker: F2-CB
    switches:
      - { id: F2-CB, kind: breaker, to: F2-S1, normal: closed }
      - { id: TIE, kind: tie, from: F2-S1, to: F1-S2, normal: open }
    sections: [{ id: F2-S1 }]
devices:
  - { id: ttu, protocol: modbus-tcp, host: 127.0.0.1, port: 15500, unitId: 1, template: generic-ttu, binds: { transformer: T1 } }
  - { id: tie, protocol: modbus-tcp, host: 127.0.0.1, port: 15500, unitId: 2, template: generic-ftu, binds: { switch: TIE } }
`,
    ),
    { env: {} },
  );
  const clock = new ManualClock(0);
  const model = new FeederModel(site, { clock });
  const [ttuConfig, tieConfig] = site.devices as ModbusDeviceConfig[];
  const ttu = new DeviceRegisters(ttuConfig as ModbusDeviceConfig, model, { site, clock });
  const tie = new DeviceRegisters(tieConfig as ModbusDeviceConfig, model, { site, clock });
  const read = (unit: DeviceRegisters, address: number, quantity: number): number[] => {
    const reply = unit.read('holding', address, quantity);
    if ('exception' in reply) throw new Error(`exception ${reply.exception}`);
    return reply.registers;
  };

  t.same(read(ttu, 0, 1), [2200], 'TTU Ua 220.0 V');
  // Customers C1, C2, C3 on phases A, B, C in turn: each phase carries one household.
  const amps = [0, 1, 2].map((k) => (read(ttu, 3 + k, 1)[0] as number) / 10);
  ['C1', 'C2', 'C3'].forEach((customer, k) => {
    t.ok(Math.abs((amps[k] as number) - model.meterValues(customer).current) <= 0.05, `phase ${k}: ${amps[k]} A is ${customer}'s current`);
  });
  t.same(read(tie, 6, 1), [0b11], 'open tie: live on both sides (F2 behind it, F1-S2 in front)');
  const energyAt = (): number => {
    const [high, low] = read(ttu, 10, 2) as [number, number];
    return (high * 0x10000 + low) / 10;
  };
  const before = energyAt();
  clock.advance(3_600_000);
  t.ok(Math.abs(energyAt() - before - 50) <= 0.1, 'a TTU counts 50 kWh an hour');

  model.injectFault('F1-S2');
  t.same(read(ttu, 0, 3), [0, 0, 0], 'TTU dark after the recloser trips');
  t.same(read(ttu, 3, 3), [0, 0, 0], 'no current');
  t.same(read(tie, 6, 1), [0b01], 'tie: source side (F2) live, load side (F1-S2) dark');
  model.clearFault('F1-S2');
  model.setSwitch('TIE', 'closed');
  t.same(read(ttu, 0, 1), [2200], 'back-fed through the tie');
});

/**
 * A current beyond what the FTU's register holds (0.1 A in a uint16: at most 6,553.4 A, 0xFFFF meaning "not
 * measured") reads at full scale, as a real transducer saturates: never the sentinel, never an exception.
 * One transformer loaded at 7,000 A (set in the simulator's automation settings) is past the limit.
 */
t.test('an FTU current beyond its register saturates at full scale', async (t) => {
  const site = parseSiteConfig(
    FEEDER.replace('siteId: templates\n', 'siteId: templates\nsimulator:\n  automation:\n    feeders: [{ feeder: F1, mode: none, capacityA: 10000 }]\n    protection: []\n    loadPerTransformerA: 7000\n') +
      '  - { id: r1, protocol: modbus-tcp, host: 127.0.0.1, port: 15500, unitId: 1, template: generic-ftu, binds: { switch: F1-R1 } }\n',
    { env: {} },
  );
  const clock = new ManualClock(0);
  const model = new FeederModel(site, { clock });
  const ftu = new DeviceRegisters(site.devices[0] as ModbusDeviceConfig, model, { site, clock });
  const reply = ftu.read('holding', 0, 12);
  if ('exception' in reply) throw new Error(`exception ${reply.exception}`);
  t.same(reply.registers.slice(8, 11), [65534, 65534, 65534], 'Ia, Ib, Ic at 6,553.4 A: full scale below the 0xFFFF sentinel');
  t.equal(reply.registers[0], 2, 'the position still reads closed');
});
