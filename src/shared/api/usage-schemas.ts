import { Type, type Static } from 'typebox';

/** Raw VMM figures per sandbox; a client derives CPU% from two readings' cpuSeconds and `at`. */
export const SandboxUsageSchema = Type.Object({
  id: Type.String(),
  cpuSeconds: Type.Union([Type.Number(), Type.Null()], { description: 'CPU time used by the VMM process; null when it is not running' }),
  rssBytes: Type.Union([Type.Integer(), Type.Null()], { description: 'Resident memory of the VMM process; null when it is not running' }),
});
export type SandboxUsage = Static<typeof SandboxUsageSchema>;

export const UsageListSchema = Type.Object({
  at: Type.Integer({ description: 'Unix milliseconds of the reading' }),
  sandboxes: Type.Array(SandboxUsageSchema),
});
export type UsageList = Static<typeof UsageListSchema>;
