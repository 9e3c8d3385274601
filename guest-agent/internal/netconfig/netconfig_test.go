package netconfig

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	c, err := Parse("10.213.0.5/24,10.213.0.1,10.213.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != "10.213.0.5/24,10.213.0.1,10.213.0.1" || c.Prefix != 24 || !c.Gateway.Equal(net.IPv4(10, 213, 0, 1)) {
		t.Fatalf("parsed %+v", c)
	}
	if c, err = Parse("10.0.2.15/24,10.0.2.2,10.0.2.3"); err != nil || !c.DNS.Equal(net.IPv4(10, 0, 2, 3)) {
		t.Fatalf("user mode: %+v %v", c, err)
	}
}

func TestParseRefuses(t *testing.T) {
	for value, want := range map[string]string{
		"":                                "want ADDRESS/PREFIX,GATEWAY,DNS",
		"10.0.0.2/24,10.0.0.1":            "want ADDRESS/PREFIX,GATEWAY,DNS",
		"10.0.0.2,10.0.0.1,10.0.0.1":      "not an IPv4 address with a prefix length",
		"fd00::2/64,10.0.0.1,10.0.0.1":    "not an IPv4 address with a prefix length",
		"10.0.0.2/31,10.0.0.1,10.0.0.1":   "leaves no room for a gateway",
		"10.0.0.2/24,10.0.0.x,10.0.0.1":   `"10.0.0.x" is not an IPv4 address`,
		"10.0.0.2/24,10.0.0.1,":           `"" is not an IPv4 address`,
		"10.0.0.2/24,10.0.1.1,10.0.0.1":   "the gateway 10.0.1.1 is outside 10.0.0.0/24",
		"10.0.0.2/24,10.0.0.1,10.0.0.1,x": "want ADDRESS/PREFIX,GATEWAY,DNS",
	} {
		if _, err := Parse(value); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", value, err, want)
		}
	}
}

func TestWriteResolvConfReplacesASymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "resolver.conf")
	if err := os.WriteFile(target, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "etc", "resolv.conf")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := WriteResolvConf(path, net.IPv4(10, 0, 2, 3)); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "nameserver 10.0.2.3\n" {
		t.Fatalf("resolv.conf = %q", got)
	}
	if kept, _ := os.ReadFile(target); string(kept) != "nameserver 127.0.0.53\n" {
		t.Fatalf("the symlink's target was written: %q", kept)
	}
}
