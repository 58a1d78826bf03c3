// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/open-telemetry/opamp-go/protobufs"
	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

// extensionName is the key of our section under extensions.
const extensionName = "opamp"

// redactedValue replaces a secret in the effective config.
const redactedValue = "[REDACTED]"

// remoteBody is the YAML of a remote config: its only file, or all files
// merged in name order.
func remoteBody(rc *protobufs.AgentRemoteConfig) ([]byte, error) {
	files := rc.GetConfig().GetConfigMap()
	if len(files) == 0 {
		return nil, errors.New("the remote config has no file")
	}
	if len(files) == 1 {
		for _, f := range files {
			return f.GetBody(), nil
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	merged := confmap.New()
	for _, n := range names {
		var m map[string]any
		if err := yaml.Unmarshal(files[n].GetBody(), &m); err != nil {
			return nil, fmt.Errorf("file %q: %w", n, err)
		}
		if err := merged.Merge(confmap.NewFromStringMap(m)); err != nil {
			return nil, fmt.Errorf("file %q: %w", n, err)
		}
	}
	return yaml.Marshal(merged.ToStringMap())
}

// injectSection returns body with extensions.opamp set to section (when not
// nil) and "opamp" in service.extensions.
func injectSection(body []byte, section map[string]any) ([]byte, error) {
	var m map[string]any
	if err := yaml.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	if m == nil {
		return nil, errors.New("empty configuration")
	}
	if section != nil {
		exts, _ := m["extensions"].(map[string]any)
		if exts == nil {
			exts = map[string]any{}
		}
		exts[extensionName] = section
		m["extensions"] = exts
		svc, _ := m["service"].(map[string]any)
		if svc == nil {
			svc = map[string]any{}
		}
		list, _ := svc["extensions"].([]any)
		if !slices.Contains(list, any(extensionName)) {
			svc["extensions"] = append(list, extensionName)
		}
		m["service"] = svc
	}
	return yaml.Marshal(m)
}

// localSection reads the opamp section of the local config file: raw (its
// ${env:...} references are expanded by the collector like the rest of the
// file) and decoded with the environment expanded (for the agent itself).
func localSection(path string) (map[string]any, *Config, error) {
	body, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(body, &m); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	exts, _ := m["extensions"].(map[string]any)
	raw, ok := exts[extensionName]
	if !ok {
		return nil, nil, fmt.Errorf("%s has no extensions::%s section: the opamp: provider needs it (server.endpoint at least)", path, extensionName)
	}
	section, _ := raw.(map[string]any)
	if section == nil {
		section = map[string]any{}
	}
	cfg := createDefaultConfig()
	if err := confmap.NewFromStringMap(expandEnv(section).(map[string]any)).Unmarshal(cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: extensions::%s: %w", path, extensionName, err)
	}
	if err := confmap.Validate(cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: extensions::%s: %w", path, extensionName, err)
	}
	return section, cfg, nil
}

var envRef = regexp.MustCompile(`\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// expandEnv expands ${env:NAME}, ${env:NAME:-default} and ${NAME} in strings.
func expandEnv(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = expandEnv(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = expandEnv(x)
		}
		return out
	case string:
		return envRef.ReplaceAllStringFunc(t, func(ref string) string {
			sub := envRef.FindStringSubmatch(ref)
			if val, ok := os.LookupEnv(sub[1]); ok && val != "" {
				return val
			}
			return sub[2]
		})
	default:
		return v
	}
}

func readFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no local config file")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the local config: %w", err)
	}
	return b, nil
}

// secretFragments are key name fragments whose values never leave the agent.
var secretFragments = []string{
	"password", "passwd", "secret", "token", "hash_key", "api_key", "apikey",
	"authorization", "credential", "private_key", "key_pem", "cookie",
}

// redactedYAML encodes an effective config with every value under a key
// that looks secret replaced by [REDACTED] (on top of the collector's own
// redaction of configopaque fields), and every header value.
func redactedYAML(m map[string]any, extra []string) ([]byte, error) {
	return yaml.Marshal(redact(m, secretKeyFragments(extra), false))
}

// secretKeyFragments is secretFragments plus extra, lower-cased.
func secretKeyFragments(extra []string) []string {
	frags := append(slices.Clone(secretFragments), extra...)
	for i := range frags {
		frags[i] = strings.ToLower(frags[i])
	}
	return frags
}

// isSecretKey: the key contains one of frags (lower-case).
func isSecretKey(k string, frags []string) bool {
	lk := strings.ToLower(k)
	for _, f := range frags {
		if strings.Contains(lk, f) {
			return true
		}
	}
	return false
}

func redact(v any, frags []string, all bool) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			lk := strings.ToLower(k)
			secret := all
			for _, f := range frags {
				if strings.Contains(lk, f) {
					secret = true
					break
				}
			}
			if secret && !isContainer(x) {
				if x == nil || x == "" {
					out[k] = x
				} else {
					out[k] = redactedValue
				}
				continue
			}
			out[k] = redact(x, frags, secret || lk == "headers")
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = redact(x, frags, all)
		}
		return out
	default:
		if all && v != nil && v != "" {
			return redactedValue
		}
		return v
	}
}

func isContainer(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}
