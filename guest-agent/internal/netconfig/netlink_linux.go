package netconfig

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
	"syscall"
	"time"
	"unsafe"
)

// linkWait bounds how long Apply looks for the NIC: virtio_net registers it while its
// module loads, so it is normally there at once.
const linkWait = 5 * time.Second

// Apply configures the first Ethernet link (lowest index, not loopback) in this
// process's network namespace: lo up, the link up with c.Address/c.Prefix as its only
// IPv4 address, and the default route via c.Gateway. A non-empty mac replaces the
// link's hardware address first (a forked guest must not keep its origin's). Running
// it again with other settings moves the link to them. It returns the link's name.
func Apply(c Config, mac net.HardwareAddr) (string, error) {
	nl, err := dialRoute()
	if err != nil {
		return "", err
	}
	defer nl.close()
	var link linkInfo
	deadline := time.Now().Add(linkWait)
	for {
		links, err := nl.links()
		if err != nil {
			return "", err
		}
		if lo, ok := findLink(links, "lo"); ok && lo.flags&syscall.IFF_UP == 0 {
			if err := nl.do(linkUpMsg(lo.index)); err != nil {
				return "", fmt.Errorf("set lo up: %w", err)
			}
		}
		var ok bool
		if link, ok = firstEthernet(links); ok {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no Ethernet interface appeared within %s", linkWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(mac) == 6 && !bytes.Equal(mac, link.mac) {
		err := nl.do(linkMACMsg(link.index, mac))
		if errors.Is(err, syscall.EBUSY) {
			// A driver without live address change takes it only while down.
			if err = nl.do(linkDownMsg(link.index)); err == nil {
				err = nl.do(linkMACMsg(link.index, mac))
			}
		}
		if err != nil {
			return link.name, fmt.Errorf("set the MAC address of %s: %w", link.name, err)
		}
	}
	if err := nl.do(linkUpMsg(link.index)); err != nil {
		return link.name, fmt.Errorf("set %s up: %w", link.name, err)
	}
	addrs, err := nl.addresses()
	if err != nil {
		return link.name, err
	}
	for _, a := range addrs {
		if a.index == link.index && !(a.ip.Equal(c.Address) && a.prefix == c.Prefix) {
			if err := nl.do(addrMsg(syscall.RTM_DELADDR, link.index, a.ip, a.prefix)); err != nil {
				return link.name, fmt.Errorf("remove %s/%d from %s: %w", a.ip, a.prefix, link.name, err)
			}
		}
	}
	if err := nl.do(addrMsg(syscall.RTM_NEWADDR, link.index, c.Address, c.Prefix)); err != nil {
		return link.name, fmt.Errorf("add %s/%d to %s: %w", c.Address, c.Prefix, link.name, err)
	}
	if err := nl.do(defaultRouteMsg(link.index, c.Gateway)); err != nil {
		return link.name, fmt.Errorf("default route via %s: %w", c.Gateway, err)
	}
	// A guest restored from a snapshot remembers the link-layer addresses of the moment
	// it was saved; the gateway's may have changed since (a bridge created anew).
	if err := nl.flushNeighbours(link.index); err != nil {
		return link.name, fmt.Errorf("flush the neighbour cache of %s: %w", link.name, err)
	}
	return link.name, nil
}

type linkInfo struct {
	index int32
	name  string
	arp   uint16
	flags uint32
	mac   net.HardwareAddr
}

type addrInfo struct {
	index  int32
	ip     net.IP
	prefix int
}

func findLink(links []linkInfo, name string) (linkInfo, bool) {
	for _, l := range links {
		if l.name == name {
			return l, true
		}
	}
	return linkInfo{}, false
}

func firstEthernet(links []linkInfo) (linkInfo, bool) {
	sorted := append([]linkInfo(nil), links...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].index < sorted[j].index })
	for _, l := range sorted {
		if l.arp == syscall.ARPHRD_ETHER && l.name != "lo" {
			return l, true
		}
	}
	return linkInfo{}, false
}

// Netlink messages are in the host's byte order.
var native binary.ByteOrder = func() binary.ByteOrder {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}()

// message builds one netlink request: header, fixed body, then attributes.
type message struct {
	typ   uint16
	flags uint16
	body  []byte
	attrs []byte
}

func (m *message) attr(typ uint16, data []byte) {
	l := syscall.SizeofRtAttr + len(data)
	b := make([]byte, align4(l))
	native.PutUint16(b[0:2], uint16(l))
	native.PutUint16(b[2:4], typ)
	copy(b[4:], data)
	m.attrs = append(m.attrs, b...)
}

