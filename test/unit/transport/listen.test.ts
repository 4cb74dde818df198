// Listening is exclusive on both transports: a port that another process or another hub holds is
// refused with node:net's own error (code EADDRINUSE, the port, syscall 'listen'), never shared.
// uSockets sets SO_REUSEPORT unless told otherwise, which let a second uWS hub bind the port and
// the kernel split clients between two unrelated hubs.

import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport, type Transport } from '../../../src/transport/index.js';
import { startTestHub, type TestHub } from '../../helpers/hub-server.js';
import { baseOptions, Harness, KINDS, silent, start, until } from '../../helpers/transport-harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function netServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { server, port: address.port };
}

function transportOn(kind: (typeof KINDS)[number], port: number, host = '127.0.0.1'): { transport: Transport; harness: Harness } {
  const harness = new Harness();
  const transport = createTransport(kind, { ...baseOptions(), host, port, hooks: harness.hooks }, silent);
  cleanups.push(() => transport.close(1001, 'test over'));
  return { transport, harness };
}

const inUse = (port: number) => ({ code: 'EADDRINUSE', syscall: 'listen', port });

describe.each(KINDS)('%s transport', (kind) => {
  it('refuses a port a plain net server holds with EADDRINUSE', async () => {
    const { port } = await netServer();
    await expect(transportOn(kind, port).transport.listen()).rejects.toMatchObject(inUse(port));
  });

  it.each(KINDS)('refuses a port a %s transport holds, and the holder keeps every client', async (holderKind) => {
    const holder = await start(holderKind);
    await expect(transportOn(kind, holder.port).transport.listen()).rejects.toMatchObject(inUse(holder.port));
    // Had the second bound the port too, the kernel would hand it some of these.
    for (let i = 0; i < 8; i++) await holder.connect();
    await until(() => holder.harness.sides.length === 8);
    expect(holder.transport.connections).toBe(8);
  });

  it.each(KINDS)('a hub refuses to start on a port a %s hub holds', async (holderKind) => {
    const holder: TestHub = await startTestHub(holderKind);
    cleanups.push(() => holder.close());
    const second = startTestHub(kind, { server: { port: holder.port } });
    await expect(second).rejects.toMatchObject(inUse(holder.port));
    await expect(second).rejects.toThrow(`EADDRINUSE`);
  });

  it('binds its port again at once after a close that left sockets in TIME_WAIT (a restart)', async () => {
    // A fixed port, as in production: on port 0 uSockets sets no SO_REUSEADDR, and its TIME_WAIT
    // sockets then block the port for a minute.
    const { server, port } = await netServer();
    await new Promise((resolve) => server.close(resolve));
    const first = await start(kind, { port });
    // The server closes these first, so their TIME_WAIT sockets sit on the listening port.
    for (let i = 0; i < 3; i++) await first.connect();
    await first.transport.close(1001, 'restart');
    const { transport } = transportOn(kind, port);
    expect(await transport.listen()).toBe(port);
  });

  it('refuses a host that is not a local address with EADDRNOTAVAIL', async () => {
    // TEST-NET-1 (RFC 5737): never assigned to this machine.
    const { transport } = transportOn(kind, 0, '192.0.2.1');
    await expect(transport.listen()).rejects.toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'listen' });
  });
});
