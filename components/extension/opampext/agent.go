// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-telemetry/opamp-go/client"
	"github.com/open-telemetry/opamp-go/client/types"
	"github.com/open-telemetry/opamp-go/protobufs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/confmap"
	"go.uber.org/zap"
)

// agent is the process-wide OpAMP agent. In provider mode (an opamp: URI in
// --config) it lives as long as the process, across every reload, owns the
// connection and the storage directory, and decides which config the
// provider serves. The opamp extension of each reload's service feeds it the
// component statuses, readiness and the effective config of that generation.
//
// A remote config goes through: validate (otelcol-edge validate on the
// served bytes) -> trial (persisted, the collector reloads onto it) ->
// accepted (Ready, then stable_for without a permanent or fatal component
// error) or failed (rolled back: in process when the trial had become ready,
// otherwise by re-executing the binary, which boots onto the previous config).
type agent struct {
	cfg    *Config
	logger *zap.Logger
	store  *store

	// bootstrap is the local config file of the opamp: URI ("" when the
	// extension runs without the provider: reporting only).
	bootstrap string
	// localSection is the raw (unexpanded) opamp section of the bootstrap file,
	// injected into every served config.
	localSection  map[string]any
	acceptsRemote bool

	// validate checks the bytes the provider would serve; restart re-executes
	// the process. Both are replaced in unit tests.
	validate func(ctx context.Context, served []byte) error
	restart  func(reason string)

	client    client.OpAMPClient
	applyCh   chan *protobufs.AgentRemoteConfig
	reportCh  chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	effective atomic.Pointer[protobufs.EffectiveConfig]
	// effectiveDirty: the report loop must send the effective config.
	effectiveDirty atomic.Bool
	startTime      time.Time

	mu           sync.Mutex
	st           persistedState
	watcher      confmap.WatcherFunc
	reloadQueued bool // a watcher event is outstanding (the resolver's channel holds one)
	stopped      bool
	generation   uint64 // incremented by every Retrieve
	trial        *trial
	buildInfo    component.BuildInfo
	ready        bool // the current generation's service is ready
	components   map[string]*componentstatus.Event
	edge         edgeState
	// detected holds, per publishing component, the resource attributes
	// the service of generation detectedGen detected (resourceapi).
	detected    map[string]map[string]string
	detectedGen uint64
}

// trial is a remote config being tried.
type trial struct {
	hash    string
	gen     uint64 // the generation that served it; 0 until served
	ready   bool
	failure string
	// fatal: a component reported a fatal error; upstream ends the process
	// (provider first, then the service): restart at the extension's Shutdown.
	fatal    bool
	done     chan struct{}
	deadline *time.Timer
	stable   *time.Timer
	began    time.Time
}

// agentSettings are what a new agent needs besides its config.
type agentSettings struct {
	logger        *zap.Logger
	bootstrap     string
	localSection  map[string]any
	acceptsRemote bool
	validate      func(ctx context.Context, served []byte) error
	restart       func(reason string)
}

