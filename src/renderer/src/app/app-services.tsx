import { createContext, useContext, type ReactNode } from 'react';
import type { AppApi } from '../../../shared/app-contract';
import type { AppStores } from '../stores/app-stores';

/** What every component may reach: the contract and the window's stores. */
export interface AppServices {
  api: AppApi;
  stores: AppStores;
}

const AppServicesContext = createContext<AppServices | null>(null);

export function AppServicesProvider({ services, children }: { services: AppServices; children: ReactNode }) {
  return <AppServicesContext.Provider value={services}>{children}</AppServicesContext.Provider>;
}

export function useAppServices(): AppServices {
  const services = useContext(AppServicesContext);
  if (!services) throw new Error('useAppServices needs an <AppServicesProvider> above it');
  return services;
}
