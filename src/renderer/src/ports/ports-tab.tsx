import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import type { PortForward } from '../../../shared/api/port-schemas';
import { AppError } from '../../../shared/app-contract';
import { useAppServices } from '../app/app-services';
import type { ListedSandbox } from '../stores/sandboxes-store';
import { portFieldProblem, portFieldValue } from './port-fields';

type Outcome = { tone: 'done' | 'failed'; message: string };

function hostOf(forward: PortForward): string {
  return `${forward.address.includes(':') ? `[${forward.address}]` : forward.address}:${forward.hostPort}`;
}

/**
 * The sandbox's port forwards, host → guest: each listens on a host port (127.0.0.1) and
 * reaches the guest's 127.0.0.1 through the agent, whatever the sandbox's network mode.
 * Listed with a link to open, added from a guest port (and a host port, or any free one),
 * removed one by one.
 */
export function PortsTab({ sandbox }: { sandbox: ListedSandbox }) {
  const { api } = useAppServices();
  const id = sandbox.id;
  const [forwards, setForwards] = useState<PortForward[] | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [guestPort, setGuestPort] = useState('');
  const [hostPort, setHostPort] = useState('');
  const [problems, setProblems] = useState<{ guest: string | null; host: string | null }>({ guest: null, host: null });
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [working, setWorking] = useState(false);
  const guestProblemId = useId();
  const hostProblemId = useId();

  const load = useCallback(async () => {
    try {
      setForwards(await api.listPorts(id));
      setLoadError(null);
    } catch (error) {
      setLoadError(AppError.from(error).message);
    }
  }, [api, id]);

  useEffect(() => {
    setForwards(null);
    setOutcome(null);
    void load();
  }, [load]);

  const act = async (work: () => Promise<string>) => {
    setWorking(true);
    try {
      setOutcome({ tone: 'done', message: await work() });
      return true;
    } catch (error) {
      setOutcome({ tone: 'failed', message: AppError.from(error).message });
      return false;
    } finally {
      setWorking(false);
      await load();
    }
  };

  const add = async (event: FormEvent) => {
    event.preventDefault();
    const found = { guest: portFieldProblem(guestPort, { optional: false }), host: portFieldProblem(hostPort, { optional: true }) };
    setProblems(found);
    if (found.guest || found.host) return;
    const wantedHost = portFieldValue(hostPort);
    const added = await act(async () => {
      const forward = await api.addPort(id, { guestPort: Number(guestPort.trim()), ...(wantedHost === undefined ? {} : { hostPort: wantedHost }) });
      return `Forwarding ${hostOf(forward)} to guest port ${forward.guestPort}.`;
    });
    if (added) {
      setGuestPort('');
      setHostPort('');
    }
  };

  const remove = (forward: PortForward) =>
    void act(async () => {
      await api.removePort(id, forward.hostPort);
      return `Removed the forward on ${hostOf(forward)}.`;
    });

  return (
    <div className="ports-tab">
      <form className="inline-form" noValidate onSubmit={(event) => void add(event)}>
        <PortInput label="Guest port" placeholder="8000" value={guestPort} problemId={problems.guest ? guestProblemId : undefined} onChange={setGuestPort} />
        <PortInput label="Host port" placeholder="any" value={hostPort} problemId={problems.host ? hostProblemId : undefined} onChange={setHostPort} />
        <button type="submit" className="small primary" disabled={working}>
          Add forward
        </button>
        {problems.guest && (
          <span id={guestProblemId} className="field-error">
            {problems.guest}
          </span>
        )}
        {problems.host && (
          <span id={hostProblemId} className="field-error">
            {problems.host}
          </span>
        )}
      </form>
      <p className="activity">
        Forwards listen on this machine&apos;s 127.0.0.1 and reach the sandbox&apos;s 127.0.0.1 through its agent, in every network mode. They end when removed, when
        the sandbox is deleted, or when the daemon stops.
        {sandbox.state !== 'running' && ` While ${sandbox.name} is ${sandbox.state}, connections to them are closed at once.`}
      </p>
      <p role="status" className="activity">
        {outcome?.tone === 'done' ? outcome.message : ''}
      </p>
      {outcome?.tone === 'failed' && (
        <p role="alert" className="error">
          {outcome.message}
        </p>
      )}
      {loadError && (
        <p role="alert" className="error">
          Cannot read the port forwards: {loadError}
        </p>
      )}
      {!forwards && !loadError && <p className="placeholder">Loading port forwards…</p>}
      {forwards?.length === 0 && <p className="placeholder">No port forwards. Add one to reach a server running in the sandbox, e.g. python3 -m http.server 8000.</p>}
      {forwards && forwards.length > 0 && (
        <table className="grid-table" aria-label="Port forwards">
          <thead>
            <tr>
              <th scope="col">Host</th>
              <th scope="col" className="numeric">
                Guest port
              </th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {forwards.map((forward) => (
              <tr key={forward.hostPort}>
                <td>
                  <a href={forward.url} target="_blank" rel="noreferrer">
                    {hostOf(forward)}
                  </a>
                </td>
                <td className="numeric">{forward.guestPort}</td>
                <td className="cell-actions">
                  <button type="button" className="small danger" disabled={working} aria-label={`Remove the forward on host port ${forward.hostPort}`} onClick={() => remove(forward)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** A port number field; `problemId` names the message that says what is wrong with it, when something is. */
function PortInput({ label, placeholder, value, problemId, onChange }: { label: string; placeholder: string; value: string; problemId: string | undefined; onChange: (value: string) => void }) {
  return (
    <label>
      {label}{' '}
      <input
        type="text"
        inputMode="numeric"
        className="port-field"
        placeholder={placeholder}
        value={value}
        aria-invalid={problemId !== undefined}
        aria-describedby={problemId}
        onChange={(event) => onChange(event.target.value)}
      />
    </label>
  );
}
