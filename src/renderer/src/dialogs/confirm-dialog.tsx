import { useId, useRef } from 'react';
import { ModalDialog } from './modal-dialog';

export interface ConfirmDialogProps {
  title: string;
  message: string;
  confirmLabel: string;
  /** Runs after the dialog closed; its progress and outcome show where it was asked for. */
  onConfirm: () => void;
  onClose: () => void;
}

/** Asks before something that cannot be undone; Cancel has the focus so Enter is harmless. */
export function ConfirmDialog({ title, message, confirmLabel, onConfirm, onClose }: ConfirmDialogProps) {
  const messageId = useId();
  const cancel = useRef<HTMLButtonElement>(null);

  return (
    <ModalDialog role="alertdialog" title={title} describedBy={messageId} initialFocus={cancel} onClose={onClose}>
      <p id={messageId}>{message}</p>
      <div className="dialog-buttons">
        <button type="button" ref={cancel} onClick={onClose}>
          Cancel
        </button>
        <button
          type="button"
          className="danger"
          onClick={() => {
            onClose();
            onConfirm();
          }}
        >
          {confirmLabel}
        </button>
      </div>
    </ModalDialog>
  );
}
