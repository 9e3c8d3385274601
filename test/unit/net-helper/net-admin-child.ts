import { netAdmin, type NetAdmin } from '../../../src/main/core/network/net-admin.js';

/**
 * Runs NetAdmin calls in a process of its own (in a test's network namespace, or as
 * another user) and prints one JSON line per call: {ok: true} or the error's code and
 * message. argv: helperPath, then a JSON array of calls ([method, ...args]); calls in a
 * nested array are started together.
 */
type Call = [keyof NetAdmin, ...unknown[]];

const [helperPath = '', callsJson = '[]'] = process.argv.slice(2);
const admin = netAdmin({ helperPath });

async function one([method, ...args]: Call): Promise<object> {
  try {
    await (admin[method] as (...a: unknown[]) => Promise<void>)(...args);
    return { ok: true };
  } catch (error) {
    const e = error as { code?: string; message: string };
    return { code: e.code, message: e.message };
  }
}

for (const step of JSON.parse(callsJson) as Array<Call | Call[]>) {
  const results = Array.isArray(step[0]) ? await Promise.all((step as Call[]).map(one)) : [await one(step as Call)];
  for (const result of results) console.log(JSON.stringify(result));
}
