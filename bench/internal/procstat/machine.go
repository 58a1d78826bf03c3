// SPDX-License-Identifier: Apache-2.0

package procstat // import "github.com/otelcol-edge/otelcol-edge/bench/internal/procstat"

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// CopyExecutable copies the binary src into a new directory under dir, so a
// rebuild during a run cannot mix versions, and describes the original for
// reports (path, build time, sha256 prefix).
func CopyExecutable(src, dir string) (dst, desc string, err error) {
	in, err := os.Open(src)
	if err != nil {
		return "", "", err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", "", err
	}
	sub, err := os.MkdirTemp(dir, "bin-")
	if err != nil {
		return "", "", err
	}
	dst = filepath.Join(sub, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(out, h), in); err != nil {
		out.Close()
		return "", "", err
	}
	if err := out.Close(); err != nil {
		return "", "", err
	}
	return dst, fmt.Sprintf("%s, built %s, sha256 %x", src, st.ModTime().UTC().Format(time.RFC3339), h.Sum(nil)[:6]), nil
}

// CPUModel is the model name from /proc/cpuinfo.
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// LoadAvg is the 1, 5 and 15 minute load averages from /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