func newAgent(cfg *Config, set agentSettings) (*agent, error) {
	s, st, err := openStore(cfg.StorageDirectory)
	if err != nil {
		return nil, err
	}
	a := &agent{
		cfg:           cfg,
		logger:        set.logger,
		store:         s,
		bootstrap:     set.bootstrap,
		localSection:  set.localSection,
		acceptsRemote: set.acceptsRemote,
		validate:      set.validate,
		restart:       set.restart,
		applyCh:       make(chan *protobufs.AgentRemoteConfig, 1),
		reportCh:      make(chan struct{}, 1),
		done:          make(chan struct{}),
		st:            st,
		components:    map[string]*componentstatus.Event{},
		startTime:     time.Now(),
		buildInfo:     component.BuildInfo{Command: "otelcol-edge"},
	}
	if a.st.TrialHash != "" {
		// The process ended during a trial (failed start and re-exec, crash,
		// kill -9, stop): roll back, i.e. serve current.yaml, and report it.
		reason := a.st.TrialFailure
		if reason == "" {
			reason = "the collector stopped before the config was confirmed healthy"
		}
		a.logger.Warn("Remote config rolled back at start-up", zap.String("hash", a.st.TrialHash), zap.String("reason", reason))
		a.st.Status, a.st.StatusHash, a.st.StatusError = protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED.String(), a.st.TrialHash, reason
		a.st.TrialHash, a.st.TrialFailure = "", ""
		if err := a.store.remove(trialFile); err != nil {
			return nil, err
		}
		if err := a.store.saveState(a.st); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// start connects to the server in the background (a server that is down is
// retried with backoff forever) and starts the agent's goroutines.
func (a *agent) start(ctx context.Context) error {
	u, err := url.Parse(a.cfg.Server.Endpoint)
	if err != nil {
		return err
	}
	var c client.OpAMPClient
	switch u.Scheme {
	case "ws", "wss":
		c = client.NewWebSocket(opampLogger{a.logger})
	default:
		c = client.NewHTTP(opampLogger{a.logger})
	}
	header := http.Header{}
	for k, v := range a.cfg.Server.Headers {
		header.Set(k, string(v))
	}
	if a.cfg.Server.BearerToken != "" {
		header.Set("Authorization", "Bearer "+string(a.cfg.Server.BearerToken))
	}
	settings := types.StartSettings{
		OpAMPServerURL:    a.cfg.Server.Endpoint,
		Header:            header,
		HeartbeatInterval: &a.cfg.Server.HeartbeatInterval,
		Callbacks: types.Callbacks{
			OnMessage: a.onMessage,
			GetEffectiveConfig: func(context.Context) (*protobufs.EffectiveConfig, error) {
				return a.effective.Load(), nil
			},
		},
	}
	if u.Scheme == "wss" || u.Scheme == "https" {
		if settings.TLSConfig, err = a.cfg.Server.TLS.LoadTLSConfig(ctx); err != nil {
			return fmt.Errorf("server.tls: %w", err)
		}
	}
	uid, err := hex.DecodeString(a.st.InstanceUID)
	if err != nil || len(uid) != 16 {
		return fmt.Errorf("invalid instance_uid %q in %s", a.st.InstanceUID, stateFile)
	}
	copy(settings.InstanceUid[:], uid)
	caps := protobufs.AgentCapabilities_AgentCapabilities_ReportsStatus |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsEffectiveConfig |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHealth |
		protobufs.AgentCapabilities_AgentCapabilities_ReportsHeartbeat
	if a.acceptsRemote {
		caps |= protobufs.AgentCapabilities_AgentCapabilities_AcceptsRemoteConfig |
			protobufs.AgentCapabilities_AgentCapabilities_ReportsRemoteConfig
		settings.RemoteConfigStatus = a.remoteConfigStatus()
	}
	a.mu.Lock()
	desc := a.descriptionLocked()
	health := a.healthLocked()
	a.mu.Unlock()
	if err := c.SetAgentDescription(desc); err != nil {
		return err
	}
	if err := c.SetHealth(health); err != nil {
		return err
	}
	if err := c.SetCapabilities(&caps); err != nil {
		return err
	}
	if err := c.Start(context.Background(), settings); err != nil {
		return fmt.Errorf("start the OpAMP client: %w", err)
	}
	a.client = c
	a.wg.Go(a.applyLoop)
	a.wg.Go(a.reportLoop)
	return nil
}

// stop ends the agent's goroutines and the connection.
func (a *agent) stop(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopped = true
	if t := a.trial; t != nil {
		t.stopTimers()
	}
	a.mu.Unlock()
	close(a.done)
	a.wg.Wait()
	var err error
	if a.client != nil {
		err = a.client.Stop(ctx)
	}
	a.store.close()
	return err
}

func (a *agent) onMessage(_ context.Context, msg *types.MessageData) {
	if msg.RemoteConfig == nil || !a.acceptsRemote {
		return
	}
	// Latest wins: replace a remote config not yet picked up.
	for {
		select {
		case a.applyCh <- msg.RemoteConfig:
			return
		default:
			select {
			case <-a.applyCh:
			default:
			}
		}
	}
}

// applyLoop applies remote configs one at a time.
func (a *agent) applyLoop() {
	for {
		select {
		case <-a.done:
			return
		case rc := <-a.applyCh:
			a.apply(rc)
		}
	}
}

// apply validates a remote config and starts its trial, then waits for the
// trial's end.
func (a *agent) apply(rc *protobufs.AgentRemoteConfig) {
	body, err := remoteBody(rc)
	hash := hex.EncodeToString(rc.GetConfigHash())
	if hash == "" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	a.mu.Lock()
	failed := protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED.String()
	switch {
	case hash == a.st.CurrentHash:
		a.setStatusLocked(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, hash, "")
		a.mu.Unlock()
		return
	case hash == a.st.StatusHash && a.st.Status == failed:
		// Already tried and failed: do not try it again (a server re-sending
		// the same config would otherwise make the agent flap).
		a.mu.Unlock()
		a.signalReport()
		return
	}
	a.setStatusLocked(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLYING, hash, "")
	a.mu.Unlock()

	var served []byte
	if err == nil {
		served, err = a.serve(body)
	}
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ValidateTimeout)
		err = a.validate(ctx, served)
		cancel()
	}
	if err != nil {
		a.logger.Warn("Remote config rejected", zap.String("hash", hash), zap.Error(err))
		a.mu.Lock()
		a.setStatusLocked(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, hash, "invalid configuration: "+err.Error())
		a.mu.Unlock()
		return
	}

	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return
	}
	if err := a.beginTrialLocked(hash, body); err != nil {
		a.setStatusLocked(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, hash, err.Error())
		a.mu.Unlock()
		return
	}
	t := a.trial
	a.mu.Unlock()
	select {
	case <-t.done:
	case <-a.done:
	}
}

