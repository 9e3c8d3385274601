import { useId, useRef, type ReactNode, type RefObject } from 'react';
import { createPortal } from 'react-dom';
import { trapKeys, useFocusReturn } from './focus-trap';

export interface ModalDialogProps {
  title: string;
  /** alertdialog for confirmations of something that cannot be undone. */
  role?: 'dialog' | 'alertdialog';
  /** The id of the text that explains the dialog (an alertdialog's question). */
  describedBy?: string;
  initialFocus?: RefObject<HTMLElement | null>;
  onClose: () => void;
  className?: string;
  children: ReactNode;
}

/** A modal dialog over the whole window: focus stays inside, Escape closes, focus returns to the opener. */
export function ModalDialog({ title, role = 'dialog', describedBy, initialFocus, onClose, className, children }: ModalDialogProps) {
  const titleId = useId();
  const dialog = useRef<HTMLDivElement>(null);
  useFocusReturn(dialog, initialFocus);

  return createPortal(
    <div className="modal-backdrop">
      <div
        ref={dialog}
        role={role}
        aria-modal="true"
        aria-labelledby={titleId}
        aria-describedby={describedBy}
        tabIndex={-1}
        className={`modal ${className ?? ''}`}
        onKeyDown={(event) => trapKeys(event, onClose)}
      >
        <h2 id={titleId} className="modal-title">
          {title}
        </h2>
        {children}
      </div>
    </div>,
    document.body,
  );
}
