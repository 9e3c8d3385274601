import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useEffect, useRef } from 'react';
import type { TerminalEvent } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';

export interface TerminalViewProps {
  sandboxId: string;
  label: string;
  /** Shown in front: refits to the pane, which may have changed size while hidden. */
  active: boolean;
  /** Takes the keyboard once open (a terminal the user just asked for). */
  focusOnOpen: boolean;
}

const THEME = { background: '#101317', foreground: '#d6dae1', cursor: '#8ab4f8', selectionBackground: '#3a4a63' };

/** What a session's end looks like in the terminal, dimmed so it is not mistaken for guest output. */
export function terminalEndText(event: Exclude<TerminalEvent, { type: 'output' }>): string {
  const text =
    event.type === 'error'
      ? `Error: ${event.message}`
      : event.signal
        ? `Process ended by signal ${event.signal}`
        : `Process exited with code ${event.exitCode ?? 'unknown'}`;
  return `\r\n\x1b[2m[${text}]\x1b[0m\r\n`;
}

/** A hidden element measures zero; fitting it would shrink the guest's terminal to nothing. */
function isShown(element: HTMLElement): boolean {
  return element.offsetWidth > 0 && element.offsetHeight > 0;
}

/** One xterm.js terminal wired to one PTY session in the guest. */
export function TerminalView({ sandboxId, label, active, focusOnOpen }: TerminalViewProps) {
  const { api } = useAppServices();
  const host = useRef<HTMLDivElement>(null);
  const fitRef = useRef<(() => void) | null>(null);
  const focusRef = useRef(focusOnOpen);

  useEffect(() => {
    const element = host.current;
    if (!element) return;
    // The default DOM renderer: text lands in .xterm-rows, where tests and screen readers find it.
    const terminal = new Terminal({ cursorBlink: true, fontSize: 13, scrollback: 5000, theme: THEME, screenReaderMode: false });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.open(element);
    const refit = () => {
      if (isShown(element)) fit.fit();
    };
    refit();
    fitRef.current = refit;
    // Tab belongs to the shell (completion); Shift+Tab leaves the terminal so the keyboard is never trapped.
    terminal.attachCustomKeyEventHandler((event) => !(event.key === 'Tab' && event.shiftKey));

    let ended = false;
    const session = api.openTerminal(sandboxId, { cols: terminal.cols, rows: terminal.rows }, (event) => {
      if (event.type === 'output') {
        terminal.write(event.data);
        return;
      }
      ended = true;
      terminal.write(terminalEndText(event));
    });
    const input = terminal.onData((data) => {
      if (!ended) session.write(data);
    });
    const resized = terminal.onResize(({ cols, rows }) => {
      if (!ended) session.resize(cols, rows);
    });
    const observer = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(refit);
    observer?.observe(element);
    if (focusRef.current) terminal.focus();

    return () => {
      observer?.disconnect();
      input.dispose();
      resized.dispose();
      fitRef.current = null;
      session.close();
      terminal.dispose();
    };
  }, [api, sandboxId]);

  useEffect(() => {
    if (active) fitRef.current?.();
  }, [active]);

  return <div ref={host} className="terminal-host" aria-label={label} role="group" />;
}
