// SPDX-License-Identifier: Apache-2.0

//go:build unix

package edgeexporter

import "syscall"

// umask sets the process's umask and returns the previous one.
func umask(mask int) int { return syscall.Umask(mask) }
