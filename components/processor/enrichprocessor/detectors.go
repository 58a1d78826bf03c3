// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Detector names, in the order of their precedence (see the README's conflict
// rule): when two detectors produce the same key, the earlier one wins.
const (
	detEnv        = "env"
	detKubernetes = "kubernetes"
	detAWS        = "aws"
	detGCP        = "gcp"
	detAzure      = "azure"
	detHost       = "host"
)

// detectorOrder is the precedence of the detectors.
var detectorOrder = []string{detEnv, detKubernetes, detAWS, detGCP, detAzure, detHost}

// detector finds resource attributes about the environment. A nil map with a
// nil error means "not in that environment". A detector may return partial
// attributes together with an error (for example the environment variables
// when the metadata service did not answer). Detectors must honour ctx.
type detector interface {
	name() string
	detect(ctx context.Context) (map[string]value, error)
}

// sysEnv is the process environment the detectors read; tests replace it.
type sysEnv struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)
	hostname  func() (string, error)
	goos      string
	goarch    string
}

func defaultSysEnv() sysEnv {
	return sysEnv{
		lookupEnv: os.LookupEnv,
		readFile:  os.ReadFile,
		hostname:  os.Hostname,
		goos:      runtime.GOOS,
		goarch:    runtime.GOARCH,
	}
}

// getenv returns the trimmed value of an environment variable ("" when unset
// or when name is empty).
func (s sysEnv) getenv(name string) string {
	if name == "" {
		return ""
	}
	v, _ := s.lookupEnv(name)
	return strings.TrimSpace(v)
}

// firstEnv returns the first non-empty variable of names.
func (s sysEnv) firstEnv(names ...string) string {
	for _, n := range names {
		if v := s.getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// putIf sets attrs[k] when v is not empty.
func putIf(attrs map[string]value, k, v string) {
	if v != "" {
		attrs[k] = strValue(v)
	}
}

// envDetector reads OTEL_RESOURCE_ATTRIBUTES.
type envDetector struct{ env sysEnv }

const envResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"

func (*envDetector) name() string { return detEnv }

func (d *envDetector) detect(context.Context) (map[string]value, error) {
	raw := d.env.getenv(envResourceAttributes)
	if raw == "" {
		return nil, nil
	}
	attrs, err := parseResourceAttributes(raw)
	if len(attrs) == 0 && err == nil {
		return nil, nil
	}
	return attrs, err
}

// parseResourceAttributes parses the W3C-baggage-like list of the OTel
// specification: key1=value1,key2=value2 with percent-encoded values. Valid
// pairs are kept when others are malformed.
func parseResourceAttributes(raw string) (map[string]value, error) {
	attrs := map[string]value{}
	var errs []error
	for _, pair := range strings.Split(raw, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not key=value", envResourceAttributes, pair))
			continue
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: value of %q: %w", envResourceAttributes, k, err))
			continue
		}
		attrs[k] = strValue(dv)
	}
	return attrs, errors.Join(errs...)
}

// hostDetector reads the host name, machine id, OS and architecture.
type hostDetector struct {
	env sysEnv
	cfg HostDetectorConfig
}

func (*hostDetector) name() string { return detHost }

func (d *hostDetector) detect(context.Context) (map[string]value, error) {
	attrs := map[string]value{}
	var errs []error
	if h, err := d.env.hostname(); err != nil {
		errs = append(errs, fmt.Errorf("host name: %w", err))
	} else {
		putIf(attrs, attrHostName, strings.TrimSpace(h))
	}
	for _, f := range d.cfg.MachineIDFiles {
		b, err := d.env.readFile(f)
		if err != nil {
			continue
		}
		if id := strings.TrimSpace(string(b)); id != "" {
			attrs[attrHostID] = strValue(id)
			break
		}
	}
	putIf(attrs, attrOSType, osType(d.env.goos))
	putIf(attrs, attrHostArch, hostArch(d.env.goarch))
	if d.cfg.OSReleaseFile != "" {
		if b, err := d.env.readFile(d.cfg.OSReleaseFile); err == nil {
			putIf(attrs, attrOSDescription, osDescription(b))
		}
	}
	return attrs, errors.Join(errs...)
}

// osType maps GOOS to the semantic-convention os.type values.
func osType(goos string) string {
	switch goos {
	case "dragonfly":
		return "dragonflybsd"
	case "illumos":
		return "solaris"
	case "zos":
		return "z_os"
	}
	return goos
}

// hostArch maps GOARCH to the semantic-convention host.arch values.
func hostArch(goarch string) string {
	switch goarch {
	case "386":
		return "x86"
	case "arm":
		return "arm32"
	case "ppc64le":
		return "ppc64"
	case "ppc", "ppcle":
		return "ppc32"
	}
	return goarch
}

// osDescription returns PRETTY_NAME (or NAME VERSION) of an os-release file.
func osDescription(b []byte) string {
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		vals[k] = v
	}
	if v := vals["PRETTY_NAME"]; v != "" {
		return v
	}
	return strings.TrimSpace(vals["NAME"] + " " + vals["VERSION"])
}

// kubernetesDetector reads the downward API environment variables and the
// service-account namespace file.
type kubernetesDetector struct {
	env sysEnv
	cfg KubernetesDetectorConfig
}

func (*kubernetesDetector) name() string { return detKubernetes }

func (d *kubernetesDetector) detect(context.Context) (map[string]value, error) {
	nsFile := ""
	if d.cfg.NamespaceFile != "" {
		if b, err := d.env.readFile(d.cfg.NamespaceFile); err == nil {
			nsFile = strings.TrimSpace(string(b))
		}
	}
	inCluster := d.env.getenv("KUBERNETES_SERVICE_HOST") != "" || nsFile != ""
	if !inCluster {
		return nil, nil
	}
	attrs := map[string]value{}
	putIf(attrs, attrK8sPodName, d.env.firstEnv(d.cfg.PodNameEnv, "HOSTNAME"))
	putIf(attrs, attrK8sPodUID, d.env.getenv(d.cfg.PodUIDEnv))
	ns := d.env.getenv(d.cfg.NamespaceEnv)
	if ns == "" {
		ns = nsFile
	}
	putIf(attrs, attrK8sNamespace, ns)
	putIf(attrs, attrK8sNodeName, d.env.getenv(d.cfg.NodeNameEnv))
	putIf(attrs, attrK8sContainer, d.env.getenv(d.cfg.ContainerNameEnv))
	putIf(attrs, attrK8sCluster, d.env.getenv(d.cfg.ClusterNameEnv))
	return attrs, nil
}
