import { useState } from 'react';
import { CreateSandboxDialog } from './create-sandbox-dialog';

export function CreateSandboxButton() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className="primary" onClick={() => setOpen(true)}>
        New sandbox
      </button>
      {open && <CreateSandboxDialog onClose={() => setOpen(false)} />}
    </>
  );
}