func (a *agent) beginTrialLocked(hash string, body []byte) error {
	if err := a.store.write(trialFile, body); err != nil {
		return fmt.Errorf("persist the config: %w", err)
	}
	a.st.TrialHash, a.st.TrialFailure = hash, ""
	if err := a.store.saveState(a.st); err != nil {
		return fmt.Errorf("persist the state: %w", err)
	}
	t := &trial{hash: hash, done: make(chan struct{}), began: time.Now()}
	t.deadline = time.AfterFunc(a.cfg.ApplyTimeout, func() { a.trialTimeout(t) })
	a.trial = t
	a.logger.Info("Trying a remote config", zap.String("hash", hash))
	a.requestReloadLocked()
	return nil
}

// requestReloadLocked tells the collector to call Retrieve again. At most one
// of our events is outstanding. The send happens on its own goroutine, never
// under a.mu: the resolver's channel holds one event, and a reload the
// collector started by itself (SIGHUP) can leave ours in it, so a send may
// wait until the collector's loop comes back; at shutdown the resolver closes
// the channel under a waiting send, which panics: recovered.
func (a *agent) requestReloadLocked() {
	if a.stopped || a.watcher == nil || a.reloadQueued {
		return
	}
	a.reloadQueued = true
	w := a.watcher
	go func() {
		defer func() { _ = recover() }()
		w(&confmap.ChangeEvent{})
	}()
}

// retrieve is the provider's Retrieve: the config to run now.
func (a *agent) retrieve(watcher confmap.WatcherFunc) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.watcher = watcher
	a.reloadQueued = false
	a.generation++
	a.ready = false
	a.components = map[string]*componentstatus.Event{}
	var body []byte
	var err error
	if t := a.trial; t != nil && t.failure == "" {
		t.gen = a.generation
		body, err = a.store.read(trialFile)
	} else {
		body, err = a.currentBodyLocked()
	}
	if err != nil {
		return nil, err
	}
	return a.serve(body)
}

// currentBodyLocked is the last accepted remote config, or the bootstrap
// file when none was ever accepted.
func (a *agent) currentBodyLocked() ([]byte, error) {
	if a.st.CurrentHash != "" {
		b, err := a.store.read(currentFile)
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		a.logger.Error("The last accepted remote config is missing, using the local file", zap.String("file", a.bootstrap))
	}
	return readFile(a.bootstrap)
}

// serve turns a config into what the provider returns: the local opamp
// section replaces any remote one, and the extension is enabled.
func (a *agent) serve(body []byte) ([]byte, error) {
	return injectSection(body, a.localSection)
}

func (a *agent) generationNow() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.generation
}

// onReady: the service of generation gen started all its pipelines.
func (a *agent) onReady(gen uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen == a.generation {
		a.ready = true
		a.signalReport()
	}
	t := a.trial
	if t == nil || t.gen != gen {
		return
	}
	t.ready = true
	if t.fatal {
		return
	}
	if t.failure != "" {
		a.rollbackLocked(t)
		return
	}
	t.stable = time.AfterFunc(a.cfg.StableFor, func() { a.confirm(t) })
}

