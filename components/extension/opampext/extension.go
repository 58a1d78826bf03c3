// SPDX-License-Identifier: Apache-2.0

package opampext // import "github.com/otelcol-edge/otelcol-edge/components/extension/opampext"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensioncapabilities"

	"github.com/otelcol-edge/otelcol-edge/components/resourceapi"
)

// opampExtension is one service's view of the agent: it feeds the agent the
// readiness, component statuses and effective config of the service it was
// built for (its generation). With the opamp: provider the agent outlives it;
// without, it starts a reporting-only agent and stops it at Shutdown.
type opampExtension struct {
	cfg   *Config
	set   extension.Settings
	gen   uint64
	agent *agent
	owned bool
}

var (
	_ extensioncapabilities.PipelineWatcher        = (*opampExtension)(nil)
	_ extensioncapabilities.ConfigSnapshotWatcher  = (*opampExtension)(nil)
	_ extensioncapabilities.ComponentStatusWatcher = (*opampExtension)(nil)
	_ resourceapi.Receiver                         = (*opampExtension)(nil)
)

// Start attaches to the process's agent, or starts a reporting-only one.
func (e *opampExtension) Start(ctx context.Context, _ component.Host) error {
	global.mu.Lock()
	a := global.agent
	if a == nil {
		var err error
		a, err = newAgent(e.cfg, agentSettings{logger: e.set.Logger})
		if err == nil {
			err = a.start(ctx)
		}
		if err != nil {
			global.mu.Unlock()
			return err
		}
		global.agent, e.owned = a, true
	}
	global.mu.Unlock()
	e.agent = a
	a.setBuildInfo(e.set.BuildInfo)
	if e.owned {
		// No provider calls Retrieve: this service is the current one.
		a.mu.Lock()
		e.gen = a.generation
		a.mu.Unlock()
	}
	return nil
}

// Shutdown tells the agent the service is going down (during a trial that
// did not become healthy, this restarts the process onto the previous config).
func (e *opampExtension) Shutdown(ctx context.Context) error {
	a := e.agent
	if a == nil {
		return nil
	}
	if e.owned {
		global.mu.Lock()
		global.agent = nil
		global.mu.Unlock()
		return a.stop(ctx)
	}
	a.onShutdown(e.gen)
	return nil
}

// Ready is called when every pipeline started.
func (e *opampExtension) Ready() error {
	if e.agent != nil {
		e.agent.onReady(e.gen)
	}
	return nil
}

// NotReady is called before the receivers stop.
func (e *opampExtension) NotReady() error { return nil }

// Changed receives every component's status.
func (e *opampExtension) Changed(source *componentstatus.InstanceID, event *componentstatus.Event) {
	if e.agent != nil {
		e.agent.onStatus(e.gen, source, event)
	}
}

// NotifyConfigSnapshot receives the effective configuration.
func (e *opampExtension) NotifyConfigSnapshot(_ context.Context, snap extensioncapabilities.ConfigSnapshot) error {
	if e.agent != nil {
		e.agent.setEffective(e.gen, snap.Effective())
	}
	return nil
}

// SetDetectedResource receives the resource attributes a component of this
// service detected (the enrich processor's detectors): they join the agent
// description.
func (e *opampExtension) SetDetectedResource(source string, attrs map[string]string) {
	if e.agent != nil {
		e.agent.setDetected(e.gen, source, attrs)
	}
}
