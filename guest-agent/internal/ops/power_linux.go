package ops

import "syscall"

func powerSupported() error { return nil }

func powerAct(reboot bool) error {
	syscall.Sync()
	cmd := syscall.LINUX_REBOOT_CMD_POWER_OFF
	if reboot {
		cmd = syscall.LINUX_REBOOT_CMD_RESTART
	}
	return syscall.Reboot(cmd)
}
