// SPDX-License-Identifier: Apache-2.0

//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"fmt"
	"os"
	"runtime"
)

// lockDir refuses: the storage directory's exclusive lock (flock) and
// no-follow opens are implemented for Linux, macOS and the BSDs only.
func lockDir(dir string) (*os.File, error) {
	return nil, fmt.Errorf("lock %s: the opamp extension's storage is not supported on %s/%s (it needs flock and O_NOFOLLOW)", dir, runtime.GOOS, runtime.GOARCH)
}
