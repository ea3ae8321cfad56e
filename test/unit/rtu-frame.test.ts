import t from 'tap';
import {
  encodeRequest,
  expectedResponseLength,
  parseResponse,
  responseLength,
  type RtuRequest,
} from '../../drivers/modbus/rtu/frame.js';

const bytes = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1 ');

t.test('requests, byte for byte', async (t) => {
  t.equal(hex(encodeRequest({ unitId: 1, fn: 3, address: 0, quantity: 10 })), '01 03 00 00 00 0A C5 CD', 'FC 3');
  t.equal(hex(encodeRequest({ unitId: 17, fn: 3, address: 0x6b, quantity: 3 })), '11 03 00 6B 00 03 76 87', 'FC 3, unit 17');
  t.equal(hex(encodeRequest({ unitId: 1, fn: 4, address: 0, quantity: 1 })), '01 04 00 00 00 01 31 CA', 'FC 4');
  t.equal(hex(encodeRequest({ unitId: 1, fn: 1, address: 0, quantity: 10 })), '01 01 00 00 00 0A BC 0D', 'FC 1');
  t.equal(hex(encodeRequest({ unitId: 1, fn: 2, address: 0, quantity: 3 })), '01 02 00 00 00 03 38 0B', 'FC 2');
  t.equal(hex(encodeRequest({ unitId: 1, fn: 6, address: 1, value: 3 })), '01 06 00 01 00 03 98 0B', 'FC 6');
  t.equal(
    hex(encodeRequest({ unitId: 1, fn: 16, address: 1, values: [0x000a, 0x0102] })),
    '01 10 00 01 00 02 04 00 0A 01 02 92 30',
    'FC 16',
  );
  t.equal(hex(encodeRequest({ unitId: 5, fn: 3, address: 0x2006, quantity: 14 })), '05 03 20 06 00 0E 2E 4B', 'DTSU666 voltage block');
});

t.test('requests that cannot go on the wire', async (t) => {
  t.throws(() => encodeRequest({ unitId: 256, fn: 3, address: 0, quantity: 1 }), RangeError, 'unit id over 255');
  t.throws(() => encodeRequest({ unitId: 1, fn: 3, address: 0, quantity: 126 }), RangeError, '126 registers');
  t.throws(() => encodeRequest({ unitId: 1, fn: 3, address: 0, quantity: 0 }), RangeError, 'nothing to read');
  t.throws(() => encodeRequest({ unitId: 1, fn: 1, address: 0, quantity: 2001 }), RangeError, '2001 coils');
  t.throws(() => encodeRequest({ unitId: 1, fn: 3, address: 0xfff0, quantity: 17 }), RangeError, 'past 65535');
  t.throws(() => encodeRequest({ unitId: 1, fn: 6, address: 0, value: 0x10000 }), RangeError, 'value over 16 bits');
  t.throws(() => encodeRequest({ unitId: 1, fn: 16, address: 0, values: new Array<number>(124).fill(0) }), RangeError, '124 registers written');
  t.throws(() => encodeRequest({ unitId: 0, fn: 3, address: 0, quantity: 1 }), RangeError, 'a broadcast read');
  t.doesNotThrow(() => encodeRequest({ unitId: 0, fn: 6, address: 0, value: 1 }), 'a broadcast write');
});

t.test('response length from the header', async (t) => {
  t.equal(responseLength(bytes('01')), undefined, 'one byte: unknown yet');
  t.equal(responseLength(bytes('01 03')), undefined, 'read: needs the byte count');
  t.equal(responseLength(bytes('01 03 14')), 25, '20 data bytes');
  t.equal(responseLength(bytes('01 01 02')), 7);
  t.equal(responseLength(bytes('01 83')), 5, 'exception');
  t.equal(responseLength(bytes('01 06')), 8);
  t.equal(responseLength(bytes('01 10')), 8);
  t.equal(responseLength(bytes('01 2B')), 'unknown', 'FC 43 has no fixed layout');
  const read10: RtuRequest = { unitId: 1, fn: 3, address: 0, quantity: 10 };
  t.equal(expectedResponseLength(read10), 25);
  t.equal(expectedResponseLength({ unitId: 1, fn: 1, address: 0, quantity: 10 }), 7);
  t.equal(expectedResponseLength({ unitId: 1, fn: 6, address: 0, value: 1 }), 8);
});

