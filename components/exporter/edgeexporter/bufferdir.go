// SPDX-License-Identifier: Apache-2.0

package edgeexporter // import "github.com/otelcol-edge/otelcol-edge/components/exporter/edgeexporter"

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
)

// bufferDirPerm is the mode of the directories the exporter owns: only the
// running user may list, read or create files in them.
const bufferDirPerm fs.FileMode = 0o700

// errBufferDirUntrusted is matched by the errors of prepareBufferDir that
// refuse a directory.
var errBufferDirUntrusted = errors.New("buffer directory cannot be trusted")

// bufferDirReport is what prepareBufferDir changed or found worth a warning.
type bufferDirReport struct {
	// tightened lists the directories owned by the running user whose group
	// or other permissions were removed, as "path: old mode -> drwx------".
	tightened []string
	// openParent is set when buffer.directory exists and others can write to
	// it without the sticky bit.
	openParent string
}

// prepareBufferDir makes the directories of one exporter instance safe to use
// before anything in them is opened:
//
//   - parent (buffer.directory) is created 0700 when missing. An existing
//     one is left as it is (it may be shared, or be a mount point); when group
//     or other can write to it without the sticky bit this is reported (a
//     Kubernetes emptyDir is such a directory, harmless inside its pod);
//   - instance (<buffer.directory>/<component id>) and instance/wal are
//     created 0700 when missing (and chmod-ed to 0700, whatever the umask).
//     When they exist they must be directories, not symbolic links, owned by
//     the running user (uid): otherwise the error names the path, its owner
//     and its mode, and nothing in it is read. Group and other permissions of
//     an existing directory owned by the running user are removed (0700) and
//     reported: the data is ours, closing the exposure at once is safer than
//     refusing to start a fleet after an upgrade.
//
// uid is the running user's effective uid (os.Geteuid()).
func prepareBufferDir(parent, instance string, uid int) (bufferDirReport, error) {
	var rep bufferDirReport
	fi, err := os.Stat(parent)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(parent, bufferDirPerm); err != nil {
			return rep, fmt.Errorf("creating buffer.directory: %w", err)
		}
		if err := os.Chmod(parent, bufferDirPerm); err != nil {
			return rep, fmt.Errorf("setting the mode of buffer.directory: %w", err)
		}
	case err != nil:
		return rep, fmt.Errorf("buffer.directory: %w", err)
	case !fi.IsDir():
		return rep, fmt.Errorf("%w: buffer.directory %s is not a directory (mode %s)", errBufferDirUntrusted, parent, fi.Mode())
	case fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0:
		rep.openParent = fmt.Sprintf("%s (owner uid %d, mode %s)", parent, ownerUID(fi), fi.Mode())
	}
	for _, dir := range []string{instance, filepath.Join(instance, "wal")} {
		t, err := ownDir(dir, uid)
		if err != nil {
			return rep, err
		}
		if t != "" {
			rep.tightened = append(rep.tightened, t)
		}
	}
	return rep, nil
}

// ownDir creates dir 0700, or checks an existing one (see prepareBufferDir).
// It returns a description of the change when it tightened the mode.
func ownDir(dir string, uid int) (string, error) {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, bufferDirPerm); err != nil {
			return "", fmt.Errorf("creating buffer directory: %w", err)
		}
		if err := os.Chmod(dir, bufferDirPerm); err != nil {
			return "", fmt.Errorf("setting the mode of buffer directory: %w", err)
		}
		fi, err = os.Lstat(dir)
	}
	if err != nil {
		return "", fmt.Errorf("buffer directory: %w", err)
	}
	owner := ownerUID(fi)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", fmt.Errorf("%w: %s is a symbolic link (owner uid %d); the exporter's own directories must be real directories: point buffer.directory at the target instead",
			errBufferDirUntrusted, dir, owner)
	case !fi.IsDir():
		return "", fmt.Errorf("%w: %s is not a directory (mode %s)", errBufferDirUntrusted, dir, fi.Mode())
	case owner != uid:
		return "", fmt.Errorf("%w: %s is owned by uid %d (mode %s), not by the user running the collector (uid %d): "+
			"another user could read or plant data in it; chown it to uid %d (or move it away) and restart",
			errBufferDirUntrusted, dir, owner, fi.Mode(), uid, uid)
	case fi.Mode().Perm()&0o077 != 0:
		if err := os.Chmod(dir, bufferDirPerm); err != nil {
			return "", fmt.Errorf("%w: %s is accessible to group or other (mode %s) and cannot be tightened to %s: %w",
				errBufferDirUntrusted, dir, fi.Mode(), fs.ModeDir|bufferDirPerm, err)
		}
		return fmt.Sprintf("%s: %s -> %s", dir, fi.Mode(), fs.ModeDir|bufferDirPerm), nil
	}
	return "", nil
}

// prepareBufferDir checks (and creates) the instance's directories and logs
// what it changed.
func (e *edgeExporter) prepareBufferDir(dir string) error {
	rep, err := prepareBufferDir(e.cfg.Buffer.Directory, dir, os.Geteuid())
	if err != nil {
		return err
	}
	for _, t := range rep.tightened {
		e.logger.Warn("The buffer directory was accessible to group or other users; removed their permissions",
			zap.String("change", t))
	}
	if rep.openParent != "" {
		e.logger.Warn("buffer.directory is writable by other users (and has no sticky bit): they could replace the exporter's directory in it; make it writable by its owner only",
			zap.String("buffer.directory", rep.openParent))
	}
	return nil
}
