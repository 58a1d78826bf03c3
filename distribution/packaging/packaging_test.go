// SPDX-License-Identifier: Apache-2.0

package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const (
	serviceUser    = "otelcol-edge"
	dataDir        = "/var/lib/otelcol-edge"
	binaryPath     = "/usr/bin/otelcol-edge"
	configPath     = "/etc/otelcol-edge/config.yaml"
	envFilePath    = "/etc/otelcol-edge/otelcol-edge.conf"
	unitPath       = "/usr/lib/systemd/system/otelcol-edge.service"
	packagedConfig = "distribution/packaging/config.yaml"
)

// The version has one source, builder-config.yaml; everything that repeats it
// (the binary, the image, the manifests, the changelog) must agree.
func TestVersionSingleSource(t *testing.T) {
	version := distVersion(t)
	if want := os.Getenv("OTELCOL_EDGE_VERSION"); want != "" && want != version {
		t.Errorf("make passed version %q, builder-config.yaml says %q", want, version)
	}
	if !bytes.Contains(readRepoFile(t, "CHANGELOG.md"), []byte("## "+version)) {
		t.Errorf("CHANGELOG.md has no \"## %s\" entry", version)
	}
	out, err := exec.Command(collectorBinary(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("otelcol-edge --version: %v: %s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "otelcol-edge version "+version; got != want {
		t.Errorf("otelcol-edge --version = %q, want %q (rebuild with `make build`)", got, want)
	}
}

func TestPackagedConfigValidates(t *testing.T) {
	config := readRepoFile(t, packagedConfig)
	m := configMap(t, packagedConfig, config)
	if got := digString(m, "exporters", "edge", "buffer", "directory"); got != "${env:OTELCOL_EDGE_DATA_DIR:-"+dataDir+"}" {
		t.Errorf("buffer directory = %q, want %s by default", got, dataDir)
	}
	// Every listener defaults to the loopback interface: installing the package
	// opens no port to the network.
	for _, path := range [][]string{
		{"receivers", "otlp", "protocols", "grpc", "endpoint"},
		{"receivers", "otlp", "protocols", "http", "endpoint"},
		{"extensions", "healthcheckv2", "http", "endpoint"},
		{"extensions", "zpages", "endpoint"},
	} {
		if got := digString(m, path...); !strings.Contains(got, ":-127.0.0.1:") {
			t.Errorf("%s = %q, want a 127.0.0.1 default", strings.Join(path, "."), got)
		}
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"defaults", nil},
		{"gateway on a site", map[string]string{
			"OTELCOL_EDGE_ENDPOINT":           "otlp.example.com:4317",
			"OTELCOL_EDGE_INSECURE":           "false",
			"OTELCOL_EDGE_DATA_DIR":           "/srv/otelcol-edge",
			"OTELCOL_EDGE_MAX_DISK":           "10737418240",
			"OTELCOL_EDGE_OTLP_GRPC_ENDPOINT": "0.0.0.0:4317",
			"OTELCOL_EDGE_OTLP_HTTP_ENDPOINT": "0.0.0.0:4318",
			"OTELCOL_EDGE_METRICS_PORT":       "9888",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustValidate(t, packagedConfig, config, tc.env)
		})
	}
	// The validator really rejects: a wrong type from the environment fails.
	if _, err := validateConfig(t, config, map[string]string{"OTELCOL_EDGE_INSECURE": "maybe"}); err == nil {
		t.Error("otelcol-edge validate accepted grpc.tls.insecure: maybe")
	}
	mustValidate(t, "distribution/config.yaml", readRepoFile(t, "distribution/config.yaml"), nil)
	checkHealthV2(t, packagedConfig, m)
	checkHealthV2(t, "distribution/config.yaml", configMap(t, "distribution/config.yaml", readRepoFile(t, "distribution/config.yaml")))
}

// The environment file documents every variable the packaged config reads.
func TestEnvironmentFile(t *testing.T) {
	envFile := string(readRepoFile(t, "distribution/packaging/otelcol-edge.conf"))
	if !strings.Contains(envFile, `OTELCOL_OPTIONS="--config=`+configPath+`"`) {
		t.Errorf("otelcol-edge.conf does not set OTELCOL_OPTIONS to --config=%s", configPath)
	}
	vars := regexp.MustCompile(`\$\{env:([A-Z0-9_]+)`).FindAllStringSubmatch(string(readRepoFile(t, packagedConfig)), -1)
	if len(vars) == 0 {
		t.Fatal("the packaged config reads no environment variable")
	}
	for _, v := range vars {
		if !regexp.MustCompile(`(?m)^#?` + v[1] + `=`).MatchString(envFile) {
			t.Errorf("otelcol-edge.conf does not mention %s, which the config reads", v[1])
		}
	}
	// systemd's EnvironmentFile syntax: KEY=value lines and comments only.
	sc := bufio.NewScanner(strings.NewReader(envFile))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=("[^"$` + "`" + `]*"|[^"'$` + "`" + ` ]*)$`).MatchString(line) {
			t.Errorf("otelcol-edge.conf line %d is not a plain KEY=value: %q", n, line)
		}
	}
}

// parseUnit reads a systemd unit into section -> key -> values.
func parseUnit(t *testing.T, data []byte) map[string]map[string][]string {
	t.Helper()
	unit := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d: %q", n, line)
			}
			unit[section][k] = append(unit[section][k], v)
		}
	}
	return unit
}

func TestSystemdUnit(t *testing.T) {
	unit := parseUnit(t, readRepoFile(t, "distribution/packaging/otelcol-edge.service"))
	svc := unit["Service"]
	want := map[string]string{
		"User":               serviceUser,
		"Group":              serviceUser,
		"EnvironmentFile":    envFilePath,
		"ExecStart":          binaryPath + " $OTELCOL_OPTIONS",
		"StateDirectory":     "otelcol-edge",
		"StateDirectoryMode": "0700",
		"WorkingDirectory":   dataDir,
		"Restart":            "on-failure",
		"NoNewPrivileges":    "yes",
	}
	for k, v := range want {
		if got := svc[k]; len(got) != 1 || got[0] != v {
			t.Errorf("[Service] %s = %v, want %q", k, got, v)
		}
	}
	if got := unit["Install"]["WantedBy"]; len(got) != 1 || got[0] != "multi-user.target" {
		t.Errorf("[Install] WantedBy = %v", got)
	}
	// StateDirectory= is relative to /var/lib: the same directory as the buffer.
	if "/var/lib/"+svc["StateDirectory"][0] != dataDir {
		t.Errorf("StateDirectory %v is not %s", svc["StateDirectory"], dataDir)
	}
}

type nfpmManifest struct {
	Name     string `json:"name"`
	Version  string `json:"version"`
	Arch     string `json:"arch"`
	Contents []struct {
		Src      string `json:"src"`
		Dst      string `json:"dst"`
		Type     string `json:"type"`
		Expand   bool   `json:"expand"`
		FileInfo struct {
			Mode  int    `json:"mode"`
			Owner string `json:"owner"`
			Group string `json:"group"`
		} `json:"file_info"`
	} `json:"contents"`
	Scripts   map[string]string `json:"scripts"`
	Overrides map[string]struct {
		Depends []string `json:"depends"`
	} `json:"overrides"`
}

func TestNFPMManifest(t *testing.T) {
	root := repoRoot(t)
	var m nfpmManifest
	if err := yaml.Unmarshal(readRepoFile(t, "distribution/packaging/nfpm.yaml"), &m); err != nil {
		t.Fatalf("nfpm.yaml: %v", err)
	}
	if m.Name != "otelcol-edge" || m.Version != "${VERSION}" || m.Arch != "${ARCH}" {
		t.Errorf("name/version/arch = %q/%q/%q: the version must come from make (builder-config.yaml)", m.Name, m.Version, m.Arch)
	}
	type entry struct {
		typ, owner, group string
		mode              int
	}
	got := map[string]entry{}
	for _, c := range m.Contents {
		got[c.Dst] = entry{c.Type, c.FileInfo.Owner, c.FileInfo.Group, c.FileInfo.Mode}
		if c.Src != "" && !c.Expand {
			if _, err := os.Stat(filepath.Join(root, c.Src)); err != nil {
				t.Errorf("nfpm.yaml: source of %s: %v", c.Dst, err)
			}
		}
		if c.Dst == dataDir || strings.HasPrefix(c.Dst, dataDir+"/") {
			t.Errorf("nfpm.yaml ships %s: the buffer must not belong to the package (removing it would delete data)", c.Dst)
		}
	}
	for dst, want := range map[string]entry{
		binaryPath:  {"", "", "", 0o755},
		configPath:  {"config|noreplace", "root", serviceUser, 0o640},
		envFilePath: {"config|noreplace", "root", serviceUser, 0o640},
		unitPath:    {"", "", "", 0o644},
	} {
		if e, ok := got[dst]; !ok {
			t.Errorf("nfpm.yaml does not install %s", dst)
		} else if e != want {
			t.Errorf("nfpm.yaml: %s = %+v, want %+v", dst, e, want)
		}
	}
	for _, s := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
		path := m.Scripts[s]
		if path == "" {
			t.Errorf("nfpm.yaml: no %s script", s)
			continue
		}
		full := filepath.Join(root, path)
		info, err := os.Stat(full)
		if err != nil {
			t.Error(err)
			continue
		}
		if info.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", path)
		}
		data, _ := os.ReadFile(full)
		if !bytes.HasPrefix(data, []byte("#!/bin/sh\n")) {
			t.Errorf("%s: want a POSIX sh script (#!/bin/sh): rpm and dpkg both run it", path)
		}
		if out, err := exec.Command("sh", "-n", full).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v: %s", path, err, out)
		}
	}
	for format, dep := range map[string]string{"deb": "passwd", "rpm": "shadow-utils"} {
		if deps := m.Overrides[format].Depends; len(deps) != 1 || deps[0] != dep {
			t.Errorf("nfpm.yaml overrides.%s.depends = %v, want [%s] (useradd)", format, deps, dep)
		}
	}
}

// The scripts' contract: the user and the buffer are created before use and
// kept; only a deb purge deletes the buffer, and never the user.
func TestScriptsKeepData(t *testing.T) {
	read := func(name string) string {
		return string(readRepoFile(t, "distribution/packaging/scripts/"+name+".sh"))
	}
	if s := read("preinstall"); !strings.Contains(s, "useradd --system") || !strings.Contains(s, "groupadd --system") {
		t.Error("preinstall does not create a system user and group")
	}
	if s := read("postinstall"); !strings.Contains(s, `chmod 0700 "$DATA_DIR"`) || !strings.Contains(s, `chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"`) {
		t.Error("postinstall does not create the buffer directory 0700, owned by the service user")
	}
	for _, name := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
		s := read(name)
		for _, bad := range []string{"userdel", "groupdel", "deluser", "delgroup", "chown -R", "chmod -R"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s runs %q", name, bad)
			}
		}
		if strings.Contains(s, "rm -") && name != "postremove" {
			t.Errorf("%s deletes files", name)
		}
	}
	// In postremove, rm only under the deb-only "purge)" branch (rpm passes 0 or 1).
	s := read("postremove")
	purge := strings.Index(s, "purge)")
	rm := strings.Index(s, "rm -rf")
	if purge < 0 || rm < purge || strings.Count(s, "rm -") != 1 || strings.Contains(s[purge:rm], ";;") {
		t.Error("postremove must delete the buffer only in its purge) branch")
	}
}
