import { z } from 'zod';
import { MicrovmClient, Sandbox, type ClientOptions, type SandboxInfo, type Snapshot } from '../../sdk/index.js';
import { MicrovmError } from '../../sdk/microvm-error.js';
import { SANDBOX_TOOLS, type ToolContext, type ToolOutput } from '../../sdk/tools/sandbox-tool-set.js';

/**
 * The MCP server's tools (docs/mcp.md), each a thin call through the TypeScript SDK to the
 * daemon: the in-sandbox tools of sandbox-tool-set.ts with a `sandbox_id` added, and the
 * lifecycle, snapshot and computer-use tools an AI client needs around them.
 */
export interface McpTool {
  name: string;
  title: string;
  description: string;
  input: z.ZodRawShape;
  /** Read-only tools are marked so clients may run them without asking. */
  readOnly?: boolean;
  /** Destroys or replaces state (destroy_sandbox, restore_snapshot). */
  destructive?: boolean;
  run(args: Record<string, unknown>, context: ToolContext): Promise<ToolOutput>;
}

const sandboxId = z.string().min(1).max(128).describe('The sandbox, by id or name (from create_sandbox or list_sandboxes).');
const coordinate = (axis: 'x' | 'y') => z.number().int().min(0).describe(`${axis === 'x' ? 'Horizontal' : 'Vertical'} screen pixel, from the ${axis === 'x' ? 'left' : 'top'} edge.`);

const text = (value: string, data: Record<string, unknown> = {}): ToolOutput => ({ text: value, data, images: [] });

function sandboxSummary(info: SandboxInfo): Record<string, unknown> {
  return {
    id: info.id,
    name: info.name,
    state: info.state,
    template: info.template,
    vcpus: info.vcpus,
    memory_mib: info.memoryMiB,
    ...(info.diskMiB === undefined ? {} : { disk_mib: info.diskMiB }),
    current_snapshot_id: info.currentSnapshotId,
  };
}

function snapshotSummary(snapshot: Snapshot): Record<string, unknown> {
  return { id: snapshot.id, name: snapshot.name, description: snapshot.description, parent_id: snapshot.parentId, created_at: snapshot.createdAt, current: snapshot.current };
}

