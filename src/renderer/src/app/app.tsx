import { useEffect, useState } from 'react';
import type { AppApi } from '../../../shared/app-contract';
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
}

export function App({ api, usageIntervalMs = 2000 }: AppProps) {
  const [services] = useState<AppServices>(() => ({ api, stores: createAppStores(api, { usageIntervalMs }) }));
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
