// Package netconfig brings up the guest's one network interface from the settings the
// host puts on the kernel command line (microvm.net=ADDRESS/PREFIX,GATEWAY,DNS). The
// guest has no DHCP client or network manager: the host already knows the address it
// leased, and the kernel's network state outlives switch_root, so init configures it once.
package netconfig

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Param is the kernel command-line key; its absence means the guest has no network.
const Param = "microvm.net"

// Config is one IPv4 interface with a default route and a resolver.
type Config struct {
	Address net.IP
	Prefix  int
	Gateway net.IP
	DNS     net.IP
}

// Parse reads ADDRESS/PREFIX,GATEWAY,DNS, e.g. 10.213.0.5/24,10.213.0.1,10.213.0.1.
func Parse(value string) (Config, error) {
	parts := strings.Split(value, ",")
	if len(parts) != 3 {
		return Config{}, fmt.Errorf("%s=%q: want ADDRESS/PREFIX,GATEWAY,DNS", Param, value)
	}
	ip, ipnet, err := net.ParseCIDR(parts[0])
	if err != nil || ip.To4() == nil {
		return Config{}, fmt.Errorf("%s=%q: %q is not an IPv4 address with a prefix length", Param, value, parts[0])
	}
	prefix, _ := ipnet.Mask.Size()
	if prefix < 1 || prefix > 30 {
		return Config{}, fmt.Errorf("%s=%q: prefix /%d leaves no room for a gateway", Param, value, prefix)
	}
	c := Config{Address: ip.To4(), Prefix: prefix}
	for i, target := range []*net.IP{&c.Gateway, &c.DNS} {
		v := net.ParseIP(parts[i+1]).To4()
		if v == nil {
			return Config{}, fmt.Errorf("%s=%q: %q is not an IPv4 address", Param, value, parts[i+1])
		}
		*target = v
	}
	if !ipnet.Contains(c.Gateway) {
		return Config{}, fmt.Errorf("%s=%q: the gateway %s is outside %s", Param, value, c.Gateway, ipnet)
	}
	return c, nil
}

func (c Config) String() string {
	return fmt.Sprintf("%s/%d,%s,%s", c.Address, c.Prefix, c.Gateway, c.DNS)
}

// WriteResolvConf points the guest's resolver at dns. An existing file or symlink (a
// rootfs may link it to a resolver daemon's file) is replaced, not written through.
func WriteResolvConf(path string, dns net.IP) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".microvm"
	if err := os.WriteFile(tmp, []byte("nameserver "+dns.String()+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
