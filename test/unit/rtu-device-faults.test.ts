import t from 'tap';
import { DeviceFaults, FaultRequestError, parseFault, UnknownDeviceError } from '../../simulators/device-faults.js';
import { parseScenario } from '../../simulators/scenario.js';
import { rtuSite } from '../fixtures/rtu-site.js';

const reason = (fn: () => unknown): string => {
  try {
    fn();
    return 'accepted';
  } catch (err) {
    return err instanceof FaultRequestError ? `${err.field ?? '-'}: ${err.message}` : `unexpected ${String(err)}`;
  }
};

t.test('fault requests: defaults, ranges, fields per mode', async (t) => {
  t.same(parseFault({ mode: 'none' }, 'tcp'), { mode: 'none' });
  t.same(parseFault({ mode: 'exception' }, 'rtu-serial'), { mode: 'exception', exceptionCode: 4 });
  t.same(parseFault({ mode: 'exception', exceptionCode: 11 }, 'tcp'), { mode: 'exception', exceptionCode: 11 });
  t.same(parseFault({ mode: 'slow' }, 'rtu-over-tcp'), { mode: 'slow', delayMs: 1000 });
  t.same(parseFault({ mode: 'slow', delayMs: 0 }, 'tcp'), { mode: 'slow', delayMs: 0 });
  t.same(parseFault({ mode: 'badCrc' }, 'rtu-serial'), { mode: 'badCrc' });
  t.same(parseFault({ mode: 'disconnect' }, 'rtu-over-tcp'), { mode: 'disconnect' });
  t.equal(reason(() => parseFault({}, 'tcp')), 'mode: field "mode" must be one of none, noAnswer, exception, badCrc, wrongUnitId, truncated, slow, disconnect, targetOffline, got nothing');
  t.equal(reason(() => parseFault({ mode: 'sleepy' }, 'tcp')), 'mode: field "mode" must be one of none, noAnswer, exception, badCrc, wrongUnitId, truncated, slow, disconnect, targetOffline, got "sleepy"');
  t.equal(reason(() => parseFault({ mode: 'exception', exceptionCode: 12 }, 'tcp')), 'exceptionCode: field "exceptionCode" must be an integer 1..11, got 12');
  t.equal(reason(() => parseFault({ mode: 'exception', exceptionCode: 2.5 }, 'tcp')), 'exceptionCode: field "exceptionCode" must be an integer 1..11, got 2.5');
  t.equal(reason(() => parseFault({ mode: 'slow', delayMs: -1 }, 'tcp')), 'delayMs: field "delayMs" must be a number of ms 0..60000, got -1');
  t.equal(reason(() => parseFault({ mode: 'noAnswer', delayMs: 5 }, 'tcp')), 'delayMs: field "delayMs" is not allowed with mode "noAnswer" (allowed: mode)');
});

t.test('modes a link cannot carry are refused with the reason', async (t) => {
  t.match(reason(() => parseFault({ mode: 'badCrc' }, 'tcp')), /^mode: badCrc applies to Modbus RTU devices only: Modbus TCP frames carry no CRC/);
  t.match(reason(() => parseFault({ mode: 'truncated' }, 'tcp')), /^mode: truncated applies to Modbus RTU devices only/);
  t.match(reason(() => parseFault({ mode: 'disconnect' }, 'rtu-serial')), /^mode: disconnect needs a TCP connection to drop/);
  t.equal(reason(() => parseFault({ mode: 'wrongUnitId' }, 'tcp')), 'accepted', 'a TCP answer can carry another unit id');
});

t.test('the registry: list sorted by id, set, clear', async (t) => {
  const faults = new DeviceFaults([
    { id: 'b', protocol: 'modbus-rtu', link: 'rtu-serial', unitId: 2, endpoint: '/dev/x', bus: 'bus' },
    { id: 'a', protocol: 'modbus-tcp', link: 'tcp', unitId: 1, endpoint: '127.0.0.1:502' },
  ]);
  t.same(faults.list().map((d) => d.id), ['a', 'b']);
  faults.set('b', { mode: 'badCrc' });
  t.same(faults.faultOf('b'), { mode: 'badCrc' });
  t.same(faults.faultOf('unknown'), { mode: 'none' });
  t.throws(() => faults.set('a', { mode: 'badCrc' }), FaultRequestError);
  t.throws(() => faults.set('zz', { mode: 'none' }), UnknownDeviceError);
  const listed = faults.list();
  (listed[1] as { fault: { mode: string } }).fault.mode = 'tampered';
  t.same(faults.faultOf('b'), { mode: 'badCrc' }, 'the list is a copy');
  faults.clearAll();
  t.same(faults.faultOf('b'), { mode: 'none' });
});

t.test('scenario steps set device faults, checked against the site', async (t) => {
  const site = rtuSite({ dir: '/tmp/unused' });
  const scenario = parseScenario(
    [
      'name: dead meter',
      'steps:',
      '  - { at: 5s, deviceFault: rtu-meter-03, mode: noAnswer }',
      '  - { at: 6s, deviceFault: meter-ca11, mode: exception, exceptionCode: 6 }',
      '  - { at: 9s, deviceFault: rtu-meter-03, mode: none }',
    ].join('\n'),
    site,
  );
  t.same(scenario.steps.map((s) => s.action), [
    { kind: 'deviceFault', device: 'rtu-meter-03', fault: { mode: 'noAnswer' } },
    { kind: 'deviceFault', device: 'meter-ca11', fault: { mode: 'exception', exceptionCode: 6 } },
    { kind: 'deviceFault', device: 'rtu-meter-03', fault: { mode: 'none' } },
  ]);
  t.throws(
    () =>
      parseScenario(
        [
          'name: bad',
          'steps:',
          '  - { at: 1s, deviceFault: nope, mode: noAnswer }',
          '  - { at: 2s, deviceFault: meter-ca11, mode: badCrc }',
          '  - { at: 3s, deviceFault: rtu-meter-01, mode: slow, delayMs: -5 }',
          '  - { at: 4s, deviceFault: rtu-meter-01, mode: noAnswer, position: open }',
        ].join('\n'),
        site,
        'bad.yaml',
      ),
    {
      message:
        'bad.yaml: steps[0].deviceFault: unknown Modbus device "nope"; ' +
        'steps[1].mode: badCrc applies to Modbus RTU devices only: Modbus TCP frames carry no CRC (TCP checks the stream); ' +
        'steps[2].delayMs: field "delayMs" must be a number of ms 0..60000, got -5; ' +
        'steps[3].position: not allowed in a deviceFault step (allowed: at, deviceFault, mode, exceptionCode, delayMs)',
    },
  );
});
