/**
 * What jsdom lacks and xterm.js asks for at open(): matchMedia (device-pixel-ratio
 * listeners) and a canvas context (it falls back to DOM measuring without one).
 * These stand in for the browser environment, not for any of the app's code.
 */
if (typeof window.matchMedia !== 'function') {
  window.matchMedia = ((query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addListener: () => undefined,
    removeListener: () => undefined,
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    dispatchEvent: () => false,
  })) as typeof window.matchMedia;
}

HTMLCanvasElement.prototype.getContext = (() => null) as typeof HTMLCanvasElement.prototype.getContext;
