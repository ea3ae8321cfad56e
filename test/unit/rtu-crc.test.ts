import t from 'tap';
import { carriedCrc, crc16, hasValidCrc, withCrc } from '../../drivers/modbus/rtu/crc.js';

const bytes = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// Frames from public references (simplymodbus.ca, the Modbus over Serial Line examples) and vendor manuals.
const KNOWN: ReadonlyArray<readonly [string, string]> = [
  ['read 10 holding registers from 0 at unit 1', '01 03 00 00 00 0A C5 CD'],
  ['read holding 108..110 at unit 17 (simplymodbus)', '11 03 00 6B 00 03 76 87'],
  ['write register 1 = 3 at unit 1', '01 06 00 01 00 03 98 0B'],
  ['exception 2 to FC 3 from unit 1', '01 83 02 C0 F1'],
  ['read 1 input register from 0 at unit 1', '01 04 00 00 00 01 31 CA'],
  ['read 10 coils from 0 at unit 1', '01 01 00 00 00 0A BC 0D'],
];

t.test('CRC-16/MODBUS of known frames, low byte first', async (t) => {
  for (const [what, frame] of KNOWN) {
    const b = bytes(frame);
    t.ok(hasValidCrc(b), what);
    const crc = crc16(b, 0, b.length - 2);
    t.equal(crc & 0xff, b[b.length - 2], `${what}: low byte first`);
    t.equal(crc >>> 8, b[b.length - 1], `${what}: high byte last`);
    t.same(withCrc(b.subarray(0, b.length - 2)), b, `${what}: withCrc appends it`);
  }
});

t.test('check value and edge cases', async (t) => {
  // The CRC catalogue's check value for CRC-16/MODBUS: the ASCII bytes "123456789" give 0x4B37.
  t.equal(crc16(Buffer.from('123456789', 'ascii')), 0x4b37);
  t.equal(crc16(Buffer.alloc(0)), 0xffff, 'initial value, no final xor');
  t.equal(crc16(bytes('ff 01 03 00 00 00 0a ff'), 1, 7), 0xcdc5, 'a range of a larger buffer');
  t.equal(carriedCrc(bytes('01 83 02 C0 F1')), 0xf1c0);
  t.equal(carriedCrc(bytes('01 83')), undefined);
  t.notOk(hasValidCrc(bytes('01 03 00 00 00 0A C5 CC')), 'one bit off');
  t.notOk(hasValidCrc(bytes('01 03 00 00 00 0A CD C5')), 'bytes swapped (high byte first is wrong)');
  t.notOk(hasValidCrc(bytes('01 02')), 'too short to carry a CRC');
});
