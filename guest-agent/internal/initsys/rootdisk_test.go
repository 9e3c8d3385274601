//go:build linux

package initsys

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseExt4Superblock(t *testing.T) {
	sb := make([]byte, 1024)
	le := binary.LittleEndian
	le.PutUint16(sb[0x38:], ext4Magic)
	le.PutUint32(sb[0x04:], 65536)
	le.PutUint32(sb[0x18:], 2) // 4096-byte blocks
	blocks, size, err := parseExt4Superblock(sb)
	if err != nil || blocks != 65536 || size != 4096 {
		t.Fatalf("got %d blocks of %d: %v", blocks, size, err)
	}
	// The high half counts only with the 64bit feature.
	le.PutUint32(sb[0x150:], 1)
	if blocks, _, _ := parseExt4Superblock(sb); blocks != 65536 {
		t.Fatalf("high half used without 64bit: %d", blocks)
	}
	le.PutUint32(sb[0x60:], ext4Incompat64)
	if blocks, _, _ := parseExt4Superblock(sb); blocks != 1<<32+65536 {
		t.Fatalf("64bit count %d", blocks)
	}
	le.PutUint16(sb[0x38:], 0)
	if _, _, err := parseExt4Superblock(sb); err == nil {
		t.Fatal("accepted a superblock without the ext4 magic")
	}
}

// The superblock of a file system mke2fs made, as the host's image builder makes them.
func TestExt4BlocksOfARealImage(t *testing.T) {
	mke2fs, err := exec.LookPath("mke2fs")
	if err != nil {
		t.Skip("no mke2fs")
	}
	img := filepath.Join(t.TempDir(), "rootfs.ext4")
	if out, err := exec.Command(mke2fs, "-q", "-F", "-t", "ext4", "-L", "rootfs", img, "64M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs: %v %s", err, out)
	}
	blocks, size, err := ext4Blocks(img)
	if err != nil || blocks*size != 64<<20 {
		t.Fatalf("got %d blocks of %d: %v", blocks, size, err)
	}
}

func TestParseMountPoints(t *testing.T) {
	info := `22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
23 1 0:22 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=4k,mode=755
24 23 0:23 / /dev/pts rw shared:3 - devpts devpts rw
25 1 0:24 / /mnt/with\040space rw - tmpfs tmpfs rw
`
	points := parseMountPoints(strings.NewReader(info))
	for _, p := range []string{"/proc", "/dev", "/dev/pts", "/mnt/with space"} {
		if !points[p] {
			t.Errorf("%s missing from %v", p, points)
		}
	}
	if points["/sys"] {
		t.Error("/sys is not mounted")
	}
	if got := unescapeMountPath(`a\134b\040`); got != `a\b ` {
		t.Errorf("unescape %q", got)
	}
}

// removeTree deletes only what lies on the given device.
func TestRemoveTreeStaysOnItsDevice(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("x"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		t.Fatal(err)
	}
	removeTree(dir, st.Dev+1)
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("another device's files were removed: %v", entries)
	}
	removeTree(dir, st.Dev)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("left %v", entries)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatal("followed a symlink")
	}
}

// The second stage of a disk boot is accepted only as PID 1 of a VM whose kernel
// command line asked for it; the variable alone grants nothing, and is not inherited.
func TestSwitchedRootIsNoPass(t *testing.T) {
	t.Setenv(switchedRootEnv, "1")
	if m, err := Qualify(); m != nil || err == nil {
		t.Fatal("Qualify accepted a test process as init")
	}
	if v, set := os.LookupEnv(switchedRootEnv); set {
		t.Fatalf("%s left set (%q)", switchedRootEnv, v)
	}
}
