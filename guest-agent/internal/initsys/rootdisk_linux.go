package initsys

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

const (
	// rootParam names the root disk (microvm.root=/dev/vda); rootFstypeParam its file
	// system, ext4 when absent.
	rootParam       = "microvm.root"
	rootFstypeParam = "microvm.rootfstype"
	// newRoot is where the initramfs mounts the disk before making it /.
	newRoot = "/newroot"
	// diskAgent is the agent on the root disk, exec'd as the disk's init.
	diskAgent = "/usr/bin/microvm-agent"
	// rootDeviceWait bounds the wait for the disk's device node: virtio_blk has just been
	// loaded and probes asynchronously.
	rootDeviceWait = 30 * time.Second
)

// movedMounts are handed from the initramfs to the root disk as they are (MS_MOVE), so
// the disk's init finds them mounted; /dev/pts moves with /dev.
var movedMounts = []string{"/dev", "/proc", "/sys", "/run", "/tmp"}

const (
	ramfsMagic = 0x858458f6
	tmpfsMagic = 0x01021994
	ext4Magic  = 0xef53

	// _IOR(0x12, 114, size_t) and _IOW('f', 16, __u64).
	blkGetSize64   = 0x80081272
	ext4ResizeFs   = 0x40086610
	ext4Incompat64 = 0x80
)

// switchRoot makes the disk the root file system, as switch_root(8) does: mount it,
// move the kernel file systems onto it, delete the initramfs's files (their memory is
// freed once nothing uses them), make the disk / and exec the disk's agent with the same
// arguments. It returns only when something failed; failures before the mounts move
// leave the initramfs as it was.
func (m *Machine) switchRoot(l *log.Logger, dev string) error {
	fstype, _ := m.param(rootFstypeParam)
	if fstype == "" {
		fstype = "ext4"
	}
	if err := waitForDevice(dev, rootDeviceWait); err != nil {
		return err
	}
	if err := os.MkdirAll(newRoot, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount(dev, newRoot, fstype, 0, ""); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %v", dev, fstype, newRoot, err)
	}
	if fi, err := os.Stat(newRoot + diskAgent); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		_ = syscall.Unmount(newRoot, 0)
		return fmt.Errorf("the disk has no executable %s", diskAgent)
	}
	for _, dir := range movedMounts {
		target := newRoot + dir
		if err := os.MkdirAll(target, 0o755); err != nil {
			l.Printf("init: mkdir %s: %v", target, err)
			continue
		}
		if err := syscall.Mount(dir, target, "", syscall.MS_MOVE, ""); err != nil {
			l.Printf("init: move %s to the root disk: %v", dir, err)
		}
	}
	if err := os.Chdir(newRoot); err != nil {
		return err
	}
	freeInitramfs(l)
	if err := syscall.Mount(".", "/", "", syscall.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %v", newRoot, err)
	}
	if err := syscall.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %v", err)
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	env := append(os.Environ(), switchedRootEnv+"=1")
	return fmt.Errorf("exec %s: %v", diskAgent, syscall.Exec(diskAgent, os.Args, env))
}

func waitForDevice(dev string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		_, err := os.Stat(dev)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s: %v", dev, limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeInitramfs deletes the files of the initramfs (the current /), staying on its
// device so the disk mounted below it is never touched; it does nothing unless / is a
// ramfs or tmpfs.
func freeInitramfs(l *log.Logger) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/", &fs); err != nil || (int64(fs.Type) != ramfsMagic && int64(fs.Type) != tmpfsMagic) {
		l.Printf("init: / is not an initramfs (type %#x): its files are kept", fs.Type)
		return
	}
	var root syscall.Stat_t
	if err := syscall.Lstat("/", &root); err != nil {
		return
	}
	removeTree("/", root.Dev)
}

func removeTree(dir string, dev uint64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			removeTree(p, dev)
			_ = syscall.Rmdir(p)
		} else {
			_ = syscall.Unlink(p)
		}
	}
}

// growRoot grows the root file system online to the size of its device: the host
// creates each sandbox's disk at the requested size over an image sized to its content.
// It is what resize2fs does for a mounted ext4 (EXT4_IOC_RESIZE_FS), so the disk needs
// no e2fsprogs; when the file system already fills the device nothing is written.
func growRoot(l *log.Logger, dev string) {
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/", &fs); err != nil || fs.Type != ext4Magic {
		return
	}
	size, err := deviceBytes(dev)
	if err != nil {
		l.Printf("init: size of %s: %v", dev, err)
		return
	}
	blocks, blockSize, err := ext4Blocks(dev)
	if err != nil {
		l.Printf("init: %s: %v", dev, err)
		return
	}
	want := size / blockSize
	if want <= blocks {
		return
	}
	started := time.Now()
	if err := resizeExt4("/", want); err != nil {
		l.Printf("init: growing / from %d to %d MiB: %v", blocks*blockSize>>20, want*blockSize>>20, err)
		return
	}
	l.Printf("init: grew / from %d to %d MiB in %d ms", blocks*blockSize>>20, want*blockSize>>20, time.Since(started).Milliseconds())
}

func deviceBytes(dev string) (uint64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var size uint64
	if err := ioctl(int(f.Fd()), blkGetSize64, unsafe.Pointer(&size)); err != nil {
		return 0, err
	}
	return size, nil
}

// ext4Blocks reads the block count and block size from the ext4 superblock (1024 bytes
// into the device); the kernel updates it through the same block device cache.
func ext4Blocks(dev string) (blocks, blockSize uint64, err error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return 0, 0, err
	}
	return parseExt4Superblock(sb)
}

func parseExt4Superblock(sb []byte) (blocks, blockSize uint64, err error) {
	le := binary.LittleEndian
	if len(sb) < 0x158 || le.Uint16(sb[0x38:]) != ext4Magic {
		return 0, 0, errors.New("no ext4 superblock")
	}
	logSize := le.Uint32(sb[0x18:])
	if logSize > 6 {
		return 0, 0, fmt.Errorf("ext4 superblock: bad block size 2^%d KiB", logSize)
	}
	blocks = uint64(le.Uint32(sb[0x04:]))
	if le.Uint32(sb[0x60:])&ext4Incompat64 != 0 {
		blocks |= uint64(le.Uint32(sb[0x150:])) << 32
	}
	return blocks, 1024 << logSize, nil
}

func resizeExt4(mountPoint string, blocks uint64) error {
	f, err := os.Open(mountPoint)
	if err != nil {
		return err
	}
	defer f.Close()
	n := blocks
	return ioctl(int(f.Fd()), ext4ResizeFs, unsafe.Pointer(&n))
}

// mountPoints lists what is mounted (from /proc/self/mountinfo), so the second stage of
// a disk boot does not stack a second devtmpfs or sysfs over the moved ones.
func mountPoints() map[string]bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseMountPoints(f)
}

func parseMountPoints(r io.Reader) map[string]bool {
	points := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			points[unescapeMountPath(fields[4])] = true
		}
	}
	return points
}

// unescapeMountPath undoes the kernel's octal escapes (\040 for a space) in mountinfo.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
