package listen

import "testing"

func TestParse(t *testing.T) {
	for spec, want := range map[string]string{
		"stdio":         "stdio",
		"unix:/run/a":   "unix:/run/a",
		"virtio-serial": "virtio-serial",
		"vsock:1024":    "vsock:1024",
	} {
		l, err := Parse(spec, nil)
		if err != nil || l.String() != want {
			t.Errorf("Parse(%q) = %v, %v", spec, l, err)
		}
	}
	for _, bad := range []string{"", "unix:", "vsock:", "vsock:x", "tcp:1", "virtio"} {
		if _, err := Parse(bad, nil); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
