import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { useStore } from 'zustand';
import type { SystemInfo } from '../../../shared/api/system-schemas';
import type { Template } from '../../../shared/api/template-schemas';
import { AppError } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';
import { ModalDialog } from '../dialogs/modal-dialog';
import type { SandboxesState } from '../stores/sandboxes-store';
import { MIN_MEMORY_MIB, validateCreateSandbox, type CreateSandboxFields } from './create-sandbox-validation';

interface FieldProps {
  label: string;
  error: string | undefined;
  hint?: string;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
}

/** A labelled control with its hint, or its error in the hint's place, tied to it for screen readers. */
function Field({ label, error, hint, children }: FieldProps) {
  const id = useId();
  const noteId = `${id}-note`;
  const note = error ?? hint;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, describedBy: note ? noteId : undefined, invalid: Boolean(error) })}
      {note && (
        <p id={noteId} className={error ? 'field-error' : 'field-hint'}>
          {note}
        </p>
      )}
    </div>
  );
}

/**
 * The dialog stays open until the daemon has the new sandbox (its "creating" event) or
 * refuses it, so a refusal shows here; the boot itself is then followed in the list.
 */
export function CreateSandboxDialog({ onClose }: { onClose: () => void }) {
  const { api, stores } = useAppServices();
  const [system, setSystem] = useState<SystemInfo | null>(null);
  const [templates, setTemplates] = useState<Template[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [fields, setFields] = useState<CreateSandboxFields>({ name: '', template: '', vcpus: '', memoryMiB: '' });
  const [touched, setTouched] = useState<Partial<Record<keyof CreateSandboxFields, boolean>>>({});
  const [submitted, setSubmitted] = useState(false);
  const [submitting, setSubmitting] = useState<string | null>(null);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [rejections, setRejections] = useState(0);
  const open = useRef(true);
  const form = useRef<HTMLFormElement>(null);

  // After a refused submit the errors are rendered: take the user to the first one.
  useEffect(() => {
    if (rejections > 0) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [rejections]);

  useEffect(() => {
    open.current = true;
    const failed = (error: unknown) => setLoadError(AppError.from(error).message);
    // Apart: the first /system answer can take seconds (it probes the hypervisors), and the
    // templates are all the form needs to be submitted; the limits only sharpen the hints.
    api.templates().then((templateList) => {
      setTemplates(templateList);
      const preferred = templateList.find((template) => template.default) ?? templateList[0];
      setFields((current) => (current.template || !preferred ? current : { ...current, template: preferred.name }));
    }, failed);
    api.system().then(setSystem, failed);
    return () => {
      open.current = false;
    };
  }, [api]);

  // A template built on first use can take minutes before the sandbox exists: show its steps.
  const progress = useStore(stores.sandboxes, (state) => (submitting ? state.progress[submitting] : undefined));
  const limits = system?.limits ?? null;
  const { errors } = validateCreateSandbox(fields, limits);
  const shown = (field: keyof CreateSandboxFields) => (submitted || touched[field] ? errors[field] : undefined);
  const change = (field: keyof CreateSandboxFields) => (event: { target: { value: string } }) => setFields((current) => ({ ...current, [field]: event.target.value }));
  const blur = (field: keyof CreateSandboxFields) => () => setTouched((current) => ({ ...current, [field]: true }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    const { body } = validateCreateSandbox(fields, limits);
    if (!body) {
      setRejections((count) => count + 1);
      return;
    }
    setSubmitting(body.name ?? '');
    setSubmitError(null);
    const sandboxes = stores.sandboxes;
    const known = new Set(Object.keys(sandboxes.getState().sandboxes));
    const isNew = (state: SandboxesState) =>
      Object.values(state.sandboxes).find((sandbox) => !known.has(sandbox.id) && (body.name === undefined || sandbox.name === body.name));
    let closed = false;
    const close = (id: string) => {
      if (closed) return;
      closed = true;
      unsubscribe();
      sandboxes.getState().select(id);
      if (open.current) onClose();
    };
    const unsubscribe = sandboxes.subscribe((state) => {
      const appeared = isNew(state);
      if (appeared) close(appeared.id);
    });
    sandboxes
      .getState()
      .create(body)
      .then(
        (sandbox) => close(sandbox.id),
        (error: unknown) => {
          unsubscribe();
          if (closed || !open.current) {
            stores.notifications.getState().notify(error, `Create ${body.name ?? 'sandbox'}`);
            return;
          }
          setSubmitError(AppError.from(error).message);
          setSubmitting(null);
        },
      );
  };

  return (
    <ModalDialog title="Create sandbox" onClose={onClose} className="create-dialog">
      <form ref={form} noValidate onSubmit={submit}>
        {loadError && (
          <p role="alert" className="error">
            Cannot read templates and limits: {loadError}
          </p>
        )}
        <Field label="Name" error={shown('name')} hint="Leave empty for a generated name">
          {({ id, describedBy, invalid }) => (
            <input
              id={id}
              type="text"
              autoComplete="off"
              spellCheck={false}
              value={fields.name}
              aria-invalid={invalid}
              aria-describedby={describedBy}
              onChange={change('name')}
              onBlur={blur('name')}
            />
          )}
        </Field>
        <Field label="Template" error={shown('template')} hint={templates?.find((template) => template.name === fields.template)?.description}>
          {({ id, describedBy, invalid }) => (
            <select id={id} value={fields.template} aria-invalid={invalid} aria-describedby={describedBy} onChange={change('template')} onBlur={blur('template')}>
              {!templates && <option value="">Loading…</option>}
              {templates?.map((template) => (
                <option key={template.name} value={template.name}>
                  {template.built ? template.name : `${template.name} (built on first use)`}
                </option>
              ))}
            </select>
          )}
        </Field>
        <div className="field-row">
          <Field label="vCPUs" error={shown('vcpus')} hint={limits ? `1-${limits.maxVcpusPerSandbox}; empty for the default` : 'Empty for the default'}>
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                type="number"
                inputMode="numeric"
                min={1}
                max={limits?.maxVcpusPerSandbox}
                value={fields.vcpus}
                placeholder="default"
                aria-invalid={invalid}
                aria-describedby={describedBy}
                onChange={change('vcpus')}
                onBlur={blur('vcpus')}
              />
            )}
          </Field>
          <Field
            label="Memory (MiB)"
            error={shown('memoryMiB')}
            hint={limits ? `${MIN_MEMORY_MIB}-${limits.maxMemoryMiBPerSandbox}; empty for the default` : 'Empty for the default'}
          >
            {({ id, describedBy, invalid }) => (
              <input
                id={id}
                type="number"
                inputMode="numeric"
                min={MIN_MEMORY_MIB}
                max={limits?.maxMemoryMiBPerSandbox}
                step={64}
                value={fields.memoryMiB}
                placeholder="default"
                aria-invalid={invalid}
                aria-describedby={describedBy}
                onChange={change('memoryMiB')}
                onBlur={blur('memoryMiB')}
              />
            )}
          </Field>
        </div>
        {submitError && (
          <p role="alert" className="error">
            {submitError}
          </p>
        )}
        {submitting !== null && <p role="status">{progress ? `Creating… ${progress}` : 'Creating…'}</p>}
        <div className="dialog-buttons">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={submitting !== null || templates === null}>
            Create
          </button>
        </div>
      </form>
    </ModalDialog>
  );
}
