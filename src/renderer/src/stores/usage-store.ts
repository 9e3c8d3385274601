import { createStore } from 'zustand/vanilla';
import type { SandboxUsage, UsageList } from '../../../shared/api/usage-schemas';
import type { AppApi } from '../../../shared/app-contract';
import type { NotificationsStore } from './notifications-store';

/** What a row shows; null while unknown (no VMM, or only one reading so far for CPU). */
export interface UsageFigures {
  cpuPercent: number | null;
  rssBytes: number | null;
}

export interface UsageState {
  figures: Record<string, UsageFigures>;
  /** Reads usage once; CPU% comes from the CPU time used since the previous reading. */
  poll(): Promise<void>;
  /** Polls every interval until the returned function is called. */
  startPolling(): () => void;
}

/**
 * CPU% of one VMM between two readings: CPU seconds used per wall-clock second, so a
 * sandbox busy on two vCPUs shows 200%, as top does.
 */
export function cpuPercent(previous: SandboxUsage | undefined, previousAt: number, current: SandboxUsage, at: number): number | null {
  if (previous?.cpuSeconds == null || current.cpuSeconds == null || at <= previousAt) return null;
  // A restarted VMM starts counting again from zero.
  if (current.cpuSeconds < previous.cpuSeconds) return null;
  return ((current.cpuSeconds - previous.cpuSeconds) / ((at - previousAt) / 1000)) * 100;
}

export function createUsageStore(api: AppApi, notifications: NotificationsStore, intervalMs: number) {
  let previous: UsageList | null = null;
  let failing = false;

  return createStore<UsageState>()((set, get) => ({
    figures: {},

    async poll() {
      let reading: UsageList;
      try {
        reading = await api.usage();
      } catch (error) {
        // One notice per run of failures: a poll every two seconds must not flood the window.
        if (!failing) notifications.getState().notify(error, 'Reading usage');
        failing = true;
        return;
      }
      failing = false;
      const before = new Map(previous?.sandboxes.map((usage) => [usage.id, usage]));
      const last = previous;
      previous = reading;
      set((state) => {
        const figures: Record<string, UsageFigures> = {};
        for (const usage of reading.sandboxes) {
          const next = { cpuPercent: last ? cpuPercent(before.get(usage.id), last.at, usage, reading.at) : null, rssBytes: usage.rssBytes };
          const old = state.figures[usage.id];
          // Unchanged figures keep their identity, so memoized rows skip rendering.
          figures[usage.id] = old && old.cpuPercent === next.cpuPercent && old.rssBytes === next.rssBytes ? old : next;
        }
        return { figures };
      });
    },

    startPolling() {
      void get().poll();
      const timer = setInterval(() => void get().poll(), intervalMs);
      return () => clearInterval(timer);
    },
  }));
}

export type UsageStore = ReturnType<typeof createUsageStore>;
