import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/app';
import './app/theme.css';
import './app/layout.css';
import './app/panes.css';
import { createDaemonAppApi } from './transport/daemon-app-api';
import { parseSandboxPagePath } from '../../shared/app-routes';

// Electron's preload provides window.api; served by the daemon (browser mode) there is no
// preload, and the same contract is spoken over HTTP and WebSocket to that daemon.
if (typeof window.api === 'undefined') window.api = createDaemonAppApi();

const root = document.getElementById('root');
if (root) {
  createRoot(root).render(
    <StrictMode>
      <App api={window.api} initialView={parseSandboxPagePath(window.location.pathname)} />
    </StrictMode>,
  );
}
