import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { folderNameProblem } from './guest-paths';

export interface NewFolderFormProps {
  /** Resolves true once the folder exists, so the form can close. */
  onCreate: (name: string) => Promise<boolean>;
  onCancel: () => void;
}

/** Asks a new folder's name in place (no window.prompt, which Electron does not have). */
export function NewFolderForm({ onCreate, onCancel }: NewFolderFormProps) {
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [working, setWorking] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const problemId = useId();

  useEffect(() => input.current?.focus(), []);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const found = folderNameProblem(name);
    setProblem(found);
    if (found) return;
    setWorking(true);
    const created = await onCreate(name.trim());
    setWorking(false);
    if (created) onCancel();
  };

  return (
    <form
      className="inline-form"
      noValidate
      onSubmit={(event) => void submit(event)}
      onKeyDown={(event) => {
        if (event.key === 'Escape') onCancel();
      }}
    >
      <input
        ref={input}
        type="text"
        aria-label="Folder name"
        aria-invalid={Boolean(problem)}
        aria-describedby={problem ? problemId : undefined}
        value={name}
        onChange={(event) => setName(event.target.value)}
      />
      <button type="submit" className="small primary" disabled={working}>
        Create folder
      </button>
      <button type="button" className="small" onClick={onCancel}>
        Cancel
      </button>
      {problem && (
        <span id={problemId} className="field-error">
          {problem}
        </span>
      )}
    </form>
  );
}
