import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';

/*
 * A network lab for tests and benchmarks that run as root: two network namespaces this
 * lab creates, "daemon" (where a daemon, its bridge, TAPs, nftables rules and QEMU live)
 * and "internet" (stand-in servers on TEST-NET-2 addresses), joined by a veth pair.
 * Nothing is sent on, or changed in, the host's own network namespace.
 */

/** The daemon namespace's end of the veth. */
export const LAB_UPLINK = '198.51.100.1';
/** The internet namespace's addresses, each answering `internet-10` / `internet-20` on port 80. */
export const LAB_SERVER = '198.51.100.10';
export const LAB_OTHER_SERVER = '198.51.100.20';

/**
 * What a lab server answers on address:port. `body`: that text to every request.
 * `bulk`: `GET /bytes/N` sends N zero bytes (with their length); any request with a body
 * (`PUT`, `POST`) is read to the end and answered with the number of bytes it carried.
 */
export type LabServer = { address: string; port: number } & ({ body: string } | { bulk: true });

const SERVER_SCRIPT = `
const http = require('node:http');
const specs = JSON.parse(process.argv[1]);
const block = Buffer.alloc(65536);
function bulk(req, res) {
  const asked = /^\\/bytes\\/(\\d+)$/.exec(req.url);
  if (req.method === 'GET' && asked) {
    let left = Number(asked[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
    const more = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!res.write(n === block.length ? block : block.subarray(0, n))) return void res.once('drain', more);
      }
      res.end();
    };
    return more();
  }
  let count = 0;
  req.on('data', (chunk) => { count += chunk.length; });
  req.on('end', () => res.end(String(count)));
}
let left = specs.length;
for (const s of specs) {
  const handler = s.bulk ? bulk : (_, res) => res.end(s.body);
  http.createServer(handler).listen(s.port, s.address, () => { if (--left === 0) console.log('ready'); });
}
`;

export class NetworkLab {
  readonly daemonNs: string;
  readonly internetNs: string;
  /** Runs a command (a daemon, say) inside the daemon namespace: prepend to its argv. */
  readonly commandPrefix: string[];
  private readonly servers: ChildProcess[] = [];

  /** Names only; open() creates the namespaces. */
  constructor(prefix = 'mvtest') {
    const suffix = randomBytes(3).toString('hex');
    this.daemonNs = `${prefix}-d-${suffix}`;
    this.internetNs = `${prefix}-i-${suffix}`;
    this.commandPrefix = ['ip', 'netns', 'exec', this.daemonNs];
  }

  /** Both namespaces, the veth between them, the daemon's default route, and the two port-80 servers. */
  async open(): Promise<void> {
    const ip = (...args: string[]) => execa('ip', args);
    await ip('netns', 'add', this.daemonNs);
    await ip('netns', 'add', this.internetNs);
    await ip('-n', this.daemonNs, 'link', 'set', 'lo', 'up');
    await ip('-n', this.internetNs, 'link', 'set', 'lo', 'up');
    // Created inside the daemon's namespace with its peer moved straight into the internet's.
    await ip('-n', this.daemonNs, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'wan', 'netns', this.internetNs);
    await ip('-n', this.daemonNs, 'addr', 'add', `${LAB_UPLINK}/24`, 'dev', 'uplink');
    await ip('-n', this.daemonNs, 'link', 'set', 'uplink', 'up');
    await ip('-n', this.daemonNs, 'route', 'add', 'default', 'via', LAB_SERVER);
    await ip('-n', this.internetNs, 'addr', 'add', `${LAB_SERVER}/24`, 'dev', 'wan');
    await ip('-n', this.internetNs, 'addr', 'add', `${LAB_OTHER_SERVER}/24`, 'dev', 'wan');
    await ip('-n', this.internetNs, 'link', 'set', 'wan', 'up');
    await this.serve(this.internetNs, [
      { address: LAB_SERVER, port: 80, body: 'internet-10' },
      { address: LAB_OTHER_SERVER, port: 80, body: 'internet-20' },
    ]);
  }

  /** A Node HTTP server in a namespace of this lab, listening on each address:port; close() ends it. */
  serve(ns: string, listen: LabServer[]): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER_SCRIPT, JSON.stringify(listen)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.servers.push(child);
    return new Promise((resolve, reject) => {
      child.stdout!.once('data', () => resolve(child));
      child.once('exit', (code) => reject(new Error(`server in ${ns} exited with ${code}`)));
    });
  }

  /** The project's interfaces and nftables tables left in the daemon's namespace. */
  async leftovers(): Promise<string[]> {
    const inNs = (command: string, args: string[]) => execa('ip', ['netns', 'exec', this.daemonNs, command, ...args]);
    const links = JSON.parse((await inNs('ip', ['-j', 'link', 'show'])).stdout) as { ifname: string }[];
    const tables = (await inNs('nft', ['list', 'tables'])).stdout;
    return [...links.map((l) => l.ifname).filter((name) => /^(mvt|mvbr)/.test(name)), ...tables.split('\n').filter((line) => line.includes('microvm_sandbox'))];
  }

  /** Ends the servers and deletes both namespaces; returns the ones that still exist afterwards. */
  async close(): Promise<string[]> {
    for (const server of this.servers) server.kill('SIGKILL');
    await execa('ip', ['netns', 'del', this.daemonNs]).catch(() => undefined);
    await execa('ip', ['netns', 'del', this.internetNs]).catch(() => undefined);
    const listed = (await execa('ip', ['netns', 'list'])).stdout;
    const names = new Set(listed.split('\n').map((line) => line.split(' ')[0]));
    return [this.daemonNs, this.internetNs].filter((ns) => names.has(ns));
  }
}
