package netconfig

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestAddrMessageEncoding(t *testing.T) {
	got := addrMsg(syscall.RTM_NEWADDR, 2, net.IPv4(10, 213, 0, 5), 24).bytes(7)
	want := []byte{
		// nlmsghdr: length 48, RTM_NEWADDR (20), REQUEST|ACK|REPLACE|CREATE (0x0505), seq 7, pid 0
		48, 0, 0, 0, 20, 0, 0x05, 0x05, 7, 0, 0, 0, 0, 0, 0, 0,
		// ifaddrmsg: AF_INET, /24, flags 0, universe scope, index 2
		2, 24, 0, 0, 2, 0, 0, 0,
		// IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST
		8, 0, 2, 0, 10, 213, 0, 5,
		8, 0, 1, 0, 10, 213, 0, 5,
		8, 0, 4, 0, 10, 213, 0, 255,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("RTM_NEWADDR\n got %v\nwant %v", got, want)
	}
	del := addrMsg(syscall.RTM_DELADDR, 2, net.IPv4(10, 213, 0, 5), 24).bytes(8)
	if len(del) != 40 || del[4] != syscall.RTM_DELADDR || del[6] != syscall.NLM_F_REQUEST|syscall.NLM_F_ACK || del[7] != 0 {
		t.Fatalf("RTM_DELADDR %v", del)
	}
}

func TestRouteMessageEncoding(t *testing.T) {
	got := defaultRouteMsg(3, net.IPv4(10, 0, 2, 2)).bytes(1)
	want := []byte{
		44, 0, 0, 0, 24, 0, 0x05, 0x05, 1, 0, 0, 0, 0, 0, 0, 0,
		// rtmsg: AF_INET, dst_len 0, src_len 0, tos 0, main table, RTPROT_BOOT, universe, unicast; flags 0
		2, 0, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0,
		// RTA_GATEWAY, RTA_OIF
		8, 0, 5, 0, 10, 0, 2, 2,
		8, 0, 4, 0, 3, 0, 0, 0,
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("RTM_NEWROUTE\n got %v\nwant %v", got, want)
	}
}

func TestLinkMessageEncoding(t *testing.T) {
	up := linkUpMsg(4).bytes(2)
	want := []byte{
		32, 0, 0, 0, 16, 0, 0x05, 0, 2, 0, 0, 0, 0, 0, 0, 0,
		// ifinfomsg: AF_UNSPEC, pad, type 0, index 4, flags IFF_UP, change IFF_UP
		0, 0, 0, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
	}
	if !bytes.Equal(up, want) {
		t.Fatalf("link up\n got %v\nwant %v", up, want)
	}
	mac := linkMACMsg(4, net.HardwareAddr{0x02, 1, 2, 3, 4, 5}).bytes(3)
	// IFLA_ADDRESS: 4-byte header + 6 bytes, padded to 12.
	if len(mac) != 44 || !bytes.Equal(mac[32:42], []byte{10, 0, 1, 0, 0x02, 1, 2, 3, 4, 5}) {
		t.Fatalf("link MAC %v", mac)
	}
}

func TestNeighbourMessages(t *testing.T) {
	del := neighDelMsg(5, net.IPv4(10, 213, 0, 1)).bytes(9)
	want := []byte{
		36, 0, 0, 0, 29, 0, 0x05, 0, 9, 0, 0, 0, 0, 0, 0, 0,
		// ndmsg: AF_INET, pads, ifindex 5, state, flags, type
		2, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
		// NDA_DST
		8, 0, 1, 0, 10, 213, 0, 1,
	}
	if !bytes.Equal(del, want) {
		t.Fatalf("RTM_DELNEIGH\n got %v\nwant %v", del, want)
	}
	attrs := parseAttrs(append(append([]byte{}, del[28:]...), 10, 0, 2, 0, 1, 2, 3, 4, 5, 6, 0, 0, 9, 0))
	if len(attrs) != 2 || attrs[0].typ != 1 || !bytes.Equal(attrs[0].value, []byte{10, 213, 0, 1}) || attrs[1].typ != 2 || len(attrs[1].value) != 6 {
		t.Fatalf("parsed %+v (a truncated trailing attribute must be dropped)", attrs)
	}
}

// inNamespaceEnv marks the child run of the test binary under `unshare --net`.
const inNamespaceEnv = "MICROVM_NETCONFIG_TEST_NETNS"