// onStatus records a component's status; a permanent or fatal error fails
// a trial.
func (a *agent) onStatus(gen uint64, source *componentstatus.InstanceID, ev *componentstatus.Event) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.generation {
		return
	}
	key := instanceKey(source)
	a.components[key] = ev
	a.signalReport()
	t := a.trial
	if t == nil || t.gen != gen || t.failure != "" {
		return
	}
	if s := ev.Status(); s == componentstatus.StatusPermanentError || s == componentstatus.StatusFatalError {
		t.failure = fmt.Sprintf("%s: %s", key, errString(ev.Err()))
		if s == componentstatus.StatusFatalError {
			t.fatal = true
			a.failForRestartLocked(t, t.failure)
			return
		}
		if t.ready {
			a.rollbackLocked(t)
		}
		// Not ready yet: the service's start is failing; onShutdown follows.
	}
}

// onShutdown: the service of generation gen is going down. During a trial we
// did not end ourselves, it is a failed start (or a fatal error): upstream
// ends the process after it, so restart it onto the previous config.
func (a *agent) onShutdown(gen uint64) {
	a.mu.Lock()
	t := a.trial
	if t != nil && t.gen == gen && t.fatal {
		reason := t.failure
		a.mu.Unlock()
		a.restart(reason)
		return
	}
	if t == nil || t.gen != gen || a.stopped || (t.ready && t.failure == "") {
		a.mu.Unlock()
		return
	}
	reason := t.failure
	if reason == "" {
		reason = "the collector failed to start with the config"
	}
	a.failForRestartLocked(t, reason)
	a.mu.Unlock()
	a.restart(reason)
}

func (a *agent) failForRestartLocked(t *trial, reason string) {
	t.failure = reason
	t.stopTimers()
	a.st.TrialFailure = reason
	if err := a.store.saveState(a.st); err != nil {
		a.logger.Error("Cannot persist the failed trial", zap.Error(err))
	}
	a.logger.Error("Remote config failed to start; restarting onto the previous config", zap.String("hash", t.hash), zap.String("reason", reason))
}

func (a *agent) trialTimeout(t *trial) {
	a.mu.Lock()
	if a.trial != t || a.stopped {
		a.mu.Unlock()
		return
	}
	if t.failure == "" {
		t.failure = fmt.Sprintf("not healthy within apply_timeout (%s)", a.cfg.ApplyTimeout)
	}
	if t.ready {
		a.rollbackLocked(t)
		a.mu.Unlock()
		return
	}
	// Never ready: the reload is stuck; only a restart gets out of it.
	reason := t.failure
	a.failForRestartLocked(t, reason)
	a.mu.Unlock()
	a.restart(reason)
}

// rollbackLocked ends a failed trial that had become ready: the collector
// reloads onto the current config.
func (a *agent) rollbackLocked(t *trial) {
	t.stopTimers()
	a.trial = nil
	a.st.TrialHash, a.st.TrialFailure = "", ""
	if err := a.store.remove(trialFile); err != nil {
		a.logger.Error("Cannot remove the failed config", zap.Error(err))
	}
	a.setStatusLocked(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_FAILED, t.hash, t.failure)
	a.logger.Error("Remote config failed; rolling back", zap.String("hash", t.hash), zap.String("reason", t.failure))
	a.requestReloadLocked()
	close(t.done)
}

// confirm accepts a trial that stayed healthy for stable_for after Ready.
func (a *agent) confirm(t *trial) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.trial != t || t.failure != "" || a.stopped {
		return
	}
	t.stopTimers()
	if a.st.CurrentHash != "" {
		if err := a.store.rename(currentFile, previousFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			a.logger.Error("Cannot keep the previous config", zap.Error(err))
		}
	}
	if err := a.store.rename(trialFile, currentFile); err != nil {
		t.failure = "persist the accepted config: " + err.Error()
		a.rollbackLocked(t)
		return
	}
	a.st.PreviousHash, a.st.CurrentHash = a.st.CurrentHash, t.hash
	a.st.TrialHash, a.st.TrialFailure = "", ""
	a.trial = nil
	a.setStatusLocked(protobufs.RemoteConfigStatuses_RemoteConfigStatuses_APPLIED, t.hash, "")
	a.logger.Info("Remote config applied", zap.String("hash", t.hash), zap.Duration("took", time.Since(t.began)))
	close(t.done)
}

func (t *trial) stopTimers() {
	if t.deadline != nil {
		t.deadline.Stop()
	}
	if t.stable != nil {
		t.stable.Stop()
	}
}

