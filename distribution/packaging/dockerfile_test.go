// SPDX-License-Identifier: Apache-2.0

package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and parser
// directives dropped, backslash continuations joined (the default escape).
func parseDockerfile(t *testing.T, data []byte) []instruction {
	t.Helper()
	var out []instruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{start, strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() != 0 {
		t.Fatalf("Dockerfile ends inside a continuation (line %d)", start)
	}
	return out
}

// execForm decodes a JSON exec-form argument list.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("line %d: %s %s: want the exec (JSON) form: %v", in.line, in.cmd, in.args, err)
	}
	return argv
}

// keyValues parses `K=V K2="V 2"` (ENV, LABEL, ARG).
func keyValues(s string) map[string]string {
	kv := map[string]string{}
	for _, m := range regexp.MustCompile(`([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S*)`).FindAllStringSubmatch(s, -1) {
		kv[m[1]] = strings.Trim(m[2], `"`)
	}
	return kv
}

func TestDockerfile(t *testing.T) {
	const path = "distribution/docker/Dockerfile"
	ins := parseDockerfile(t, readRepoFile(t, path))
	byCmd := map[string][]instruction{}
	for _, in := range ins {
		byCmd[in.cmd] = append(byCmd[in.cmd], in)
	}
	last := func(cmd string) instruction {
		t.Helper()
		list := byCmd[cmd]
		if len(list) == 0 {
			t.Fatalf("%s has no %s", path, cmd)
		}
		return list[len(list)-1]
	}
	if ins[0].cmd != "FROM" {
		t.Errorf("first instruction is %s, want FROM", ins[0].cmd)
	}
	if from := last("FROM").args; !regexp.MustCompile(`^[a-z0-9./-]+:[0-9][0-9.]*( AS \w+)?$`).MatchString(from) {
		t.Errorf("FROM %s: want a pinned version tag", from)
	}

	// Version: the ARG default repeats builder-config.yaml's dist.version.
	args := map[string]string{}
	for _, a := range byCmd["ARG"] {
		for k, v := range keyValues(a.args) {
			args[k] = v
		}
	}
	if version := distVersion(t); args["VERSION"] != version {
		t.Errorf("ARG VERSION=%q, want %q (builder-config.yaml dist.version)", args["VERSION"], version)
	}

	// Non-root, numeric (Kubernetes runAsNonRoot checks a numeric UID), and the
	// UID the image creates.
	user := last("USER").args
	uid, _, _ := strings.Cut(user, ":")
	if uid == "" || uid == "0" || uid == "root" || !regexp.MustCompile(`^[0-9]+$`).MatchString(uid) {
		t.Errorf("USER %q: want a numeric non-root UID", user)
	}
	if !slices.ContainsFunc(byCmd["RUN"], func(r instruction) bool {
		return strings.Contains(r.args, "adduser") && strings.Contains(r.args, "-u "+uid+" ")
	}) {
		t.Errorf("no RUN creates the user with UID %s", uid)
	}
	if u := byCmd["USER"][len(byCmd["USER"])-1]; u.line < byCmd["RUN"][len(byCmd["RUN"])-1].line {
		t.Error("USER must come after the last RUN (the image runs as the user)")
	}

	env := map[string]string{}
	for _, e := range byCmd["ENV"] {
		for k, v := range keyValues(e.args) {
			env[k] = v
		}
	}
	// The buffer: a volume, the config's buffer directory, owned by the user.
	var volumes []string
	for _, v := range byCmd["VOLUME"] {
		volumes = append(volumes, execForm(t, v)...)
	}
	if !slices.Contains(volumes, dataDir) {
		t.Errorf("VOLUME %v does not contain %s", volumes, dataDir)
	}
	if env["OTELCOL_EDGE_DATA_DIR"] != dataDir {
		t.Errorf("ENV OTELCOL_EDGE_DATA_DIR=%q, want %s", env["OTELCOL_EDGE_DATA_DIR"], dataDir)
	}
	if !slices.ContainsFunc(byCmd["RUN"], func(r instruction) bool {
		return strings.Contains(r.args, "chown "+user+" "+dataDir) && strings.Contains(r.args, "chmod 0700 "+dataDir)
	}) {
		t.Errorf("no RUN gives %s to %s with mode 0700", dataDir, user)
	}

	// Ports: EXPOSE lists exactly the listeners the ENV opens on 0.0.0.0.
	var exposed []string
	for _, e := range byCmd["EXPOSE"] {
		for _, p := range strings.Fields(e.args) {
			exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
		}
	}
	var listening []string
	for _, k := range []string{"OTELCOL_EDGE_OTLP_GRPC_ENDPOINT", "OTELCOL_EDGE_OTLP_HTTP_ENDPOINT", "OTELCOL_EDGE_HEALTH_ENDPOINT"} {
		host, port, err := net.SplitHostPort(env[k])
		if err != nil || host != "0.0.0.0" {
			t.Errorf("ENV %s=%q: want 0.0.0.0:<port>", k, env[k])
		}
		listening = append(listening, port)
	}
	if env["OTELCOL_EDGE_METRICS_HOST"] != "0.0.0.0" {
		t.Errorf("ENV OTELCOL_EDGE_METRICS_HOST=%q, want 0.0.0.0", env["OTELCOL_EDGE_METRICS_HOST"])
	}
	listening = append(listening, "8888") // the config's default metrics port
	slices.Sort(exposed)
	slices.Sort(listening)
	if !slices.Equal(exposed, listening) {
		t.Errorf("EXPOSE %v, want the listeners %v", exposed, listening)
	}

	// Files: the binary and the config, from paths the .dockerignore lets through.
	copies := map[string]string{} // destination -> source
	for _, c := range byCmd["COPY"] {
		var fields []string
		for _, f := range strings.Fields(c.args) {
			if !strings.HasPrefix(f, "--") {
				fields = append(fields, f)
			} else if !strings.HasPrefix(f, "--chmod=") {
				t.Errorf("line %d: COPY %s: unexpected flag", c.line, f)
			}
		}
		if len(fields) != 2 {
			t.Fatalf("line %d: COPY %s: want one source and one destination", c.line, c.args)
		}
		copies[fields[1]] = fields[0]
	}
	if copies[binaryPath] != "_build/otelcol-edge/otelcol-edge" {
		t.Errorf("COPY to %s from %q, want the binary of `make build`", binaryPath, copies[binaryPath])
	}
	if copies[configPath] != packagedConfig {
		t.Errorf("COPY to %s from %q, want %s", configPath, copies[configPath], packagedConfig)
	}
	ignore := strings.Fields(string(readRepoFile(t, "distribution/docker/Dockerfile.dockerignore")))
	for _, src := range copies {
		if !slices.Contains(ignore, "!"+src) {
			t.Errorf("Dockerfile.dockerignore does not let %s into the build context", src)
		}
	}

	// Entry point: the collector in exec form (so it is PID 1 and gets SIGTERM);
	// CMD only carries the flags, so `docker run image --config=...` and the
	// OpenTelemetry Operator (which sets the container args) replace them.
	if ep := execForm(t, last("ENTRYPOINT")); !slices.Equal(ep, []string{binaryPath}) {
		t.Errorf("ENTRYPOINT %v, want [%s]", ep, binaryPath)
	}
	if cmd := execForm(t, last("CMD")); !slices.Equal(cmd, []string{"--config=" + configPath}) {
		t.Errorf("CMD %v, want [--config=%s]", cmd, configPath)
	}
	if s := last("STOPSIGNAL").args; s != "SIGTERM" {
		t.Errorf("STOPSIGNAL %s", s)
	}

	// Health check: the healthcheckv2 extension at "/", from inside the container.
	hc := last("HEALTHCHECK").args
	opts, rest, ok := strings.Cut(hc, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s: want options then CMD", hc)
	}
	for _, o := range []string{"--interval=", "--timeout=", "--retries="} {
		if !strings.Contains(opts, o) {
			t.Errorf("HEALTHCHECK lacks %s", o)
		}
	}
	probe := execForm(t, instruction{line: last("HEALTHCHECK").line, cmd: "HEALTHCHECK CMD", args: rest})
	_, healthPort, _ := net.SplitHostPort(env["OTELCOL_EDGE_HEALTH_ENDPOINT"])
	if want := "http://127.0.0.1:" + healthPort + "/"; probe[0] != "wget" || probe[len(probe)-1] != want {
		t.Errorf("HEALTHCHECK CMD %v, want wget ... %s", probe, want)
	}

	// The config of the image validates with the image's environment.
	mustValidate(t, "the image's config (ENV of the Dockerfile)", readRepoFile(t, packagedConfig), env)
}
