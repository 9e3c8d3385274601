/** X keysyms (X11/keysymdef.h) of the keys the Display tab's key menu sends. */
const KEYSYM = {
  Control_L: 0xffe3,
  Alt_L: 0xffe9,
  Shift_L: 0xffe1,
  Super_L: 0xffeb,
  Delete: 0xffff,
  Escape: 0xff1b,
  Tab: 0xff09,
  Return: 0xff0d,
  BackSpace: 0xff08,
  F4: 0xffc1,
  c: 0x0063,
  v: 0x0076,
  t: 0x0074,
} as const;

type KeyName = keyof typeof KEYSYM;

/** The DOM `code` noVNC sends with each key (for servers that use scancodes). */
const CODE: Record<KeyName, string> = {
  Control_L: 'ControlLeft',
  Alt_L: 'AltLeft',
  Shift_L: 'ShiftLeft',
  Super_L: 'MetaLeft',
  Delete: 'Delete',
  Escape: 'Escape',
  Tab: 'Tab',
  Return: 'Enter',
  BackSpace: 'Backspace',
  F4: 'F4',
  c: 'KeyC',
  v: 'KeyV',
  t: 'KeyT',
};

export interface KeyCombo {
  label: string;
  keys: KeyName[];
}

/**
 * Combinations a browser or the host's desktop would take for itself when typed into the
 * page, so the menu sends them to the guest instead.
 */
export const KEY_COMBOS: readonly KeyCombo[] = [
  { label: 'Ctrl+Alt+Del', keys: ['Control_L', 'Alt_L', 'Delete'] },
  { label: 'Alt+Tab', keys: ['Alt_L', 'Tab'] },
  { label: 'Alt+F4', keys: ['Alt_L', 'F4'] },
  { label: 'Ctrl+Alt+T', keys: ['Control_L', 'Alt_L', 't'] },
  { label: 'Ctrl+Alt+Backspace', keys: ['Control_L', 'Alt_L', 'BackSpace'] },
  { label: 'Super', keys: ['Super_L'] },
  { label: 'Escape', keys: ['Escape'] },
];

export interface KeySender {
  sendKey(keysym: number, code: string | null, down?: boolean): void;
}

/** Presses the keys in order and releases them in reverse, as a person holding a combination does. */
export function sendCombo(rfb: KeySender, combo: KeyCombo): void {
  for (const key of combo.keys) rfb.sendKey(KEYSYM[key], CODE[key], true);
  for (const key of [...combo.keys].reverse()) rfb.sendKey(KEYSYM[key], CODE[key], false);
}