// setStatusLocked persists and reports the remote config status.
func (a *agent) setStatusLocked(s protobufs.RemoteConfigStatuses, hash, errMsg string) {
	a.st.Status, a.st.StatusHash, a.st.StatusError = s.String(), hash, errMsg
	if err := a.store.saveState(a.st); err != nil {
		a.logger.Error("Cannot persist the remote config status", zap.Error(err))
	}
	a.signalReport()
}

func (a *agent) remoteConfigStatus() *protobufs.RemoteConfigStatus {
	if a.st.Status == "" {
		return nil
	}
	hash, _ := hex.DecodeString(a.st.StatusHash)
	return &protobufs.RemoteConfigStatus{
		LastRemoteConfigHash: hash,
		Status:               protobufs.RemoteConfigStatuses(protobufs.RemoteConfigStatuses_value[a.st.Status]),
		ErrorMessage:         a.st.StatusError,
	}
}

func (a *agent) signalReport() {
	select {
	case a.reportCh <- struct{}{}:
	default:
	}
}

// reportLoop is the only goroutine calling the client's setters (they may
// call our callbacks synchronously, so never under a.mu).
func (a *agent) reportLoop() {
	tick := time.NewTicker(a.cfg.ReportInterval)
	defer tick.Stop()
	for {
		select {
		case <-a.done:
			return
		case <-tick.C:
			a.scrapeEdge()
		case <-a.reportCh:
		}
		a.mu.Lock()
		status := a.remoteConfigStatus()
		health := a.healthLocked()
		desc := a.descriptionLocked()
		a.mu.Unlock()
		if a.acceptsRemote && status != nil {
			if err := a.client.SetRemoteConfigStatus(status); err != nil {
				a.logger.Debug("OpAMP remote config status", zap.Error(err))
			}
		}
		if err := a.client.SetHealth(health); err != nil {
			a.logger.Debug("OpAMP health", zap.Error(err))
		}
		if err := a.client.SetAgentDescription(desc); err != nil {
			a.logger.Debug("OpAMP agent description", zap.Error(err))
		}
		if a.effectiveDirty.Swap(false) {
			if err := a.client.UpdateEffectiveConfig(context.Background()); err != nil {
				a.logger.Debug("OpAMP effective config", zap.Error(err))
			}
		}
	}
}

// setEffective records the effective config of generation gen, redacted.
func (a *agent) setEffective(gen uint64, conf *confmap.Conf) {
	if gen != a.generationNow() || conf == nil {
		return
	}
	body, err := redactedYAML(conf.ToStringMap(), a.cfg.RedactKeys)
	if err != nil {
		a.logger.Warn("Cannot encode the effective config", zap.Error(err))
		return
	}
	a.effective.Store(&protobufs.EffectiveConfig{ConfigMap: &protobufs.AgentConfigMap{
		ConfigMap: map[string]*protobufs.AgentConfigFile{"": {Body: body, ContentType: "text/yaml"}},
	}})
	a.effectiveDirty.Store(true)
	a.signalReport()
}

// setDetected records the attributes source (a component of the service of
// generation gen) detected; nil withdraws them. A stale service's are
// ignored; the first publication of a new generation drops the previous
// generation's.
func (a *agent) setDetected(gen uint64, source string, attrs map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if gen != a.generation {
		return
	}
	if a.detectedGen != gen || a.detected == nil {
		a.detected, a.detectedGen = map[string]map[string]string{}, gen
	}
	if len(attrs) == 0 {
		delete(a.detected, source)
	} else {
		a.detected[source] = maps.Clone(attrs)
	}
	a.signalReport()
}

func (a *agent) setBuildInfo(bi component.BuildInfo) {
	a.mu.Lock()
	a.buildInfo = bi
	a.mu.Unlock()
	a.signalReport()
}

func errString(err error) string {
	if err == nil {
		return "error"
	}
	return err.Error()
}

// opampLogger sends opamp-go's logs to zap; its connection errors are
// retried forever, so they are warnings.
type opampLogger struct{ l *zap.Logger }

func (o opampLogger) Debugf(_ context.Context, format string, v ...any) {
	o.l.Debug(fmt.Sprintf(format, v...))
}

func (o opampLogger) Errorf(_ context.Context, format string, v ...any) {
	o.l.Warn(fmt.Sprintf(format, v...))
}
