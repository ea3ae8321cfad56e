/**
 * OPC UA DataValue -> Reading: every numeric built-in type, Boolean as 1/0, 64-bit integers from node-opcua's
 * [high, low] words, quality from the StatusCode severity bits, scale and offset, timestamps.
 */
import t from 'tap';
import { DataType, DataValue, StatusCode, StatusCodes, Variant, VariantArrayType } from 'node-opcua';
import type { OpcUaPointConfig } from '../../gateway/config/site-config.js';
import { qualityOf, toReading, variantToNumber } from '../../drivers/opcua/data-value.js';

const v = (dataType: DataType, value: unknown): Variant => new Variant({ dataType, arrayType: VariantArrayType.Scalar, value });

t.test('numbers from scalar Variants', async (t) => {
  t.same(variantToNumber(v(DataType.Double, 1.5)), { value: 1.5 });
  t.same(variantToNumber(v(DataType.Float, 0.25)), { value: 0.25 });
  t.same(variantToNumber(v(DataType.SByte, -7)), { value: -7 });
  t.same(variantToNumber(v(DataType.Byte, 200)), { value: 200 });
  t.same(variantToNumber(v(DataType.Int16, -32768)), { value: -32768 });
  t.same(variantToNumber(v(DataType.UInt16, 2)), { value: 2 });
  t.same(variantToNumber(v(DataType.Int32, -100000)), { value: -100000 });
  t.same(variantToNumber(v(DataType.UInt32, 4_000_000_000)), { value: 4_000_000_000 });
  t.same(variantToNumber(v(DataType.Boolean, true)), { value: 1 });
  t.same(variantToNumber(v(DataType.Boolean, false)), { value: 0 });
});

t.test('64-bit integers', async (t) => {
  // [high, low]: -2 is 0xFFFFFFFF_FFFFFFFE; 2^32 is [1, 0]; 2^40 + 5 is [256, 5].
  t.same(variantToNumber(v(DataType.Int64, [0xffffffff, 0xfffffffe])), { value: -2 });
  t.same(variantToNumber(v(DataType.Int64, [256, 5])), { value: 1_099_511_627_781 });
  t.same(variantToNumber(v(DataType.UInt64, [1, 0])), { value: 4_294_967_296 });
  t.same(variantToNumber(v(DataType.UInt64, [0xffffffff, 0])), { value: 0xffffffff * 4_294_967_296 });
});

t.test('what is not a number', async (t) => {
  t.match(variantToNumber(v(DataType.String, '42')), { error: /data type String is not numeric/ });
  t.match(variantToNumber(new Variant({ dataType: DataType.Null })), { error: /Null is not numeric/ });
  t.match(variantToNumber(new Variant({ dataType: DataType.Double, arrayType: VariantArrayType.Array, value: [1, 2] })), {
    error: /array values are not supported/,
  });
  t.match(variantToNumber(v(DataType.Double, Number.NaN)), { error: /not a finite number/ });
  t.match(variantToNumber(null), { error: /no value/ });
});

t.test('quality from the severity bits (OPC 10000-4 7.39)', async (t) => {
  t.equal(qualityOf(0x00000000), 'good');
  t.equal(qualityOf(0x002d0000), 'good', 'GoodSubscriptionTransferred: still Good');
  t.equal(qualityOf(0x40900000), 'uncertain', 'UncertainLastUsableValue');
  t.equal(qualityOf(0x80340000), 'bad', 'BadNodeIdUnknown');
  t.equal(qualityOf(0xc0000000), 'bad', 'reserved severity read as bad');
});

const point: OpcUaPointConfig = { name: 'uab', nodeId: 'ns=1;s=X.Uab', samplingIntervalMs: 100, queueSize: 1, scale: 0.001, offset: 1 };

t.test('a Good value: scale, offset and both timestamps', async (t) => {
  const dv = new DataValue({ value: v(DataType.Double, 10_000), statusCode: StatusCodes.Good, sourceTimestamp: new Date(1_000), serverTimestamp: new Date(2_000) });
  t.same(toReading('ftu', point, dv, 5_000), { deviceId: 'ftu', point: 'uab', value: 11, quality: 'good', sourceTs: 1_000, gatewayTs: 5_000 });
});

t.test('an Uncertain value keeps its number', async (t) => {
  const dv = new DataValue({ value: v(DataType.Double, 9_000), statusCode: StatusCodes.UncertainLastUsableValue, sourceTimestamp: new Date(1_000) });
  const r = toReading('ftu', point, dv, 5_000);
  t.equal(r.quality, 'uncertain');
  t.equal(r.value, 10);
  t.equal(r.error, undefined);
});

t.test('a Bad value is null with BAD_STATUS naming the status, never a number', async (t) => {
  const dv = new DataValue({ value: v(DataType.Double, 123), statusCode: StatusCodes.BadCommunicationError, serverTimestamp: new Date(2_000) });
  const r = toReading('ftu', point, dv, 5_000);
  t.equal(r.quality, 'bad');
  t.equal(r.value, null);
  t.same(r.error, { code: 'BAD_STATUS', message: 'BadCommunicationError', retryable: true });
  t.equal(r.sourceTs, 2_000, 'no source timestamp: the server timestamp');
  const unknown = toReading('ftu', point, new DataValue({ statusCode: StatusCodes.BadNodeIdUnknown }), 5_000);
  t.same(unknown.error, { code: 'BAD_STATUS', message: 'BadNodeIdUnknown', retryable: false });
  t.equal(unknown.sourceTs, 5_000, 'no timestamp at all: the gateway time');
});

t.test('a Good status with a value that is no number is DECODE_ERROR', async (t) => {
  const dv = new DataValue({ value: v(DataType.String, 'closed'), statusCode: StatusCode.makeStatusCode(StatusCodes.Good, 0) });
  const r = toReading('ftu', point, dv, 5_000);
  t.equal(r.quality, 'bad');
  t.equal(r.error?.code, 'DECODE_ERROR');
  t.match(r.error?.message, /uab: data type String is not numeric/);
});
