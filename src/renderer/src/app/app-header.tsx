import { useEffect, useState } from 'react';
import { useStore } from 'zustand';
import type { AppInfo } from '../../../shared/app-contract';
import { CreateSandboxButton } from '../sandboxes/create-sandbox-button';
import { useAppServices } from './app-services';

const CONNECTION_TEXT = { connecting: 'Connecting…', connected: 'Connected', disconnected: 'Disconnected' } as const;

export function AppHeader() {
  const { api, stores } = useAppServices();
  const [info, setInfo] = useState<AppInfo | null>(null);
  const connection = useStore(stores.sandboxes, (state) => state.connection);

  useEffect(() => {
    let live = true;
    api.appInfo().then(
      (answer) => live && setInfo(answer),
      (error: unknown) => live && stores.notifications.getState().notify(error, 'Reading the app version'),
    );
    return () => {
      live = false;
    };
  }, [api, stores]);

  return (
    <header className="app-header">
      <h1 className="app-title">{info?.name ?? 'MicroVM Sandbox'}</h1>
      {info && (
        <span className="app-shell" title={`Daemon: ${info.daemon}`}>
          {info.shell} · v{info.version}
        </span>
      )}
      <span role="status" className={`connection connection-${connection}`}>
        {CONNECTION_TEXT[connection]}
      </span>
      <span className="header-spacer" />
      <CreateSandboxButton />
    </header>
  );
}
