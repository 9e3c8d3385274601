import { basename } from 'node:path';
import { auditLogPath } from './audit-log.js';
import { NetHelperError, refuse, type HelperCaller } from './helper-arguments.js';
import { VERB_NAMES, runVerb, type Verb } from './helper-verbs.js';

/**
 * microvm-net-helper: the privileged network helper, run as root through pkexec (or by
 * root directly). The verb is in the program's name when it is run through one of the
 * per-verb links (microvm-net-helper-tap-create …), which is what polkit authorizes;
 * otherwise it is the first argument. Exit status: 0 done, 2 refused (nothing changed),
 * 1 failed, 3 ip or nft missing.
 */
const PROGRAM = 'microvm-net-helper';
const EXIT = { refused: 2, failed: 1, missing_tool: 3 } as const;

function verbAndArgs(argv: readonly string[]): { verb: string; args: string[] } {
  const name = basename(argv[1] ?? '');
  if (name.startsWith(`${PROGRAM}-`)) return { verb: name.slice(PROGRAM.length + 1), args: argv.slice(2) };
  return { verb: argv[2] ?? '', args: argv.slice(3) };
}

function caller(env: NodeJS.ProcessEnv): HelperCaller {
  if (process.geteuid?.() !== 0) throw new NetHelperError('failed', 'must run as root: through pkexec, or as root itself');
  const pkexecUid = env.PKEXEC_UID;
  if (pkexecUid === undefined) return { via: 'root', uid: 0 };
  if (!/^(0|[1-9][0-9]{0,9})$/.test(pkexecUid)) refuse('PKEXEC_UID is not a numeric uid');
  return { via: 'pkexec', uid: Number(pkexecUid) };
}

async function main(): Promise<number> {
  const { verb, args } = verbAndArgs(process.argv);
  try {
    await runVerb(verb, args, caller(process.env), auditLogPath(process.env));
    return 0;
  } catch (error) {
    const e = error instanceof NetHelperError ? error : new NetHelperError('failed', String(error));
    const who = VERB_NAMES.includes(verb as Verb) ? `${PROGRAM} ${verb}` : PROGRAM;
    process.stderr.write(`${who}: ${e.outcome === 'refused' ? 'refused' : 'failed'}: ${e.message.replace(/\s+/g, ' ')}\n`);
    return EXIT[e.outcome];
  }
}

void main().then((status) => {
  process.exitCode = status;
});
