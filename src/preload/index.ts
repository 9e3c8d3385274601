import { contextBridge, ipcRenderer } from 'electron';
import { IPC_CHANNELS, type AppApi } from '../shared/app-contract.js';

// Only the typed contract crosses the bridge: the renderer never gets ipcRenderer itself.
const api: AppApi = {
  appInfo: () => ipcRenderer.invoke(IPC_CHANNELS.appInfo),
};

contextBridge.exposeInMainWorld('api', api);
