import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import type { AppInfo } from '../../shared/app-contract';

function App() {
  const [info, setInfo] = useState<AppInfo | null>(null);
  useEffect(() => {
    void window.api.appInfo().then(setInfo);
  }, []);
  return (
    <main>
      <h1>MicroVM Sandbox</h1>
      <p>{info ? `${info.name} ${info.version} (${info.shell})` : 'Connecting…'}</p>
    </main>
  );
}

const root = document.getElementById('root');
if (root) createRoot(root).render(<StrictMode><App /></StrictMode>);
