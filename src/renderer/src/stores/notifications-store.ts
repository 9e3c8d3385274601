import { createStore } from 'zustand/vanilla';
import { AppError } from '../../../shared/app-contract';

export interface Notice {
  id: number;
  message: string;
  code: string;
}

/** Newer notices push the oldest out, so a failing loop cannot bury the window. */
const MAX_NOTICES = 6;

export interface NotificationsState {
  notices: Notice[];
  /** Shows a failure; `context` says what was being done ("Stop alpha"). */
  notify(error: unknown, context?: string): void;
  dismiss(id: number): void;
}

export function createNotificationsStore() {
  let nextId = 1;
  return createStore<NotificationsState>()((set) => ({
    notices: [],
    notify(error, context) {
      const { code, message } = AppError.from(error);
      const notice = { id: nextId++, code, message: context ? `${context}: ${message}` : message };
      set((state) => ({ notices: [...state.notices, notice].slice(-MAX_NOTICES) }));
    },
    dismiss(id) {
      set((state) => ({ notices: state.notices.filter((notice) => notice.id !== id) }));
    },
  }));
}

export type NotificationsStore = ReturnType<typeof createNotificationsStore>;