t.test('good responses decode', async (t) => {
  const read3: RtuRequest = { unitId: 17, fn: 3, address: 0x6b, quantity: 3 };
  t.same(parseResponse(read3, bytes('11 03 06 02 2B 00 00 00 64 C8 BA')), {
    ok: true,
    response: { kind: 'registers', registers: Uint16Array.from([0x022b, 0, 0x64]) },
  });
  // 220.0 V as float32 ABCD is 0x435C0000.
  t.same(parseResponse({ unitId: 1, fn: 3, address: 0, quantity: 2 }, bytes('01 03 04 43 5C 00 00 2F A5')), {
    ok: true,
    response: { kind: 'registers', registers: Uint16Array.from([0x435c, 0]) },
  });
  // Coils 0..9 = CD 01: bit i of byte i/8, least significant first.
  t.same(parseResponse({ unitId: 1, fn: 1, address: 0, quantity: 10 }, bytes('01 01 02 CD 01 2C AC')), {
    ok: true,
    response: { kind: 'bits', bits: Uint8Array.from([1, 0, 1, 1, 0, 0, 1, 1, 1, 0]) },
  });
  t.same(parseResponse({ unitId: 1, fn: 2, address: 0, quantity: 3 }, bytes('01 02 01 05 61 8B')), {
    ok: true,
    response: { kind: 'bits', bits: Uint8Array.from([1, 0, 1]) },
  });
  t.same(parseResponse({ unitId: 1, fn: 6, address: 1, value: 3 }, bytes('01 06 00 01 00 03 98 0B')), { ok: true, response: { kind: 'written' } });
  t.same(parseResponse({ unitId: 1, fn: 16, address: 1, values: [10, 258] }, bytes('01 10 00 01 00 02 10 08')), {
    ok: true,
    response: { kind: 'written' },
  });
});

t.test('every failure gets its stable code', async (t) => {
  const read: RtuRequest = { unitId: 1, fn: 3, address: 0, quantity: 2 };
  const codeOf = (req: RtuRequest, frame: string): string => {
    const parsed = parseResponse(req, bytes(frame));
    return parsed.ok ? 'ok' : parsed.error.code;
  };
  t.equal(codeOf(read, '01 03 04 43 5C 00 00 2F A4'), 'CRC_ERROR', 'last CRC byte off by one bit');
  t.equal(codeOf(read, '01 03 04 43 5D 00 00 2F A5'), 'CRC_ERROR', 'a data bit flipped');
  t.equal(codeOf(read, '01 03 04 43 5C 00'), 'TRUNCATED_FRAME', 'cut after 6 of 9 bytes');
  t.equal(codeOf(read, '01 03'), 'TRUNCATED_FRAME', 'two bytes');
  t.equal(codeOf({ unitId: 2, fn: 3, address: 0, quantity: 2 }, '01 03 04 43 5C 00 00 2F A5'), 'WRONG_UNIT_ID', 'answer from unit 1');
  const exception = parseResponse(read, bytes('01 83 02 C0 F1'));
  t.same(exception.ok ? null : exception.error, {
    code: 'MODBUS_EXCEPTION',
    message: 'Modbus exception 2 (Illegal Data Address)',
    retryable: false,
    exceptionCode: 2,
  });
  t.equal(codeOf({ unitId: 1, fn: 4, address: 0, quantity: 2 }, '01 03 04 43 5C 00 00 2F A5'), 'BAD_RESPONSE', 'FC 3 answer to FC 4');
  t.equal(codeOf({ unitId: 1, fn: 3, address: 0, quantity: 1 }, '01 03 04 43 5C 00 00 2F A5'), 'BAD_RESPONSE', '2 registers for 1 asked');
  t.equal(codeOf({ unitId: 1, fn: 6, address: 1, value: 4 }, '01 06 00 01 00 03 98 0B'), 'BAD_RESPONSE', 'echo of another value');
  t.equal(codeOf({ unitId: 1, fn: 16, address: 1, values: [1] }, '01 10 00 01 00 02 10 08'), 'BAD_RESPONSE', 'FC 16 count mismatch');
  // CRC is checked before the address: a corrupted unit id byte is a CRC error, not another device.
  t.equal(codeOf({ unitId: 2, fn: 3, address: 0, quantity: 2 }, '01 03 04 43 5C 00 00 2F A4'), 'CRC_ERROR');
  const crc = parseResponse(read, bytes('01 03 04 43 5C 00 00 2F A4'));
  t.match(crc.ok ? '' : crc.error.message, /carries 0xa42f, computed 0xa52f/, 'the message gives both CRCs');
  const cut = parseResponse(read, bytes('01 03 04 43 5C 00'));
  t.match(cut.ok ? '' : cut.error.message, /after 6 of 9 bytes/);
});