// bytes encodes the message with sequence number seq.
func (m *message) bytes(seq uint32) []byte {
	total := syscall.NLMSG_HDRLEN + len(m.body) + len(m.attrs)
	b := make([]byte, syscall.NLMSG_HDRLEN, total)
	native.PutUint32(b[0:4], uint32(total))
	native.PutUint16(b[4:6], m.typ)
	native.PutUint16(b[6:8], m.flags)
	native.PutUint32(b[8:12], seq)
	b = append(b, m.body...)
	return append(b, m.attrs...)
}

func align4(n int) int { return (n + 3) &^ 3 }

// ifinfomsg: family, pad, type, index, flags, change.
func ifinfo(index int32, flags, change uint32) []byte {
	b := make([]byte, syscall.SizeofIfInfomsg)
	b[0] = syscall.AF_UNSPEC
	native.PutUint32(b[4:8], uint32(index))
	native.PutUint32(b[8:12], flags)
	native.PutUint32(b[12:16], change)
	return b
}

func linkUpMsg(index int32) *message {
	return &message{typ: syscall.RTM_NEWLINK, flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK, body: ifinfo(index, syscall.IFF_UP, syscall.IFF_UP)}
}

func linkDownMsg(index int32) *message {
	return &message{typ: syscall.RTM_NEWLINK, flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK, body: ifinfo(index, 0, syscall.IFF_UP)}
}

func linkMACMsg(index int32, mac net.HardwareAddr) *message {
	m := &message{typ: syscall.RTM_NEWLINK, flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK, body: ifinfo(index, 0, 0)}
	m.attr(syscall.IFLA_ADDRESS, mac)
	return m
}

// addrMsg adds (RTM_NEWADDR, replacing a same address) or removes (RTM_DELADDR) one IPv4 address.
func addrMsg(typ uint16, index int32, ip net.IP, prefix int) *message {
	flags := uint16(syscall.NLM_F_REQUEST | syscall.NLM_F_ACK)
	if typ == syscall.RTM_NEWADDR {
		flags |= syscall.NLM_F_CREATE | syscall.NLM_F_REPLACE
	}
	body := make([]byte, syscall.SizeofIfAddrmsg)
	body[0] = syscall.AF_INET
	body[1] = byte(prefix)
	body[3] = syscall.RT_SCOPE_UNIVERSE
	native.PutUint32(body[4:8], uint32(index))
	m := &message{typ: typ, flags: flags, body: body}
	v4 := ip.To4()
	m.attr(syscall.IFA_LOCAL, v4)
	m.attr(syscall.IFA_ADDRESS, v4)
	if typ == syscall.RTM_NEWADDR && prefix < 31 {
		mask := net.CIDRMask(prefix, 32)
		bcast := make(net.IP, 4)
		for i := range bcast {
			bcast[i] = v4[i] | ^mask[i]
		}
		m.attr(syscall.IFA_BROADCAST, bcast)
	}
	return m
}

// defaultRouteMsg sets (creating or replacing) 0.0.0.0/0 via gw out of the link.
func defaultRouteMsg(index int32, gw net.IP) *message {
	body := make([]byte, syscall.SizeofRtMsg)
	body[0] = syscall.AF_INET
	body[4] = syscall.RT_TABLE_MAIN
	body[5] = syscall.RTPROT_BOOT
	body[6] = syscall.RT_SCOPE_UNIVERSE
	body[7] = syscall.RTN_UNICAST
	m := &message{typ: syscall.RTM_NEWROUTE, flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK | syscall.NLM_F_CREATE | syscall.NLM_F_REPLACE, body: body}
	m.attr(syscall.RTA_GATEWAY, gw.To4())
	oif := make([]byte, 4)
	native.PutUint32(oif, uint32(index))
	m.attr(syscall.RTA_OIF, oif)
	return m
}

// neighDelMsg deletes one IPv4 neighbour entry (ndmsg: family, pads, ifindex, state, flags, type).
func neighDelMsg(index int32, ip net.IP) *message {
	body := make([]byte, ndmsgSize)
	body[0] = syscall.AF_INET
	native.PutUint32(body[4:8], uint32(index))
	m := &message{typ: syscall.RTM_DELNEIGH, flags: syscall.NLM_F_REQUEST | syscall.NLM_F_ACK, body: body}
	m.attr(ndaDst, ip.To4())
	return m
}

const (
	ndmsgSize = 12
	ndaDst    = 1
	nudNoARP  = 0x40
	nudPerm   = 0x80
)

func dumpMsg(typ uint16, family byte, size int) *message {
	body := make([]byte, size)
	body[0] = family
	return &message{typ: typ, flags: syscall.NLM_F_REQUEST | syscall.NLM_F_DUMP, body: body}
}

// routeConn is a NETLINK_ROUTE socket that sends one request at a time.
type routeConn struct {
	fd  int
	seq uint32
}

func dialRoute() (*routeConn, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("netlink bind: %w", err)
	}
	return &routeConn{fd: fd}, nil
}

