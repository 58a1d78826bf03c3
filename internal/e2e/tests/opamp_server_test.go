// SPDX-License-Identifier: Apache-2.0

package tests // import "github.com/otelcol-edge/otelcol-edge/internal/e2e/tests"

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opamp-go/protobufs"
	"github.com/open-telemetry/opamp-go/server"
	"github.com/open-telemetry/opamp-go/server/types"

	"github.com/otelcol-edge/otelcol-edge/internal/e2e"
)

// fleetServer is a real OpAMP server (opamp-go's server package) on
// 127.0.0.1 that records what the agent reports and pushes configs to it.
type fleetServer struct {
	t      *testing.T
	srv    server.OpAMPServer
	port   int
	token  string // required bearer token ("" = none)
	tlsCfg *tls.Config

	mu          sync.Mutex
	conn        types.Connection
	uid         []byte
	desired     *protobufs.AgentRemoteConfig
	status      *protobufs.RemoteConfigStatus
	effective   string
	health      *protobufs.ComponentHealth
	description *protobufs.AgentDescription
	rejected    int // connections refused for a wrong or missing token
	statuses    []string
}

func newFleetServer(t *testing.T, token string) *fleetServer {
	t.Helper()
	return newFleetServerTLS(t, token, nil)
}

// newFleetServerTLS serves wss:// and https:// with tlsCfg.
func newFleetServerTLS(t *testing.T, token string, tlsCfg *tls.Config) *fleetServer {
	t.Helper()
	f := &fleetServer{t: t, port: e2e.FreePorts(t, 1)[0], token: token, tlsCfg: tlsCfg}
	f.start()
	t.Cleanup(f.stop)
	return f
}

func (f *fleetServer) wsURL() string {
	if f.tlsCfg != nil {
		return "wss://127.0.0.1:" + strconv.Itoa(f.port) + "/v1/opamp"
	}
	return "ws://127.0.0.1:" + strconv.Itoa(f.port) + "/v1/opamp"
}
func (f *fleetServer) httpURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(f.port) + "/v1/opamp"
}

func (f *fleetServer) start() {
	f.t.Helper()
	f.srv = server.New(nil)
	err := f.srv.Start(server.StartSettings{
		ListenEndpoint: "127.0.0.1:" + strconv.Itoa(f.port),
		ListenPath:     "/v1/opamp",
		TLSConfig:      f.tlsCfg,
		Settings: server.Settings{Callbacks: types.Callbacks{
			OnConnecting: func(r *http.Request) types.ConnectionResponse {
				if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
					f.mu.Lock()
					f.rejected++
					f.mu.Unlock()
					return types.ConnectionResponse{Accept: false, HTTPStatusCode: http.StatusUnauthorized}
				}
				return types.ConnectionResponse{Accept: true, ConnectionCallbacks: types.ConnectionCallbacks{
					OnConnected: func(_ context.Context, conn types.Connection) {
						f.mu.Lock()
						f.conn = conn
						f.mu.Unlock()
					},
					OnMessage: f.onMessage,
				}}
			},
		}},
	})
	if err != nil {
		f.t.Fatalf("start the OpAMP server: %v", err)
	}
}

func (f *fleetServer) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = f.srv.Stop(ctx)
}

func (f *fleetServer) onMessage(_ context.Context, conn types.Connection, msg *protobufs.AgentToServer) *protobufs.ServerToAgent {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.uid = msg.GetInstanceUid()
	if s := msg.GetRemoteConfigStatus(); s != nil {
		f.status = s
		f.statuses = append(f.statuses, s.GetStatus().String())
	}
	if ec := msg.GetEffectiveConfig(); ec != nil {
		f.effective = string(ec.GetConfigMap().GetConfigMap()[""].GetBody())
	}
	if h := msg.GetHealth(); h != nil {
		f.health = h
	}
	if d := msg.GetAgentDescription(); d != nil {
		f.description = d
	}
	resp := &protobufs.ServerToAgent{InstanceUid: msg.GetInstanceUid()}
	// Plain-HTTP agents only hear from us in answers: send the desired
	// config until the agent reports a status for it.
	if f.desired != nil && (f.status == nil || string(f.status.GetLastRemoteConfigHash()) != string(f.desired.GetConfigHash())) {
		resp.RemoteConfig = f.desired
	}
	return resp
}

// push makes body the desired config and sends it at once over a WebSocket
// connection (a polling agent gets it in the next answer). It returns the
// config's hash.
func (f *fleetServer) push(body string) []byte {
	f.t.Helper()
	sum := sha256.Sum256([]byte(body))
	rc := &protobufs.AgentRemoteConfig{
		ConfigHash: sum[:],
		Config: &protobufs.AgentConfigMap{ConfigMap: map[string]*protobufs.AgentConfigFile{
			"collector.yaml": {Body: []byte(body), ContentType: "text/yaml"},
		}},
	}
	f.mu.Lock()
	f.desired = rc
	conn, uid := f.conn, f.uid
	f.mu.Unlock()
	if conn != nil && uid != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := conn.Send(ctx, &protobufs.ServerToAgent{InstanceUid: uid, RemoteConfig: rc}); err != nil {
			f.t.Logf("push over the connection: %v (the agent gets it at its next message)", err)
		}
	}
	return sum[:]
}

// waitStatus waits until the agent reports want for hash and returns the
// status.
func (f *fleetServer) waitStatus(t *testing.T, hash []byte, want protobufs.RemoteConfigStatuses, timeout time.Duration) *protobufs.RemoteConfigStatus {
	t.Helper()
	var got *protobufs.RemoteConfigStatus
	e2e.Eventually(t, timeout, 20*time.Millisecond, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		got = f.status
		return got != nil && string(got.GetLastRemoteConfigHash()) == string(hash) && got.GetStatus() == want
	}, "remote config status "+want.String())
	return got
}

func (f *fleetServer) snapshot() (effective string, health *protobufs.ComponentHealth, desc *protobufs.AgentDescription, status *protobufs.RemoteConfigStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.effective, f.health, f.description, f.status
}

func (f *fleetServer) connected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.description != nil
}

// count is the number of status reports with s.
func (f *fleetServer) count(s protobufs.RemoteConfigStatuses) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, x := range f.statuses {
		if x == s.String() {
			n++
		}
	}
	return n
}
