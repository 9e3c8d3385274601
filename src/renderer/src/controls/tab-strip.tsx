import { useRef, type KeyboardEvent, type ReactNode } from 'react';

export interface TabDefinition {
  key: string;
  label: string;
  /** Shown after the tab, outside it (a close button). */
  after?: ReactNode;
}

export interface TabStripProps {
  label: string;
  tabs: TabDefinition[];
  selected: string;
  onSelect: (key: string) => void;
  /** Prefix of the tab and panel ids; panels use `panelId(prefix, key)`. */
  idPrefix: string;
}

export const tabId = (prefix: string, key: string) => `${prefix}-tab-${key}`;
export const panelId = (prefix: string, key: string) => `${prefix}-panel-${key}`;

/**
 * An ARIA tablist: one tab in the Tab order (the selected one), arrow keys, Home and End
 * move between tabs and select them.
 */
export function TabStrip({ label, tabs, selected, onSelect, idPrefix }: TabStripProps) {
  const list = useRef<HTMLDivElement>(null);

  const move = (event: KeyboardEvent<HTMLButtonElement>, index: number) => {
    const last = tabs.length - 1;
    const target = { ArrowRight: index === last ? 0 : index + 1, ArrowLeft: index === 0 ? last : index - 1, Home: 0, End: last }[event.key];
    if (target === undefined) return;
    event.preventDefault();
    const tab = tabs[target];
    if (!tab) return;
    onSelect(tab.key);
    list.current?.querySelectorAll<HTMLElement>('[role="tab"]')[target]?.focus();
  };

  return (
    <div ref={list} role="tablist" aria-label={label} className="tab-strip">
      {tabs.map((tab, index) => (
        <span key={tab.key} className="tab-slot" role="presentation">
          <button
            type="button"
            role="tab"
            id={tabId(idPrefix, tab.key)}
            aria-selected={tab.key === selected}
            aria-controls={panelId(idPrefix, tab.key)}
            tabIndex={tab.key === selected ? 0 : -1}
            className="tab"
            onClick={() => onSelect(tab.key)}
            onKeyDown={(event) => move(event, index)}
          >
            {tab.label}
          </button>
          {tab.after}
        </span>
      ))}
    </div>
  );
}
