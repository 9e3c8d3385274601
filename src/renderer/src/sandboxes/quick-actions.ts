import type { SandboxState } from '../../../shared/api/sandbox-schemas';
import type { LifecycleAction } from '../../../shared/app-contract';

/** The lifecycle actions a row offers in each state; the daemon refuses the others anyway. */
const ACTIONS: Record<SandboxState, LifecycleAction[]> = {
  creating: [],
  running: ['stop', 'pause'],
  paused: ['resume', 'stop'],
  stopping: [],
  stopped: ['start'],
  crashed: ['start'],
  error: ['start'],
};

export function quickActionsFor(state: SandboxState): LifecycleAction[] {
  return ACTIONS[state];
}

export const ACTION_LABELS: Record<LifecycleAction, string> = {
  start: 'Start',
  stop: 'Stop',
  pause: 'Pause',
  resume: 'Resume',
  restart: 'Restart',
};
