import { createStore } from 'zustand/vanilla';
import type { SandboxEvent } from '../../../shared/api/event-schemas';
import type { CreateSandboxBody, Sandbox } from '../../../shared/api/sandbox-schemas';
import { AppError, type AppApi, type LifecycleAction } from '../../../shared/app-contract';
import type { DetailTab } from '../../../shared/app-routes';
import type { NotificationsStore } from './notifications-store';

/**
 * A row of the list. A sandbox announced by an event before the list knew it (one being
 * created elsewhere, a fork) is known only by name and state until the next listing.
 */
export type ListedSandbox = Pick<Sandbox, 'id' | 'name' | 'state' | 'stateReason'> & Partial<Sandbox>;

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

export interface SandboxesState {
  sandboxes: Record<string, ListedSandbox>;
  loaded: boolean;
  loadError: string | null;
  connection: ConnectionState;
  /** The latest progress message per sandbox name (image builds, boots). */
  progress: Record<string, string>;
  /** The lifecycle call in flight per sandbox id, so its buttons wait for it. */
  busy: Record<string, LifecycleAction | 'delete'>;
  selectedId: string | null;
  /** The tab the selected sandbox opens on, when the selection asked for one (a deep link). */
  openingTab: DetailTab | null;

  load(): Promise<void>;
  applyEvent(event: SandboxEvent): void;
  setConnected(connected: boolean): void;
  select(id: string | null, tab?: DetailTab): void;
  /** Runs a quick action; a failure becomes a notification. */
  runAction(id: string, action: LifecycleAction): Promise<void>;
  /** Deletes a sandbox; a failure becomes a notification and false. */
  remove(id: string): Promise<boolean>;
  /** Creates a sandbox; rejects with the AppError so the dialog can show it. */
  create(request: CreateSandboxBody): Promise<Sandbox>;
}

// The daemon announces a destroyed sandbox as stopped with this reason.
const DESTROYED = 'destroyed';

export function createSandboxesStore(api: AppApi, notifications: NotificationsStore) {
  let loading: Promise<void> | null = null;
  let reloadAfter = false;

  return createStore<SandboxesState>()((set, get) => {
    const upsert = (sandbox: Sandbox) => set((state) => ({ sandboxes: { ...state.sandboxes, [sandbox.id]: sandbox } }));
    const drop = (id: string) =>
      set((state) => {
        if (!(id in state.sandboxes)) return {};
        const { [id]: _gone, ...rest } = state.sandboxes;
        return { sandboxes: rest, selectedId: state.selectedId === id ? null : state.selectedId };
      });
    const setBusy = (id: string, what: LifecycleAction | 'delete' | null) =>
      set((state) => {
        const { [id]: _previous, ...rest } = state.busy;
        return { busy: what ? { ...rest, [id]: what } : rest };
      });

    return {
      sandboxes: {},
      loaded: false,
      loadError: null,
      connection: 'connecting',
      progress: {},
      busy: {},
      selectedId: null,
      openingTab: null,

      load() {
        // Events during a listing may announce what it missed: list once more afterwards.
        if (loading) {
          reloadAfter = true;
          return loading;
        }
        loading = (async () => {
          try {
            const listed = await api.listSandboxes();
            set({ sandboxes: Object.fromEntries(listed.map((sandbox) => [sandbox.id, sandbox])), loaded: true, loadError: null });
            const { selectedId } = get();
            if (selectedId && !listed.some((sandbox) => sandbox.id === selectedId)) set({ selectedId: null });
          } catch (error) {
            set({ loaded: true, loadError: AppError.from(error).message });
          } finally {
            loading = null;
          }
          if (reloadAfter) {
            reloadAfter = false;
            await get().load();
          }
        })();
        return loading;
      },

      applyEvent(event) {
        if (event.type === 'progress') {
          if (event.name) set((state) => ({ progress: { ...state.progress, [event.name]: event.message } }));
          return;
        }
        if (event.type !== 'state') return;
        if (event.reason === DESTROYED) {
          drop(event.id);
          return;
        }
        const known = get().sandboxes[event.id];
        set((state) => {
          const { [event.name]: _done, ...progress } = state.progress;
          return {
            sandboxes: { ...state.sandboxes, [event.id]: { ...known, id: event.id, name: event.name, state: event.state, stateReason: event.reason } },
            progress: event.state === 'creating' ? state.progress : progress,
          };
        });
        if (!known) void get().load();
      },

      setConnected(connected) {
        const wasDisconnected = get().connection === 'disconnected';
        set({ connection: connected ? 'connected' : 'disconnected' });
        // Events sent while the stream was down are lost: the listing catches up.
        if (connected && wasDisconnected) void get().load();
      },

      select(id, tab) {
        set({ selectedId: id, openingTab: tab ?? null });
      },

      async runAction(id, action) {
        const name = get().sandboxes[id]?.name ?? id;
        setBusy(id, action);
        try {
          upsert(await api.sandboxAction(id, action));
        } catch (error) {
          notifications.getState().notify(error, `${capitalized(action)} ${name}`);
        } finally {
          setBusy(id, null);
        }
      },

      async remove(id) {
        const name = get().sandboxes[id]?.name ?? id;
        setBusy(id, 'delete');
        try {
          await api.deleteSandbox(id);
          drop(id);
          return true;
        } catch (error) {
          notifications.getState().notify(error, `Delete ${name}`);
          return false;
        } finally {
          setBusy(id, null);
        }
      },

      async create(request) {
        try {
          const sandbox = await api.createSandbox(request);
          upsert(sandbox);
          return sandbox;
        } catch (error) {
          throw AppError.from(error);
        }
      },
    };
  });
}

function capitalized(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

export type SandboxesStore = ReturnType<typeof createSandboxesStore>;