func (c *routeConn) close() { syscall.Close(c.fd) }

// exchange sends m and returns the replies up to its acknowledgement or the end of a
// dump; a negative acknowledgement is returned as its errno.
func (c *routeConn) exchange(m *message) ([]syscall.NetlinkMessage, error) {
	c.seq++
	if err := syscall.Sendto(c.fd, m.bytes(c.seq), 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		return nil, err
	}
	var out []syscall.NetlinkMessage
	for {
		// A fresh buffer per read: the parsed messages point into it.
		buf := make([]byte, 1<<16)
		n, _, err := syscall.Recvfrom(c.fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			if msg.Header.Seq != c.seq {
				continue
			}
			switch msg.Header.Type {
			case syscall.NLMSG_DONE:
				return out, nil
			case syscall.NLMSG_ERROR:
				if len(msg.Data) < 4 {
					return nil, errors.New("netlink: short error message")
				}
				if code := int32(native.Uint32(msg.Data[0:4])); code != 0 {
					return nil, syscall.Errno(-code)
				}
				return out, nil
			default:
				out = append(out, msg)
			}
		}
	}
}

func (c *routeConn) do(m *message) error {
	_, err := c.exchange(m)
	return err
}

func (c *routeConn) links() ([]linkInfo, error) {
	msgs, err := c.exchange(dumpMsg(syscall.RTM_GETLINK, syscall.AF_UNSPEC, syscall.SizeofIfInfomsg))
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []linkInfo
	for _, msg := range msgs {
		if msg.Header.Type != syscall.RTM_NEWLINK || len(msg.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		l := linkInfo{
			arp:   native.Uint16(msg.Data[2:4]),
			index: int32(native.Uint32(msg.Data[4:8])),
			flags: native.Uint32(msg.Data[8:12]),
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&msg)
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFLA_IFNAME:
				l.name = string(bytes.TrimRight(a.Value, "\x00"))
			case syscall.IFLA_ADDRESS:
				l.mac = append(net.HardwareAddr(nil), a.Value...)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// flushNeighbours forgets the learnt IPv4 neighbours of one link, as `ip neigh flush dev` does.
func (c *routeConn) flushNeighbours(index int32) error {
	msgs, err := c.exchange(dumpMsg(syscall.RTM_GETNEIGH, syscall.AF_INET, ndmsgSize))
	if err != nil {
		return err
	}
	for _, msg := range msgs {
		if msg.Header.Type != syscall.RTM_NEWNEIGH || len(msg.Data) < ndmsgSize || int32(native.Uint32(msg.Data[4:8])) != index {
			continue
		}
		if state := native.Uint16(msg.Data[8:10]); state&(nudNoARP|nudPerm) != 0 {
			continue
		}
		// The standard library parses attributes of links, addresses and routes only.
		for _, a := range parseAttrs(msg.Data[ndmsgSize:]) {
			if a.typ == ndaDst && len(a.value) == 4 {
				if err := c.do(neighDelMsg(index, net.IP(a.value))); err != nil && !errors.Is(err, syscall.ENOENT) {
					return err
				}
			}
		}
	}
	return nil
}

type attr struct {
	typ   uint16
	value []byte
}

// parseAttrs splits a run of rtattrs; a truncated one ends the run.
func parseAttrs(b []byte) []attr {
	var out []attr
	for len(b) >= syscall.SizeofRtAttr {
		l := int(native.Uint16(b[0:2]))
		if l < syscall.SizeofRtAttr || l > len(b) {
			break
		}
		out = append(out, attr{typ: native.Uint16(b[2:4]) &^ syscall.NLA_F_NESTED, value: b[syscall.SizeofRtAttr:l]})
		if align4(l) >= len(b) {
			break
		}
		b = b[align4(l):]
	}
	return out
}

func (c *routeConn) addresses() ([]addrInfo, error) {
	msgs, err := c.exchange(dumpMsg(syscall.RTM_GETADDR, syscall.AF_INET, syscall.SizeofIfAddrmsg))
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []addrInfo
	for _, msg := range msgs {
		if msg.Header.Type != syscall.RTM_NEWADDR || len(msg.Data) < syscall.SizeofIfAddrmsg || msg.Data[0] != syscall.AF_INET {
			continue
		}
		a := addrInfo{prefix: int(msg.Data[1]), index: int32(native.Uint32(msg.Data[4:8]))}
		attrs, err := syscall.ParseNetlinkRouteAttr(&msg)
		if err != nil {
			return nil, err
		}
		for _, at := range attrs {
			if at.Attr.Type == syscall.IFA_LOCAL && len(at.Value) == 4 {
				a.ip = net.IP(append([]byte(nil), at.Value...))
			}
		}
		if a.ip != nil {
			out = append(out, a)
		}
	}
	return out, nil
}
