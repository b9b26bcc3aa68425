package redistest

import "syscall"

// childAttr makes a process the tests start die with the test binary, so a
// test that times out leaves no bot or redis-server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
