// SPDX-License-Identifier: Apache-2.0

package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// RPM header tags and types used below (rpm's lib/rpmtag.h).
const (
	tagName          = 1000
	tagVersion       = 1001
	tagRelease       = 1002
	tagArch          = 1022
	tagPreIn         = 1023
	tagPostIn        = 1024
	tagPreUn         = 1025
	tagPostUn        = 1026
	tagFileModes     = 1030
	tagFileFlags     = 1037
	tagFileUserName  = 1039
	tagFileGroupName = 1040
	tagRequireName   = 1049
	tagDirIndexes    = 1116
	tagBaseNames     = 1117
	tagDirNames      = 1118

	typeInt16       = 3
	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9

	fileConfig    = 1 << 0
	fileNoReplace = 1 << 4
)

// rpmHeader is the main header of an .rpm: tag -> strings or integers.
type rpmHeader struct {
	strs map[int][]string
	ints map[int][]int64
}

// readRPMHeader parses the lead, skips the signature header and decodes the
// main header (the format of rpm's doc/manual/format.md), without rpm installed.
func readRPMHeader(r io.ReadSeeker) (*rpmHeader, error) {
	lead := make([]byte, 96)
	if _, err := io.ReadFull(r, lead); err != nil {
		return nil, err
	}
	if !bytes.Equal(lead[:4], []byte{0xed, 0xab, 0xee, 0xdb}) {
		return nil, fmt.Errorf("not an rpm (lead magic %x)", lead[:4])
	}
	readOne := func(pad bool) (*rpmHeader, error) {
		intro := make([]byte, 16)
		if _, err := io.ReadFull(r, intro); err != nil {
			return nil, err
		}
		if !bytes.Equal(intro[:3], []byte{0x8e, 0xad, 0xe8}) {
			return nil, fmt.Errorf("bad header magic %x", intro[:3])
		}
		il := int(binary.BigEndian.Uint32(intro[8:12]))
		dl := int(binary.BigEndian.Uint32(intro[12:16]))
		if il > 1<<16 || dl > 1<<28 {
			return nil, fmt.Errorf("header too large (%d entries, %d bytes)", il, dl)
		}
		index := make([]byte, 16*il)
		data := make([]byte, dl)
		if _, err := io.ReadFull(r, index); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, err
		}
		if pad && dl%8 != 0 {
			if _, err := r.Seek(int64(8-dl%8), io.SeekCurrent); err != nil {
				return nil, err
			}
		}
		h := &rpmHeader{strs: map[int][]string{}, ints: map[int][]int64{}}
		for i := 0; i < il; i++ {
			e := index[16*i:]
			tag := int(binary.BigEndian.Uint32(e[0:4]))
			typ := binary.BigEndian.Uint32(e[4:8])
			off := int(binary.BigEndian.Uint32(e[8:12]))
			count := int(binary.BigEndian.Uint32(e[12:16]))
			if off > len(data) {
				return nil, fmt.Errorf("tag %d: offset %d out of range", tag, off)
			}
			switch typ {
			case typeString, typeStringArray, typeI18NString:
				if typ == typeString {
					count = 1
				}
				rest := data[off:]
				for j := 0; j < count; j++ {
					end := bytes.IndexByte(rest, 0)
					if end < 0 {
						return nil, fmt.Errorf("tag %d: unterminated string", tag)
					}
					h.strs[tag] = append(h.strs[tag], string(rest[:end]))
					rest = rest[end+1:]
				}
			case typeInt16, typeInt32:
				size := 2
				if typ == typeInt32 {
					size = 4
				}
				if off+size*count > len(data) {
					return nil, fmt.Errorf("tag %d: %d values out of range", tag, count)
				}
				for j := 0; j < count; j++ {
					b := data[off+size*j:]
					if size == 2 {
						h.ints[tag] = append(h.ints[tag], int64(binary.BigEndian.Uint16(b)))
					} else {
						h.ints[tag] = append(h.ints[tag], int64(binary.BigEndian.Uint32(b)))
					}
				}
			}
		}
		return h, nil
	}
	if _, err := readOne(true); err != nil {
		return nil, fmt.Errorf("signature header: %w", err)
	}
	h, err := readOne(false)
	if err != nil {
		return nil, fmt.Errorf("main header: %w", err)
	}
	return h, nil
}

func (h *rpmHeader) str(tag int) string {
	if v := h.strs[tag]; len(v) > 0 {
		return v[0]
	}
	return ""
}

