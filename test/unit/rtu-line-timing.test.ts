import t from 'tap';
import {
  bitsPerCharacter,
  characterTimeMs,
  interCharacterTimeoutMs,
  interFrameGapMs,
  transactionTimeMs,
  transmissionTimeMs,
  type LineSettings,
} from '../../drivers/modbus/rtu/line-timing.js';

const line = (baudRate: number, parity: LineSettings['parity'] = 'none', stopBits: 1 | 2 = 1, extra: Partial<LineSettings> = {}): LineSettings => ({
  baudRate,
  parity,
  dataBits: 8,
  stopBits,
  ...extra,
});

t.test('bits per character: start + data + parity + stop', async (t) => {
  t.equal(bitsPerCharacter(line(9600)), 10, '8N1');
  t.equal(bitsPerCharacter(line(9600, 'even')), 11, '8E1, the RTU default of the spec');
  t.equal(bitsPerCharacter(line(9600, 'none', 2)), 11, '8N2');
  t.equal(bitsPerCharacter(line(9600, 'odd', 2)), 12, '8O2');
  t.equal(bitsPerCharacter({ baudRate: 9600, parity: 'even', dataBits: 7, stopBits: 1 }), 10, '7E1');
});

t.test('character time and frame time at 9600 baud', async (t) => {
  // 11 bits / 9600 bit/s = 1.1458 ms; 10 bits = 1.0417 ms.
  t.equal(characterTimeMs(line(9600, 'even')).toFixed(4), '1.1458');
  t.equal(characterTimeMs(line(9600)).toFixed(4), '1.0417');
  // A read of 10 registers: 8-byte request + 25-byte answer = 33 characters of 8N1 = 34.375 ms.
  t.equal(transmissionTimeMs(33, line(9600)), 34.375);
  t.throws(() => characterTimeMs(line(0)), RangeError);
});

t.test('t3.5 and t1.5: counted in characters up to 19200 baud, fixed above', async (t) => {
  t.equal(interFrameGapMs(line(9600, 'even')).toFixed(3), '4.010', '3.5 x 11 bits / 9600');
  t.equal(interFrameGapMs(line(9600)).toFixed(3), '3.646', '3.5 x 10 bits / 9600');
  t.equal(interFrameGapMs(line(19200, 'even')).toFixed(3), '2.005', '19200 still counts characters');
  t.equal(interFrameGapMs(line(38400, 'even')), 1.75, 'above 19200: 1.75 ms (2.5.1.1)');
  t.equal(interFrameGapMs(line(115200)), 1.75);
  t.equal(interFrameGapMs(line(9600, 'none', 1, { interFrameGapMs: 10 })), 10, 'configured gap wins');
  t.equal(interCharacterTimeoutMs(line(9600, 'even')).toFixed(4), '1.7188', '1.5 x 11 bits / 9600');
  t.equal(interCharacterTimeoutMs(line(57600)), 0.75);
});

t.test('transaction time: both frames, a gap after each, the turnaround', async (t) => {
  const l = line(9600);
  // (8 + 25) x 1.0417 + 2 x 3.646 + 2 = 34.375 + 7.292 + 2
  t.equal(transactionTimeMs(8, 25, l, 2).toFixed(3), '43.667');
  t.equal(transactionTimeMs(8, 25, l), transactionTimeMs(8, 25, l, 0));
});
