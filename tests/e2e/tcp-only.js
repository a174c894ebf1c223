// A network where UDP does not get through at all, as on many court, school,
// hospital and hotel networks: a network namespace linked to nothing outside
// (its loopback, and a veth pair whose two ends are both inside, so that the
// browser sees a network adapter), and a TCP bridge for chosen ports. Inside it, a bridge listens
// on 127.0.0.1:PORT for each port and carries each connection over a Unix
// socket (the file system is shared) to the same port on the host's loopback.
// So the browser inside reaches the server's HTTP and WebSocket and the TURN
// server's TCP listener at the usual addresses, and nothing else: no UDP
// packet can leave the namespace.

import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The bridge's side inside the namespace (run there with `node -e`). */
const INSIDE = `
const net = require('net');
const [dir, ...ports] = process.argv.slice(1);
let ready = 0;
for (const port of ports) {
  net.createServer((c) => {
    const u = net.connect(dir + '/' + port + '.sock');
    c.pipe(u).pipe(c);
    const end = () => { c.destroy(); u.destroy(); };
    c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
  }).listen(Number(port), '127.0.0.1', () => { if (++ready === ports.length) console.log('ready'); });
}
`;

let made = 0;

/**
 * Creates the namespace and its bridge for `ports`; returns
 * `{chromium, close}`: a Chromium executable that runs inside it, and the
 * clean-up.
 */
export async function tcpOnlyNetwork(ports, chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium') {
  made += 1;
  const name = `ck-tcponly-${process.pid}-${made}`;
  const dir = mkdtempSync(join(tmpdir(), 'ck-tcponly-'));
  execFileSync('ip', ['netns', 'add', name]);
  // Browsers gather candidates only on a network adapter other than loopback:
  // a veth pair with both ends inside gives them one, linked to nothing outside.
  execFileSync('ip', ['link', 'add', 'ckin0', 'netns', name, 'type', 'veth', 'peer', 'name', 'ckin1', 'netns', name]);
  execFileSync('ip', ['netns', 'exec', name, 'sh', '-c',
    'ip addr add 10.99.0.1/30 dev ckin0 && ip addr add 10.99.0.2/30 dev ckin1 '
    + '&& ip link set ckin0 up && ip link set ckin1 up && ip link set lo up']);

  // The host's side: each Unix socket leads to the host's loopback port.
  const servers = ports.map((port) => {
    const server = net.createServer((u) => {
      const c = net.connect(port, '127.0.0.1');
      u.pipe(c).pipe(u);
      const end = () => { c.destroy(); u.destroy(); };
      c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
    });
    server.listen(join(dir, `${port}.sock`));
    return server;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => (s.listening ? resolve() : s.once('listening', resolve)))));

  const inside = spawn('ip', ['netns', 'exec', name, process.execPath, '-e', INSIDE, dir, ...ports.map(String)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    inside.stdout.on('data', (data) => { if (String(data).includes('ready')) resolve(); });
    inside.once('exit', (code) => reject(new Error(`the bridge inside the namespace stopped (${code})`)));
  });

  const chromium = join(dir, 'chromium-tcp-only');
  writeFileSync(chromium, `#!/bin/sh\nexec ip netns exec ${name} ${chromiumPath} "$@"\n`);
  chmodSync(chromium, 0o755);

  return {
    chromium,
    close() {
      inside.kill();
      for (const s of servers) s.close();
      try { execFileSync('ip', ['netns', 'delete', name]); } catch { /* already gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
