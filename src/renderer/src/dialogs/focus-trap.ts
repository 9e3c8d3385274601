import { useEffect, type KeyboardEvent, type RefObject } from 'react';

const FOCUSABLE = [
  'a[href]',
  'button:not([disabled])',
  'input:not([disabled]):not([type="hidden"])',
  'select:not([disabled])',
  'textarea:not([disabled])',
  '[tabindex]:not([tabindex="-1"])',
].join(',');

function focusables(container: HTMLElement): HTMLElement[] {
  return [...container.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((element) => !element.closest('[hidden]'));
}

/**
 * Moves focus into a dialog while it is open and back to whatever opened it when it
 * closes. `initialFocus` is focused first when given, else the first focusable control.
 */
export function useFocusReturn(dialog: RefObject<HTMLElement | null>, initialFocus?: RefObject<HTMLElement | null>) {
  useEffect(() => {
    const opener = document.activeElement;
    const container = dialog.current;
    if (container) (initialFocus?.current ?? focusables(container)[0] ?? container).focus();
    return () => {
      if (opener instanceof HTMLElement && opener.isConnected) opener.focus();
    };
  }, [dialog, initialFocus]);
}

/** Keeps Tab and Shift+Tab cycling inside the dialog, and closes it on Escape. */
export function trapKeys(event: KeyboardEvent<HTMLElement>, onEscape: () => void) {
  if (event.key === 'Escape') {
    event.stopPropagation();
    event.preventDefault();
    onEscape();
    return;
  }
  if (event.key !== 'Tab') return;
  const inside = focusables(event.currentTarget);
  const first = inside[0];
  const last = inside[inside.length - 1];
  if (!first || !last) {
    event.preventDefault();
    return;
  }
  const active = document.activeElement;
  if (event.shiftKey && (active === first || !event.currentTarget.contains(active))) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (active === last || !event.currentTarget.contains(active))) {
    event.preventDefault();
    first.focus();
  }
}
