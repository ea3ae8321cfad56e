#!/usr/bin/python3
"""An independent Modbus TCP peer for test/integration/pymodbus-peer.test.ts: a pymodbus 3.0 server
(Debian package python3-pymodbus) holding a CHINT DTSU666 register map with known values written out
here by hand, plus a few registers that check word orders against a second implementation.

Run with /usr/bin/python3 (the Debian interpreter that has pymodbus). It listens on 127.0.0.1 on a free
port, prints one JSON line {"port": N} once it is listening, and exits when its stdin closes, so it
never outlives the test that started it.

Map (unit id 1, holding registers, FC 3; addresses are 0-based wire addresses: zero_mode=True, otherwise
pymodbus 3.0 adds 1 to every request address). DTSU666 section 1 of meter-maps.md: float32 ABCD, raw
values in 0.1 V, mA, 0.1 W, 0.01 Hz and kWh. The measurement block 0x2000..0x2045 and the energy block
0x401E..0x4029 are complete (as on the meter), unused registers reading 0.

    0x2006 Ua 2301.0 (230.1 V)   0x2008 Ub 2298.0   0x200A Uc 2305.0
    0x200C Ia 5120.0 (5.12 A)    0x200E Ib 4870.0   0x2010 Ic 5005.0
    0x2012 P 34567.0 (3456.7 W)  0x2044 f 4998.0 (49.98 Hz)
    0x401E import 12345.5 kWh    0x4028 export 89.25 kWh

Word-order checks (outside the meter map), with a hole so that a bridged block read is refused:
    0x3000 int32 CDAB -123456 = 0xFFFE1DC0 -> registers [0x1DC0, 0xFFFE]
    0x3002, 0x3003 do not exist (exception 2)
    0x3004 uint64 ABCD 123456789012 = 0x0000001CBE991A14 -> [0x0000, 0x001C, 0xBE99, 0x1A14]
"""
import asyncio
import json
import os
import struct
import sys
import types

def stand_in_for_serial_modules():
    """pymodbus 3.0's server module imports pyserial and pyserial-asyncio at the top for its serial server,
    which is not used here; Debian's python3-pymodbus only recommends them (python3-serial-asyncio). Stand-in
    modules let the TCP server load without them; the real ones are used when installed."""
    try:
        import serial  # noqa: F401
    except ImportError:
        stub = types.ModuleType("serial")
        stub.serialutil = types.SimpleNamespace(SerialException=Exception)
        sys.modules["serial"] = stub
    try:
        import serial_asyncio  # noqa: F401
    except ImportError:
        stub = types.ModuleType("serial_asyncio")

        def create_serial_connection(*args, **kwargs):
            raise RuntimeError("pyserial-asyncio is not installed")

        stub.create_serial_connection = create_serial_connection
        sys.modules["serial_asyncio"] = stub


stand_in_for_serial_modules()

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.server.async_io import ModbusTcpServer


def float32_abcd(value):
    """IEEE-754 single precision, big-endian, high word first: two 16-bit registers."""
    return list(struct.unpack(">HH", struct.pack(">f", value)))


def registers():
    values = {}
    for address in range(0x2000, 0x2046):
        values[address] = 0
    for address in range(0x401E, 0x402A):
        values[address] = 0
    dtsu666 = {
        0x2006: 2301.0,
        0x2008: 2298.0,
        0x200A: 2305.0,
        0x200C: 5120.0,
        0x200E: 4870.0,
        0x2010: 5005.0,
        0x2012: 34567.0,
        0x2044: 4998.0,
        0x401E: 12345.5,
        0x4028: 89.25,
    }
    for address, value in dtsu666.items():
        high, low = float32_abcd(value)
        values[address] = high
        values[address + 1] = low
    # Written out by hand, not computed: the point is to check our decoder against fixed patterns.
    assert float32_abcd(2301.0) == [0x450F, 0xD000]
    values[0x3000] = 0x1DC0
    values[0x3001] = 0xFFFE
    values[0x3004] = 0x0000
    values[0x3005] = 0x001C
    values[0x3006] = 0xBE99
    values[0x3007] = 0x1A14
    return values


async def main():
    block = ModbusSparseDataBlock(registers())
    unit = ModbusSlaveContext(hr=block, zero_mode=True)
    context = ModbusServerContext(slaves={1: unit}, single=False)
    server = ModbusTcpServer(context, address=("127.0.0.1", 0))
    serving = asyncio.ensure_future(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    # Until the test closes our stdin (or dies, which closes it too).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    serving.cancel()
    os._exit(0)


if __name__ == "__main__":
    asyncio.run(main())
