import { startDaemon } from '../../src/main/api/api-daemon.js';

// A daemon for tests: the real startDaemon over the environment's MICROVM_DATA_DIR,
// reporting its addresses as one JSON line on stdout once it listens.
const port = process.env.TEST_DAEMON_TCP_PORT;
const daemon = await startDaemon(port === undefined ? {} : { tcp: { host: '127.0.0.1', port: Number(port) } });
process.stdout.write(`${JSON.stringify({ socketPath: daemon.socketPath, url: daemon.url, token: daemon.url ? daemon.token.current() : null })}\n`);
const stop = () => void daemon.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
