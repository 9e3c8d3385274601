import { useEffect, useState } from 'react';
import type { AppApi } from '../../../shared/app-contract';
import type { DetailTab } from '../../../shared/app-routes';
import { DetailPane } from '../detail/detail-pane';
import { NotificationsArea } from '../notifications/notifications-area';
import { SandboxList } from '../sandboxes/sandbox-list';
import { connectAppStores, createAppStores } from '../stores/app-stores';
import { AppHeader } from './app-header';
import { AppServicesProvider, type AppServices } from './app-services';

export interface AppProps {
  api: AppApi;
  /** How often CPU and memory are read; tests shorten it. */
  usageIntervalMs?: number;
  /** A sandbox and tab to open first (browser mode's deep links, e.g. a display link). */
  initialView?: { sandboxId: string; tab: DetailTab } | null;
}

export function App({ api, usageIntervalMs = 2000, initialView = null }: AppProps) {
  const [services] = useState<AppServices>(() => {
    const stores = createAppStores(api, { usageIntervalMs });
    if (initialView) stores.sandboxes.getState().select(initialView.sandboxId, initialView.tab);
    return { api, stores };
  });
  useEffect(() => connectAppStores(services.api, services.stores), [services]);

  return (
    <AppServicesProvider services={services}>
      <div className="app">
        <AppHeader />
        <main className="workspace">
          <SandboxList />
          <DetailPane />
        </main>
        <NotificationsArea />
      </div>
    </AppServicesProvider>
  );
}
