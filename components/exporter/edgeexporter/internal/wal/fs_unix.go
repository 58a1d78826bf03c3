// SPDX-License-Identifier: Apache-2.0

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package wal // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter/internal/wal"

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// openFlags are added to every open of OSFS: never follow a symbolic link as
// the last element of the path, never leak the descriptor into a child.
const openFlags = syscall.O_NOFOLLOW | syscall.O_CLOEXEC

// isLinkLoop reports whether err is what an O_NOFOLLOW open of a symbolic
// link fails with: ELOOP (Linux, macOS, OpenBSD, NetBSD), EMLINK (FreeBSD,
// DragonFly).
func isLinkLoop(err error) bool {
	return errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK)
}

// Lock implements Locker with flock(LOCK_EX|LOCK_NB).
func (OSFS) Lock(name string) (io.Closer, error) {
	f, err := OpenNoFollow(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("flock %s: %w", name, err)
	}
	return &flockFile{f: f}, nil
}

type flockFile struct{ f *os.File }

func (l *flockFile) Close() error {
	err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
