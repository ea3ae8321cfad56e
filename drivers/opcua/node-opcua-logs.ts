/**
 * node-opcua writes its warnings and errors straight to the console (node-opcua-debug), process-wide.
 * A gateway logs structured records to stderr instead, so the composition root routes node-opcua's output
 * into its logger once, at debug level for warnings (node-opcua warns about routine things: a reconnection
 * attempt, operational limits a server does not publish) and warn for errors. The driver itself reports
 * what matters (readings and its own log lines), so nothing is lost by lowering node-opcua's levels.
 *
 * Process-wide by nature (node-opcua keeps one set of loggers), hence a function the caller decides to call.
 */
import { format } from 'node:util';
import { setErrorLogger, setWarningLogger } from 'node-opcua';
import type { OpcUaDriverLogger } from './opcua-driver.js';

export function routeNodeOpcuaLogs(logger: OpcUaDriverLogger): void {
  setWarningLogger((...args: unknown[]) => logger.debug(oneLine(args), { source: 'node-opcua' }));
  setErrorLogger((...args: unknown[]) => logger.warn(oneLine(args), { source: 'node-opcua' }));
}

function oneLine(args: unknown[]): string {
  return format(...args).replace(/\s+/g, ' ').trim();
}
