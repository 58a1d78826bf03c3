// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

// global is the process's agent: started by the opamp: provider's first
// Retrieve (provider mode) or by the extension when no provider runs
// (reporting only).
var global struct {
	mu       sync.Mutex
	agent    *agent
	provider bool
}

// RetrieveForProvider is the opamp: provider's Retrieve: it starts the
// process's agent on the first call (reading the opamp section of the local
// config file at path) and returns the config to run now: the config being
// tried, else the last accepted remote config, else the local file.
func RetrieveForProvider(ctx context.Context, logger *zap.Logger, path string, watcher confmap.WatcherFunc) ([]byte, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	global.mu.Lock()
	a := global.agent
	if a == nil {
		section, cfg, err := localSection(path)
		if err != nil {
			global.mu.Unlock()
			return nil, err
		}
		a, err = newAgent(cfg, agentSettings{
			logger:        logger, // not With(): the collector swaps the core of its provider logger after start-up
			bootstrap:     path,
			localSection:  section,
			acceptsRemote: true,
			validate:      selfValidate(cfg.StorageDirectory),
			restart:       reexec(logger),
		})
		if errors.Is(err, errLocked) {
			// Another process (the service) owns the agent: serve what it
			// would serve at boot, without connecting (e.g. `validate`).
			global.mu.Unlock()
			logger.Info("OpAMP storage directory in use by another process; serving its last accepted config read-only", zap.String("directory", cfg.StorageDirectory))
			return readOnlyRetrieve(cfg.StorageDirectory, path, section)
		}
		if err == nil {
			err = a.start(ctx)
		}
		if err != nil {
			global.mu.Unlock()
			return nil, err
		}
		global.agent, global.provider = a, true
	} else if a.bootstrap != path {
		global.mu.Unlock()
		return nil, fmt.Errorf("opamp:%s: only one opamp: URI per process (already opamp:%s)", path, a.bootstrap)
	}
	global.mu.Unlock()
	return a.retrieve(watcher)
}

// readOnlyRetrieve serves, without owning the storage directory, what the
// owner would serve at boot: the last accepted config, else the local file.
func readOnlyRetrieve(dir, path string, section map[string]any) ([]byte, error) {
	body, err := os.ReadFile(filepath.Join(dir, currentFile))
	if errors.Is(err, fs.ErrNotExist) {
		body, err = readFile(path)
	}
	if err != nil {
		return nil, err
	}
	return injectSection(body, section)
}

// ShutdownProvider stops the provider's agent (the collector is exiting).
func ShutdownProvider(ctx context.Context) error {
	global.mu.Lock()
	a := global.agent
	if a == nil || !global.provider {
		global.mu.Unlock()
		return nil
	}
	global.agent, global.provider = nil, false
	global.mu.Unlock()
	return a.stop(ctx)
}

// currentGeneration is the generation of the config being built: the
// extension is created right after the provider served it.
func currentGeneration() uint64 {
	global.mu.Lock()
	defer global.mu.Unlock()
	if global.agent == nil {
		return 0
	}
	return global.agent.generationNow()
}

// selfValidate runs `<this binary> validate` on the bytes the provider would
// serve: unmarshal, every component's Validate and the pipelines' wiring,
// exactly what `otelcol-edge validate` checks.
func selfValidate(dir string) func(ctx context.Context, served []byte) error {
	return func(ctx context.Context, served []byte) error {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		f, err := os.CreateTemp(dir, "validate-*.yaml")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		_, err = f.Write(served)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, exe, "validate", "--config=file:"+f.Name()).CombinedOutput()
		if err == nil {
			return nil
		}
		return errors.New(validateMessage(string(out), err))
	}
}

// validateMessage is the error of `validate`'s output: from "Error: " on,
// on one line.
func validateMessage(out string, err error) string {
	if i := strings.Index(out, "Error: "); i >= 0 {
		out = out[i+len("Error: "):]
	}
	msg := strings.Join(strings.Fields(out), " ")
	if msg == "" {
		return err.Error()
	}
	const maxLen = 4096
	if len(msg) > maxLen {
		msg = msg[:maxLen] + "..."
	}
	return msg
}

// reexec replaces the process by a fresh copy of itself (same PID, same
// arguments and environment): after a failed start, upstream's collector ends
// the process; the new image boots onto the previous config.
func reexec(logger *zap.Logger) func(reason string) {
	return func(reason string) {
		exe, err := os.Executable()
		if err == nil {
			logger.Warn("Restarting the collector onto the previous config", zap.String("reason", reason))
			_ = logger.Sync()
			err = syscall.Exec(exe, os.Args, os.Environ())
		}
		logger.Error("Cannot restart the collector; exiting so that the service manager restarts it", zap.Error(err))
		os.Exit(70)
	}
}