type rpmFile struct {
	mode        int64
	flags       int64
	user, group string
}

func (h *rpmHeader) files() (map[string]rpmFile, error) {
	base, dirs, idx := h.strs[tagBaseNames], h.strs[tagDirNames], h.ints[tagDirIndexes]
	modes, flags := h.ints[tagFileModes], h.ints[tagFileFlags]
	users, groups := h.strs[tagFileUserName], h.strs[tagFileGroupName]
	n := len(base)
	if len(idx) != n || len(modes) != n || len(flags) != n || len(users) != n || len(groups) != n {
		return nil, fmt.Errorf("inconsistent file tags: %d names, %d dir indexes, %d modes, %d flags, %d users, %d groups",
			n, len(idx), len(modes), len(flags), len(users), len(groups))
	}
	files := map[string]rpmFile{}
	for i := range base {
		if int(idx[i]) >= len(dirs) {
			return nil, fmt.Errorf("file %s: dir index %d out of range", base[i], idx[i])
		}
		files[dirs[idx[i]]+base[i]] = rpmFile{modes[i], flags[i], users[i], groups[i]}
	}
	return files, nil
}

// rpmArch maps GOARCH to the rpm architecture, as nfpm does.
func rpmArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "i386"
	}
	return goarch
}

// TestRPMPackage inspects the .rpm of `make package`. make passes its path in
// $OTELCOL_EDGE_RPM; without it the test looks in _build/packages.
func TestRPMPackage(t *testing.T) {
	version := distVersion(t)
	arch := rpmArch(runtime.GOARCH)
	path := os.Getenv("OTELCOL_EDGE_RPM")
	if path == "" {
		path = filepath.Join(repoRoot(t), "_build", "packages", fmt.Sprintf("otelcol-edge-%s-1.%s.rpm", version, arch))
		if _, err := os.Stat(path); err != nil {
			t.Skipf("SKIP: no rpm at %s: run `make package` (make test-package does)", path)
		}
	}
	if got, want := filepath.Base(path), fmt.Sprintf("otelcol-edge-%s-1.%s.rpm", version, arch); got != want {
		t.Errorf("rpm file name %q, want %q", got, want)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := readRPMHeader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for tag, want := range map[int]string{tagName: "otelcol-edge", tagVersion: version, tagRelease: "1", tagArch: arch} {
		if got := h.str(tag); got != want {
			t.Errorf("rpm tag %d = %q, want %q", tag, got, want)
		}
	}
	if reqs := strings.Join(h.strs[tagRequireName], " "); !strings.Contains(reqs, "shadow-utils") {
		t.Errorf("rpm requires %q, want shadow-utils (useradd)", reqs)
	}
	files, err := h.files()
	if err != nil {
		t.Fatal(err)
	}
	const regular, dir = 0o100000, 0o040000
	want := map[string]rpmFile{
		binaryPath:  {regular | 0o755, 0, "root", "root"},
		configPath:  {regular | 0o640, fileConfig | fileNoReplace, "root", serviceUser},
		envFilePath: {regular | 0o640, fileConfig | fileNoReplace, "root", serviceUser},
		unitPath:    {regular | 0o644, 0, "root", "root"},
	}
	for name, w := range want {
		got, ok := files[name]
		if !ok {
			t.Errorf("rpm does not contain %s", name)
			continue
		}
		if got.mode != w.mode || got.flags&(fileConfig|fileNoReplace) != w.flags || got.user != w.user || got.group != w.group {
			t.Errorf("rpm %s: mode %o flags %#x %s:%s, want mode %o flags %#x %s:%s",
				name, got.mode, got.flags, got.user, got.group, w.mode, w.flags, w.user, w.group)
		}
	}
	for name, f := range files {
		if strings.HasPrefix(name, dataDir) {
			t.Errorf("rpm owns %s (mode %o): erasing the package would delete the buffer", name, f.mode)
		}
		if name == "/etc/otelcol-edge" && f.mode&dir == 0 {
			t.Errorf("/etc/otelcol-edge is not a directory in the rpm")
		}
	}
	for tag, needle := range map[int]string{
		tagPreIn:  "useradd --system",
		tagPostIn: "chmod 0700",
		tagPreUn:  "systemctl stop otelcol-edge.service",
		tagPostUn: "purge)",
	} {
		if s := h.str(tag); !strings.Contains(s, needle) {
			t.Errorf("rpm scriptlet %d does not contain %q", tag, needle)
		}
	}
}
