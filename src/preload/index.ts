import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { createIpcAppApi } from './ipc-app-api.js';

// Only the typed contract crosses the bridge: the renderer never gets ipcRenderer itself.
contextBridge.exposeInMainWorld('api', createIpcAppApi(ipcRenderer, webUtils));
