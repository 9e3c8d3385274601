import { open, type FileHandle } from 'node:fs/promises';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/**
 * Writes an initramfs in the kernel's "newc" cpio format. Written here rather than by
 * running cpio(1) so the image holds device nodes and root ownership without the build
 * running as root, and so the archive is byte-for-byte reproducible (fixed mtimes).
 */
export class CpioNewcWriter {
  private nextInode = 1;
  private offset = 0;

  private constructor(private readonly handle: FileHandle) {}

  static async create(path: string): Promise<CpioNewcWriter> {
    return new CpioNewcWriter(await open(path, 'w', 0o644));
  }

  directory(path: string, mode = 0o755): Promise<void> {
    return this.entry(path, S_IFDIR | mode, Buffer.alloc(0), 2);
  }

  file(path: string, data: Buffer, mode = 0o644): Promise<void> {
    return this.entry(path, S_IFREG | mode, data);
  }

  symlink(path: string, target: string): Promise<void> {
    return this.entry(path, S_IFLNK | 0o777, Buffer.from(target));
  }

  charDevice(path: string, mode: number, major: number, minor: number): Promise<void> {
    return this.entry(path, S_IFCHR | mode, Buffer.alloc(0), 1, major, minor);
  }

  async close(): Promise<void> {
    await this.entry('TRAILER!!!', 0, Buffer.alloc(0), 1, 0, 0, 0);
    await this.handle.close();
  }

  private async entry(
    path: string,
    mode: number,
    data: Buffer,
    nlink = 1,
    rdevMajor = 0,
    rdevMinor = 0,
    inode = this.nextInode++,
  ): Promise<void> {
    const name = Buffer.from(`${path.replace(/^\/+/, '')}\0`);
    const fields = [inode, mode, 0, 0, nlink, 0, data.length, 0, 0, rdevMajor, rdevMinor, name.length, 0];
    const header = Buffer.from(`070701${fields.map((n) => n.toString(16).padStart(8, '0')).join('')}`);
    await this.write(Buffer.concat([header, name]));
    await this.pad();
    await this.write(data);
    await this.pad();
  }

  private async write(buf: Buffer): Promise<void> {
    if (buf.length === 0) return;
    await this.handle.write(buf);
    this.offset += buf.length;
  }

  private async pad(): Promise<void> {
    const rem = this.offset % 4;
    if (rem) await this.write(Buffer.alloc(4 - rem));
  }
}
