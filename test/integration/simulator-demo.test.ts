import t from 'tap';
import modbusSerial from 'modbus-serial';
import { ManualClock } from '../../gateway/clock.js';
import { loadSiteConfig } from '../../gateway/config/load-site.js';
import { loadScenario } from '../../simulators/scenario.js';
import { Simulator } from '../../simulators/simulator.js';
import { FakeScheduler } from '../helpers/fake-scheduler.js';

// modbus-serial is CommonJS; `.default` is the constructor both for the types and at run time.
const ModbusRTU = modbusSerial.default;

/** Reads holding registers with modbus-serial, an independent client, or 'timeout'. */
async function readHolding(port: number, unit: number, address: number, quantity: number): Promise<number[] | 'timeout'> {
  const client = new ModbusRTU();
  await client.connectTCP('127.0.0.1', { port });
  client.setID(unit);
  client.setTimeout(300);
  try {
    return (await client.readHoldingRegisters(address, quantity)).data;
  } catch (err) {
    if ((err as { errno?: string }).errno === 'ETIMEDOUT') return 'timeout';
    throw err;
  } finally {
    await new Promise<void>((resolve) => client.close(() => resolve()));
  }
}

t.test('demo site plays config/scenarios/demo-fault.yaml', async (t) => {
  const site = await loadSiteConfig('config/sites/demo.yaml', {});
  const scenario = await loadScenario('config/scenarios/demo-fault.yaml', site);
  t.equal(scenario.loop, true);
  t.ok((scenario.steps[0]?.atMs ?? Infinity) <= 20_000, 'first fault within 20 s');

  const clock = new ManualClock(0);
  const scheduler = new FakeScheduler(clock);
  const sim = new Simulator(site, { clock, scheduler, scenario, controlPort: 0, portOverride: () => 0 });
  const endpoints = await sim.start();
  t.teardown(() => sim.stop());
  const ftuPort = endpoints.modbusEndpoints.find((e) => e.port === 15020)?.boundPort ?? 0;
  const meterPort = endpoints.modbusEndpoints.find((e) => e.port === 15021)?.boundPort ?? 0;

  // F1-R1 is unit 2 on the FTU endpoint: position (double point) and fault flag.
  t.same(await readHolding(ftuPort, 2, 0, 2), [2, 0], 'F1-R1 closed before the fault');
  scheduler.advanceTo(15_000);
  t.same(await readHolding(ftuPort, 2, 0, 2), [1, 1], 'F1-R1 tripped at 15 s, flagged');
  t.same(await readHolding(ftuPort, 1, 0, 2), [2, 1], 'F1-CB closed, flagged');
  t.same(await readHolding(ftuPort, 3, 0, 2), [2, 1], 'F1-LS1 closed, flagged');
  t.same(sim.model.state().deenergizedSections, ['F1-S2', 'F1-S3', 'F1-S4']);
  // C10301 is unit 8 on the meter endpoint, in F1-S3: float32 0.
  t.same(await readHolding(meterPort, 8, 0x2006, 2), [0, 0], 'C10301 reads 0 V');

  // Voltage-time FA (test/integration/fa-demo.test.ts has the whole sequence): by 42 s F1-R1 has reclosed
  // for good and only the faulted F1-S3 is out.
  scheduler.advanceTo(50_000);
  t.same(sim.model.state().deenergizedSections, ['F1-S3'], 'F1-S3 isolated, the rest back by 50 s');
  t.same(await readHolding(ftuPort, 2, 0, 2), [2, 1], 'F1-R1 closed, still flagged');

  scheduler.advanceTo(105_000);
  t.same(sim.model.state().deenergizedSections, [], 'repaired and closed by 105 s');

  scheduler.advanceTo(120_000);
  t.equal(await readHolding(meterPort, 1, 0x2006, 2), 'timeout', 'C10101 link cut at 120 s');
  t.not(await readHolding(meterPort, 2, 0x2006, 2), 'timeout', 'C10102 still answers');

  scheduler.advanceTo(150_000);
  t.not(await readHolding(meterPort, 1, 0x2006, 2), 'timeout', 'link back at 150 s');

  scheduler.advanceTo(165_000);
  t.same(sim.model.state().faults, ['F1-S3'], 'the loop brings the fault back at 165 s');
});