// TestApplyInNamespace configures a veth in a network namespace of its own: the test
// binary runs itself again under `unshare --net`, so the host's interfaces are never
// touched.
func TestApplyInNamespace(t *testing.T) {
	if os.Getenv(inNamespaceEnv) == "" {
		if os.Geteuid() != 0 {
			t.Skip("needs root to create a network namespace")
		}
		if _, err := exec.LookPath("unshare"); err != nil {
			t.Skip("needs unshare(1)")
		}
		cmd := exec.Command("unshare", "--net", os.Args[0], "-test.run=^TestApplyInNamespace$", "-test.v")
		cmd.Env = append(os.Environ(), inNamespaceEnv+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a new network namespace: %v\n%s", err, out)
		}
		t.Logf("%s", out)
		return
	}
	self, _ := os.Readlink("/proc/self/ns/net")
	host, _ := os.Readlink("/proc/1/ns/net")
	if self == "" || self == host {
		t.Fatalf("refusing to run in the host's network namespace (%q)", self)
	}
	ip := func(args ...string) []byte {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
		return out
	}
	ip("link", "add", "mvtest0", "type", "veth", "peer", "name", "mvtest1")

	first, _ := Parse("10.213.0.5/24,10.213.0.1,10.213.0.1")
	// The kernel numbers the peer first: the lowest index is the one a guest's eth0 would have.
	name, err := Apply(first, nil)
	if err != nil || name != "mvtest1" {
		t.Fatalf("Apply = %q, %v", name, err)
	}
	checkState(t, ip, name, "10.213.0.5/24", "10.213.0.1", "")

	// A fork moves to its own address and MAC; the old address goes, and so does what
	// the guest had learnt about its neighbours.
	ip("link", "set", "mvtest0", "up")
	ip("neigh", "replace", "10.213.0.1", "lladdr", "02:00:00:00:00:01", "dev", name, "nud", "reachable")
	if out := ip("-4", "neigh", "show", "dev", name); !bytes.Contains(out, []byte("02:00:00:00:00:01")) {
		t.Fatalf("the neighbour to flush is not there: %q", out)
	}
	second, _ := Parse("10.213.0.9/24,10.213.0.1,10.213.0.1")
	mac := net.HardwareAddr{0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee}
	if _, err := Apply(second, mac); err != nil {
		t.Fatal(err)
	}
	checkState(t, ip, name, "10.213.0.9/24", "10.213.0.1", mac.String())
	if out := ip("-4", "neigh", "show", "dev", name); len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("neighbours left: %s", out)
	}

	// Idempotent.
	if _, err := Apply(second, mac); err != nil {
		t.Fatal(err)
	}
	checkState(t, ip, name, "10.213.0.9/24", "10.213.0.1", mac.String())
}

func checkState(t *testing.T, ip func(...string) []byte, link, cidr, gateway, mac string) {
	t.Helper()
	var links []struct {
		Ifname   string   `json:"ifname"`
		Flags    []string `json:"flags"`
		Address  string   `json:"address"`
		AddrInfo []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			Prefixlen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(ip("-j", "addr", "show"), &links); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, l := range links {
		byName[l.Ifname] = i
	}
	lo, eth := links[byName["lo"]], links[byName[link]]
	if !contains(lo.Flags, "UP") || !contains(eth.Flags, "UP") {
		t.Fatalf("not up: lo %v, %s %v", lo.Flags, link, eth.Flags)
	}
	var v4 []string
	for _, a := range eth.AddrInfo {
		if a.Family == "inet" {
			v4 = append(v4, (&net.IPNet{IP: net.ParseIP(a.Local), Mask: net.CIDRMask(a.Prefixlen, 32)}).String())
		}
	}
	if len(v4) != 1 || v4[0] != cidr {
		t.Fatalf("%s IPv4 addresses %v, want [%s]", link, v4, cidr)
	}
	if mac != "" && eth.Address != mac {
		t.Fatalf("%s MAC %s, want %s", link, eth.Address, mac)
	}
	var routes []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
		Dev     string `json:"dev"`
	}
	if err := json.Unmarshal(ip("-j", "-4", "route", "show"), &routes); err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst == "default" {
			if r.Gateway != gateway || r.Dev != link {
				t.Fatalf("default route %+v", r)
			}
			return
		}
	}
	t.Fatalf("no default route in %+v", routes)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
