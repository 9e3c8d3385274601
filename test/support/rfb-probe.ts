/**
 * Just enough of an RFB (VNC) client to prove a display stream works end to end: the
 * 3.8 handshake with security "None", ServerInit, and one full FramebufferUpdate in Raw
 * encoding. `send` writes bytes to the server; `receive` resolves with the next `count`
 * bytes (however they were split into messages).
 */
export interface ByteChannel {
  send(bytes: Buffer): void;
  receive(count: number): Promise<Buffer>;
}

export function byteChannel(send: (bytes: Buffer) => void, subscribe: (onBytes: (bytes: Buffer) => void) => void): ByteChannel {
  let buffered = Buffer.alloc(0);
  let waiting: { count: number; resolve: (bytes: Buffer) => void } | null = null;
  const deliver = () => {
    if (waiting && buffered.length >= waiting.count) {
      const { count, resolve } = waiting;
      waiting = null;
      const out = buffered.subarray(0, count);
      buffered = buffered.subarray(count);
      resolve(Buffer.from(out));
    }
  };
  subscribe((bytes) => {
    buffered = Buffer.concat([buffered, bytes]);
    deliver();
  });
  return {
    send,
    receive(count) {
      return new Promise((resolve) => {
        waiting = { count, resolve };
        deliver();
      });
    },
  };
}

export interface FramebufferProbe {
  version: string;
  width: number;
  height: number;
  name: string;
  /** Distinct colours in the first full update (1 means a blank screen). */
  colours: number;
}

/** Handshakes, asks for the whole screen once (Raw, 32 bpp) and counts its colours. */
export async function probeFramebuffer(channel: ByteChannel): Promise<FramebufferProbe> {
  const version = (await channel.receive(12)).toString('latin1');
  if (!/^RFB 003\.00\d\n$/.test(version)) throw new Error(`not an RFB server: ${JSON.stringify(version)}`);
  channel.send(Buffer.from('RFB 003.008\n', 'latin1'));
  const count = (await channel.receive(1))[0]!;
  if (count === 0) throw new Error('the server refused the connection');
  const types = [...(await channel.receive(count))];
  if (!types.includes(1)) throw new Error(`the server wants authentication (security types ${types.join(', ')})`);
  channel.send(Buffer.of(1));
  const result = (await channel.receive(4)).readUInt32BE(0);
  if (result !== 0) throw new Error('security handshake failed');
  channel.send(Buffer.of(1)); // ClientInit: shared
  const init = await channel.receive(24);
  const width = init.readUInt16BE(0);
  const height = init.readUInt16BE(2);
  const name = (await channel.receive(init.readUInt32BE(20))).toString('utf8');
  // SetPixelFormat: 32 bpp, depth 24, little endian, true colour, 8 bits per channel at 16/8/0.
  const format = Buffer.alloc(20);
  format[0] = 0;
  format.set([32, 24, 0, 1], 4);
  format.writeUInt16BE(255, 8);
  format.writeUInt16BE(255, 10);
  format.writeUInt16BE(255, 12);
  format.set([16, 8, 0], 14);
  channel.send(format);
  // SetEncodings: Raw only.
  const encodings = Buffer.alloc(8);
  encodings[0] = 2;
  encodings.writeUInt16BE(1, 2);
  encodings.writeInt32BE(0, 4);
  channel.send(encodings);
  // FramebufferUpdateRequest, not incremental, the whole screen.
  const request = Buffer.alloc(10);
  request[0] = 3;
  request[1] = 0;
  request.writeUInt16BE(width, 6);
  request.writeUInt16BE(height, 8);
  channel.send(request);
  const colours = new Set<number>();
  for (;;) {
    const type = (await channel.receive(1))[0]!;
    if (type === 2) continue; // Bell
    if (type === 3) {
      await channel.receive(3);
      await channel.receive((await channel.receive(4)).readUInt32BE(0)); // ServerCutText
      continue;
    }
    if (type !== 0) throw new Error(`unexpected server message type ${type}`);
    const header = await channel.receive(3);
    const rects = header.readUInt16BE(1);
    for (let r = 0; r < rects; r++) {
      const rect = await channel.receive(12);
      const w = rect.readUInt16BE(4);
      const h = rect.readUInt16BE(6);
      const encoding = rect.readInt32BE(8);
      if (encoding !== 0) throw new Error(`unexpected encoding ${encoding}`);
      const pixels = await channel.receive(w * h * 4);
      for (let i = 0; i < pixels.length && colours.size < 1000; i += 4) colours.add(pixels.readUInt32LE(i) & 0xffffff);
    }
    return { version: version.trim(), width, height, name, colours: colours.size };
  }
}