export function sandboxMcpTools(client: ClientOptions): McpTool[] {
  const connect = (id: unknown) => Sandbox.connect(String(id), client);

  /** A snapshot of a sandbox by id or by its name there. */
  async function findSnapshot(sandbox: Sandbox, idOrName: string): Promise<Snapshot> {
    const snapshots = await sandbox.snapshots.list();
    const found = snapshots.find((s) => s.id === idOrName) ?? snapshots.find((s) => s.name === idOrName);
    if (!found) {
      const known = snapshots.map((s) => s.name).join(', ') || 'none yet';
      throw new MicrovmError('not_found', `snapshot: sandbox "${sandbox.name}" has no snapshot "${idOrName}" (its snapshots: ${known})`);
    }
    return found;
  }

  const inSandbox: McpTool[] = SANDBOX_TOOLS.map((tool) => ({
    name: tool.name,
    title: tool.title,
    description: tool.description,
    input: { sandbox_id: sandboxId, ...tool.input },
    readOnly: tool.name === 'read_file' || tool.name === 'list_files',
    async run(args, context) {
      const { sandbox_id, ...rest } = args;
      return tool.run(await connect(sandbox_id), rest, context);
    },
  }));

  const lifecycle: McpTool[] = [
    {
      name: 'create_sandbox',
      title: 'Create a sandbox',
      description:
        'Creates and starts a new sandbox (a Linux microVM) and waits until it is ready for commands. Templates: "ai-agent" (Debian 12 with python3, ' +
        'node, npm, git, build tools), "minimal" (busybox only, fastest), "desktop" (ai-agent plus a screen for screenshot/click/type). ' +
        'The sandbox has no network. Returns its id and name, which the other tools take as sandbox_id.',
      input: {
        name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a DNS label: 1-63 of a-z, 0-9 and -, not starting or ending with -').optional().describe('A name (DNS label); generated when omitted.'),
        template: z.string().min(1).max(64).optional().describe('Template name; the daemon default (ai-agent once built) when omitted.'),
        vcpus: z.number().int().min(1).max(64).optional().describe('Virtual CPUs (template default when omitted).'),
        memory_mib: z.number().int().min(64).optional().describe('Memory in MiB (template default when omitted).'),
        disk_mib: z.number().int().min(1).optional().describe('Disk size in MiB for templates with a disk.'),
      },
      async run(args, context) {
        const events = new AbortController();
        const name = args.name as string | undefined;
        // The daemon announces image builds and boot steps as events; they become progress.
        if (context.progress) {
          void new MicrovmClient(client)
            .events((event) => {
              if (event.type === 'progress' && (name === undefined || event.name === name)) context.progress!(`${event.step}: ${event.message}`);
            }, { signal: events.signal })
            .catch(() => undefined);
        }
        context.progress?.('creating the sandbox');
        try {
          const sandbox = await Sandbox.create({
            ...client,
            ...(name ? { name } : {}),
            ...(args.template ? { template: args.template as string } : {}),
            ...(args.vcpus ? { cpus: args.vcpus as number } : {}),
            ...(args.memory_mib ? { memoryMiB: args.memory_mib as number } : {}),
            ...(args.disk_mib ? { diskMiB: args.disk_mib as number } : {}),
          });
          const summary = sandboxSummary(sandbox.info);
          return text(`created sandbox "${sandbox.name}" (id ${sandbox.id}, template ${sandbox.info.template}); it is running`, summary);
        } finally {
          events.abort();
        }
      },
    },
    {
      name: 'list_sandboxes',
      title: 'List sandboxes',
      description: 'Lists every sandbox on this machine with its id, name, state (running, paused, stopped, ...) and template.',
      input: {},
      readOnly: true,
      async run() {
        const list = await Sandbox.list(client);
        const lines = list.map((s) => `${s.name}  ${s.state}  ${s.template}  ${s.id}`);
        return text(lines.length ? lines.join('\n') : 'no sandboxes', { sandboxes: list.map(sandboxSummary) });
      },
    },
    {
      name: 'destroy_sandbox',
      title: 'Destroy a sandbox',
      description: 'Stops the sandbox and deletes it with its disk. Its snapshots go too. This cannot be undone.',
      input: { sandbox_id: sandboxId },
      destructive: true,
      async run(args) {
        const sandbox = await connect(args.sandbox_id);
        await sandbox.destroy();
        return text(`destroyed sandbox "${sandbox.name}"`, { id: sandbox.id, name: sandbox.name });
      },
    },
  ];

  const snapshots: McpTool[] = [
    {
      name: 'snapshot_sandbox',
      title: 'Snapshot a sandbox',
      description:
        'Saves the whole state of a running sandbox (memory, processes, files) as a snapshot, to come back to later with restore_snapshot ' +
        'or to branch from with fork_sandbox. Take one before a risky step.',
      input: {
        sandbox_id: sandboxId,
        name: z.string().min(1).max(64).optional().describe('Unique per sandbox (letters, digits, spaces, . _ -); snap-N when omitted.'),
        description: z.string().max(1000).optional().describe('What this state is, for later.'),
      },
      async run(args, context) {
        const sandbox = await connect(args.sandbox_id);
        context.progress?.('capturing memory and disk');
        const taken = await sandbox.snapshots.create({
          ...(args.name ? { name: args.name as string } : {}),
          ...(args.description ? { description: args.description as string } : {}),
        });
        const note = taken.retentionNote ? ` (${taken.retentionNote})` : '';
        return text(`took snapshot "${taken.snapshot.name}" (id ${taken.snapshot.id}) of sandbox "${sandbox.name}"${note}`, snapshotSummary(taken.snapshot));
      },
    },
    {
      name: 'list_snapshots',
      title: 'List snapshots',
      description: "Lists a sandbox's snapshots, oldest first, with parents (they form a tree) and which one the sandbox's current state descends from.",
      input: { sandbox_id: sandboxId },
      readOnly: true,
      async run(args) {
        const sandbox = await connect(args.sandbox_id);
        const tree = await sandbox.snapshots.tree();
        const lines = tree.snapshots.map((s) => `${s.current ? '* ' : '  '}${s.name}  ${s.id}  ${s.createdAt}${s.description ? `  ${s.description}` : ''}`);
        return text(lines.length ? lines.join('\n') : `sandbox "${sandbox.name}" has no snapshots`, { current: tree.current, snapshots: tree.snapshots.map(snapshotSummary) });
      },
    },
    {
      name: 'restore_snapshot',
      title: 'Restore a snapshot',
      description:
        'Puts a sandbox back to a snapshot of it: memory, processes and files as they were then. Everything since is lost unless it was snapshotted.',
      input: { sandbox_id: sandboxId, snapshot: z.string().min(1).max(128).describe('The snapshot, by id or by name.') },
      destructive: true,
      async run(args, context) {
        const sandbox = await connect(args.sandbox_id);
        const snapshot = await findSnapshot(sandbox, args.snapshot as string);
        context.progress?.(`restoring "${snapshot.name}"`);
        const info = await sandbox.snapshots.restore(snapshot);
        return text(`sandbox "${info.name}" is back at snapshot "${snapshot.name}" and ${info.state}`, sandboxSummary(info));
      },
    },
    {
      name: 'fork_sandbox',
      title: 'Fork a sandbox',
      description:
        'Starts new sandboxes from a snapshot, each an independent copy of that state running beside the original (to try alternatives in parallel). ' +
        'Give the snapshot, or omit it to snapshot the sandbox now and fork that.',
      input: {
        sandbox_id: sandboxId,
        snapshot: z.string().min(1).max(128).optional().describe('The snapshot, by id or name; a new snapshot of the current state when omitted.'),
        count: z.number().int().min(1).max(16).optional().describe('How many copies (default 1).'),
      },
      async run(args, context) {
        const sandbox = await connect(args.sandbox_id);
        const snapshot = args.snapshot ? await findSnapshot(sandbox, args.snapshot as string) : (await sandbox.snapshots.create({ description: 'taken by fork_sandbox' })).snapshot;
        context.progress?.(`forking "${snapshot.name}"`);
        const forks = await sandbox.snapshots.fork(snapshot, { count: (args.count as number | undefined) ?? 1 });
        return text(`forked snapshot "${snapshot.name}" of "${sandbox.name}" into: ${forks.map((f) => `${f.name} (id ${f.id})`).join(', ')}`, {
          snapshot: snapshotSummary(snapshot),
          sandboxes: forks.map(sandboxSummary),
        });
      },
    },
  ];

  const act = async (args: Record<string, unknown>, action: Parameters<Sandbox['computer']['act']>[0], done: string): Promise<ToolOutput> => {
    await (await connect(args.sandbox_id)).computer.act(action);
    return text(done);
  };
  const point = (args: Record<string, unknown>) => (args.x === undefined ? {} : { x: args.x as number, y: args.y as number });
  const bothOrNeither = (args: Record<string, unknown>) => {
    if ((args.x === undefined) !== (args.y === undefined)) throw new MicrovmError('invalid_argument', 'x, y: give both or neither (neither acts where the pointer is)');
  };
  const computer: McpTool[] = [
    {
      name: 'screenshot',
      title: 'Take a screenshot',
      description: 'The screen of a sandbox with a display (template "desktop") as a PNG image. Coordinates for click and the others are pixels in this image.',
      input: { sandbox_id: sandboxId },
      readOnly: true,
      async run(args) {
        const shot = await (await connect(args.sandbox_id)).computer.screenshot();
        return { text: `screenshot ${shot.width}x${shot.height}`, data: { width: shot.width, height: shot.height }, images: [{ data: shot.png.toString('base64'), mimeType: 'image/png' }] };
      },
    },
    {
      name: 'click',
      title: 'Click',
      description: 'Clicks a mouse button at x,y on the screen (or where the pointer is when x and y are omitted). double: true for a double click.',
      input: {
        sandbox_id: sandboxId,
        x: coordinate('x').optional(),
        y: coordinate('y').optional(),
        button: z.enum(['left', 'right', 'middle']).optional().describe('Default left.'),
        double: z.boolean().optional().describe('A double click.'),
      },
      async run(args) {
        bothOrNeither(args);
        const where = args.x === undefined ? 'at the pointer' : `at ${String(args.x)},${String(args.y)}`;
        return act(args, { action: 'click', ...point(args), button: (args.button as 'left' | 'right' | 'middle' | undefined) ?? 'left', count: args.double ? 2 : 1 }, `clicked ${where}`);
      },
    },
    {
      name: 'move',
      title: 'Move the pointer',
      description: 'Moves the mouse pointer to x,y without clicking (hover).',
      input: { sandbox_id: sandboxId, x: coordinate('x'), y: coordinate('y') },
      async run(args) {
        return act(args, { action: 'mouse_move', x: args.x as number, y: args.y as number }, `moved the pointer to ${String(args.x)},${String(args.y)}`);
      },
    },
    {
      name: 'drag',
      title: 'Drag',
      description: 'Presses the left button at the first point, moves through the others and releases at the last (drag and drop, selecting text).',
      input: {
        sandbox_id: sandboxId,
        path: z.array(z.object({ x: coordinate('x'), y: coordinate('y') })).min(2).max(64).describe('2-64 points: from, (through), to.'),
      },
      async run(args) {
        const path = args.path as { x: number; y: number }[];
        return act(args, { action: 'drag', path }, `dragged from ${path[0]!.x},${path[0]!.y} to ${path.at(-1)!.x},${path.at(-1)!.y}`);
      },
    },
    {
      name: 'scroll',
      title: 'Scroll',
      description: 'Turns the mouse wheel at x,y (or at the pointer): amount clicks (default 3) up, down, left or right.',
      input: {
        sandbox_id: sandboxId,
        direction: z.enum(['up', 'down', 'left', 'right']),
        amount: z.number().int().min(1).max(50).optional(),
        x: coordinate('x').optional(),
        y: coordinate('y').optional(),
      },
      async run(args) {
        bothOrNeither(args);
        const amount = (args.amount as number | undefined) ?? 3;
        return act(args, { action: 'scroll', direction: args.direction as 'up', amount, ...point(args) }, `scrolled ${String(args.direction)} by ${amount}`);
      },
    },
    {
      name: 'type',
      title: 'Type text',
      description: 'Types text with the keyboard into the focused window ("\\n" presses Enter). Click the target first to focus it.',
      input: { sandbox_id: sandboxId, text: z.string().min(1).max(4096) },
      async run(args) {
        return act(args, { action: 'type', text: args.text as string }, `typed ${(args.text as string).length} characters`);
      },
    },
    {
      name: 'key',
      title: 'Press keys',
      description:
        'Presses keys or key combinations, in order, by X key name: "Return", "Escape", "Tab", "BackSpace", "Delete", "Up", "F5", "ctrl+c", "ctrl+shift+t", "alt+F4", "a".',
      input: { sandbox_id: sandboxId, keys: z.array(z.string().min(1).max(64)).min(1).max(32).describe('One entry per key press; combinations joined with +.') },
      async run(args) {
        const keys = args.keys as string[];
        return act(args, { action: 'key', keys }, `pressed ${keys.join(', ')}`);
      },
    },
    {
      name: 'get_display_url',
      title: 'Get a display URL',
      description:
        'A link that shows the sandbox\'s screen live in a web browser (the app\'s Display tab), for a human to watch or take over. It opens once, within five minutes.',
      input: { sandbox_id: sandboxId },
      readOnly: true,
      async run(args) {
        const link = await (await connect(args.sandbox_id)).computer.displayLink();
        return text(`${link.url}\n(opens once, until ${link.expiresAt})`, { url: link.url, expires_at: link.expiresAt });
      },
    },
  ];

  return [...lifecycle, ...inSandbox, ...snapshots, ...computer];
}
