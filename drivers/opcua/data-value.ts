/**
 * One OPC UA DataValue -> one `Reading`: number from the Variant, quality from the StatusCode severity,
 * source timestamp from the DataValue. Pure, so every rule is unit tested without a server.
 *
 * Severity is the top two bits of the StatusCode (OPC 10000-4, 7.39.1): 00 Good, 01 Uncertain, 10 Bad
 * (11 reserved, read as Bad). An Uncertain value keeps its number (the engine may use it, flagged); a Bad one
 * never does: value null and a BAD_STATUS error naming the status.
 */
import { type DataValue, DataType, type Variant, VariantArrayType } from 'node-opcua';
import type { OpcUaPointConfig } from '../device-config.js';
import type { Quality, ReadError, Reading } from '../reading.js';
import { badStatusError, decodeError } from './errors.js';

export type NumberOrError = { value: number } | { error: string };

/** The number a scalar Variant carries: integers and floats as they are, Boolean as 1/0. */
export function variantToNumber(variant: Variant | null | undefined): NumberOrError {
  if (variant === null || variant === undefined) return { error: 'no value (null Variant)' };
  const type = variant.dataType;
  if (variant.arrayType !== VariantArrayType.Scalar) return { error: `array values are not supported (data type ${DataType[type]})` };
  const raw: unknown = variant.value;
  switch (type) {
    case DataType.Boolean:
      return { value: raw === true ? 1 : 0 };
    case DataType.SByte:
    case DataType.Byte:
    case DataType.Int16:
    case DataType.UInt16:
    case DataType.Int32:
    case DataType.UInt32:
    case DataType.Float:
    case DataType.Double:
      return typeof raw === 'number' && Number.isFinite(raw)
        ? { value: raw }
        : { error: `${DataType[type]} value ${String(raw)} is not a finite number` };
    case DataType.Int64:
    case DataType.UInt64:
      return int64ToNumber(raw, type === DataType.Int64);
    default:
      return { error: `data type ${DataType[type] ?? String(type)} is not numeric` };
  }
}

/**
 * node-opcua carries 64-bit integers as `[high, low]` pairs of unsigned 32-bit words (node-opcua-basic-types
 * Int64/UInt64); a bigint is accepted too. Beyond 2^53 precision is lost, as for any JSON number.
 */
function int64ToNumber(raw: unknown, signed: boolean): NumberOrError {
  if (typeof raw === 'bigint') return { value: Number(raw) };
  if (typeof raw === 'number') return { value: raw };
  if (Array.isArray(raw) && raw.length === 2 && typeof raw[0] === 'number' && typeof raw[1] === 'number') {
    const high = signed ? raw[0] | 0 : raw[0] >>> 0;
    return { value: high * 0x1_0000_0000 + (raw[1] >>> 0) };
  }
  return { error: `64-bit integer in an unexpected form: ${JSON.stringify(raw)}` };
}

/** Quality from a StatusCode value by its severity bits. */
export function qualityOf(statusCodeValue: number): Quality {
  const severity = statusCodeValue >>> 30;
  if (severity === 0) return 'good';
  if (severity === 1) return 'uncertain';
  return 'bad';
}

export function toReading(deviceId: string, point: OpcUaPointConfig, dataValue: DataValue, gatewayTs: number): Reading {
  const status = dataValue.statusCode;
  const quality = qualityOf(status.value);
  const sourceTs = dataValue.sourceTimestamp?.getTime() ?? dataValue.serverTimestamp?.getTime() ?? gatewayTs;
  if (quality === 'bad') {
    return badReading(deviceId, point.name, badStatusError(status.name), gatewayTs, sourceTs);
  }
  const decoded = variantToNumber(dataValue.value);
  if ('error' in decoded) {
    return badReading(deviceId, point.name, decodeError(`${point.name}: ${decoded.error}`), gatewayTs, sourceTs);
  }
  return {
    deviceId,
    point: point.name,
    value: decoded.value * point.scale + point.offset,
    quality,
    sourceTs,
    gatewayTs,
  };
}

export function badReading(deviceId: string, point: string, error: ReadError, gatewayTs: number, sourceTs = gatewayTs): Reading {
  return { deviceId, point, value: null, quality: 'bad', sourceTs, gatewayTs, error };
}
