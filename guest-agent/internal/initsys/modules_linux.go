package initsys

import (
	"bufio"
	"errors"
	"log"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

// modulesList names the kernel modules the image needs (virtio transports, vsock),
// one absolute path per line, in load order: there is no modprobe or depmod in the
// guest, so the image builder resolves dependencies.
const modulesList = "/etc/microvm/modules.load"

// moduleInitCompressedFile (MODULE_INIT_COMPRESSED_FILE) lets the kernel decompress
// .ko.xz/.ko.zst/.ko.gz itself, as distribution kernels ship them compressed.
const moduleInitCompressedFile = 4

func loadModules(l *log.Logger, list string) {
	f, err := os.Open(list)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			l.Printf("init: %v", err)
		}
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		path := strings.TrimSpace(sc.Text())
		if path == "" || strings.HasPrefix(path, "#") {
			continue
		}
		if err := loadModule(path); err != nil {
			l.Printf("init: load module %s: %v", path, err)
		}
	}
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var flags uintptr
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		if strings.HasSuffix(path, ext) {
			flags = moduleInitCompressedFile
		}
	}
	params := []byte{0}
	_, _, e := syscall.Syscall(sysFinitModule, f.Fd(), uintptr(unsafe.Pointer(&params[0])), flags)
	if e != 0 && e != syscall.EEXIST {
		return e
	}
	return nil
}
