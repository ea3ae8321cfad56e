/**
 * An in-process MQTT broker (Aedes) for the zero-setup demo. Production sites use a real broker
 * (Mosquitto, EMQX, HiveMQ); this one keeps nothing on disk.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startEmbeddedBroker(host: string, port: number): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer((socket) => broker.handle(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new Error(`MQTT port ${host}:${port} is already in use; choose another with --mqtt-port`) : err),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const boundPort = address !== null && typeof address === 'object' ? address.port : port;
  return {
    url: `mqtt://${host}:${boundPort}`,
    port: boundPort,
    stop: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
