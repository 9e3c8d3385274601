package ops

import "syscall"

func kernelVersion() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	return utsString(u.Release[:]) + " " + utsString(u.Version[:])
}

// utsString converts a NUL-terminated utsname field; its element type is int8 on
// amd64 and uint8 on arm64.
func utsString[T int8 | uint8](f []T) string {
	b := make([]byte, 0, len(f))
	for _, c := range f {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return string(b)
}
