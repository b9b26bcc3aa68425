//go:build !linux

package redistest

import "syscall"

// childAttr: only Linux can tie a process's life to its parent's.
func childAttr() *syscall.SysProcAttr { return nil }
