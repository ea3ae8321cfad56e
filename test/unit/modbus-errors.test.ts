import t from 'tap';
import { toReadError } from '../../drivers/modbus/errors.js';

/** Shapes as modbus-serial 8.0.25 and node:net produce them (see node_modules/modbus-serial/index.js). */
function withFields(message: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(message), fields);
}

t.test('modbus exceptions name the code and say whether a retry can help', (t) => {
  const illegal = toReadError(withFields('Modbus exception 2: Illegal data address', { modbusCode: 2 }), 'request', 1000);
  t.same(illegal, { code: 'MODBUS_EXCEPTION', message: 'Modbus exception 2 (Illegal Data Address)', retryable: false, exceptionCode: 2 });
  const busy = toReadError(withFields('Modbus exception 6', { modbusCode: 6 }), 'request', 1000);
  t.equal(busy.code, 'MODBUS_EXCEPTION');
  t.equal(busy.retryable, true);
  t.match(toReadError(withFields('x', { modbusCode: 99 }), 'request', 1).message, /99 \(Unknown exception\)/);
  t.end();
});

t.test('timeouts: modbus-serial rejects with a plain object, not an Error', (t) => {
  const timedOut = { name: 'TransactionTimedOutError', message: 'Timed out', errno: 'ETIMEDOUT' };
  t.same(toReadError(timedOut, 'request', 750), { code: 'TIMEOUT', message: 'no response within 750 ms', retryable: true });
  t.end();
});

t.test('connection errors depend on the phase', (t) => {
  const refused = withFields('connect ECONNREFUSED 127.0.0.1:1502', { code: 'ECONNREFUSED' });
  t.equal(toReadError(refused, 'connect', 1).code, 'CONNECTION_REFUSED');
  t.match(toReadError(refused, 'connect', 1).message, /ECONNREFUSED 127\.0\.0\.1:1502/);
  // "Port Not Open" carries errno ECONNREFUSED but means the open connection went away.
  const notOpen = withFields('Port Not Open', { errno: 'ECONNREFUSED' });
  t.equal(toReadError(notOpen, 'request', 1).code, 'CONNECTION_LOST');
  t.equal(toReadError(withFields('read ECONNRESET', { code: 'ECONNRESET' }), 'request', 1).code, 'CONNECTION_LOST');
  t.end();
});

t.test('framing problems are bad responses', (t) => {
  for (const message of ['CRC error', 'Data length error, expected 7 got 5', 'Unexpected data error, expected address 1 got 2']) {
    t.same(toReadError(new Error(message), 'request', 1), { code: 'BAD_RESPONSE', message, retryable: true });
  }
  t.equal(toReadError('weird', 'request', 1).message, 'weird');
  t.end();
});
