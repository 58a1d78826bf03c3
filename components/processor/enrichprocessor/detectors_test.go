// SPDX-License-Identifier: Apache-2.0

package enrichprocessor

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeEnv is a process environment with the given variables, the real file
// system (tests use files under t.TempDir()) and a fixed host.
func fakeEnv(vars map[string]string) sysEnv {
	return sysEnv{
		lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		readFile:  os.ReadFile,
		hostname:  func() (string, error) { return "test-host", nil },
		goos:      "linux",
		goarch:    "amd64",
	}
}

// strs renders detected attributes as strings, for comparisons.
func strs(attrs map[string]value) map[string]string {
	if attrs == nil {
		return nil
	}
	out := make(map[string]string, len(attrs))
	for k, v := range attrs {
		out[k] = v.String()
	}
	return out
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func testMetadata(url string) MetadataServiceConfig {
	return MetadataServiceConfig{Enabled: true, Endpoint: url, Timeout: 500 * time.Millisecond}
}

// unusedURL is a URL on 127.0.0.1 where nothing listens.
func unusedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

// hangingServer accepts requests and never answers until the test ends.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return srv
}

func TestEnvDetector(t *testing.T) {
	d := &envDetector{env: fakeEnv(nil)}
	attrs, err := d.detect(context.Background())
	require.NoError(t, err)
	assert.Nil(t, attrs, "not detected without OTEL_RESOURCE_ATTRIBUTES")

	d = &envDetector{env: fakeEnv(map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES": "service.namespace=shop, team=a%20b%2Cc ,deployment.environment.name=prod,broken",
	})}
	attrs, err = d.detect(context.Background())
	assert.ErrorContains(t, err, `"broken" is not key=value`)
	assert.Equal(t, map[string]string{
		"service.namespace":           "shop",
		"team":                        "a b,c",
		"deployment.environment.name": "prod",
	}, strs(attrs))
}

func TestHostDetector(t *testing.T) {
	dir := t.TempDir()
	cfg := HostDetectorConfig{
		MachineIDFiles: []string{filepath.Join(dir, "missing"), writeFile(t, dir, "machine-id", "4f1c2d\n")},
		OSReleaseFile:  writeFile(t, dir, "os-release", "NAME=\"Debian GNU/Linux\"\nVERSION=\"12 (bookworm)\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
	}
	env := fakeEnv(nil)
	env.goarch = "arm"
	attrs, err := (&hostDetector{env: env, cfg: cfg}).detect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"host.name":      "test-host",
		"host.id":        "4f1c2d",
		"os.type":        "linux",
		"os.description": "Debian GNU/Linux 12 (bookworm)",
		"host.arch":      "arm32",
	}, strs(attrs))

	// Without the files: what is known.
	cfg = HostDetectorConfig{MachineIDFiles: []string{filepath.Join(dir, "missing")}, OSReleaseFile: filepath.Join(dir, "missing")}
	attrs, err = (&hostDetector{env: fakeEnv(nil), cfg: cfg}).detect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"host.name": "test-host", "os.type": "linux", "host.arch": "amd64"}, strs(attrs))
}

func TestKubernetesDetector(t *testing.T) {
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config).Detectors.Kubernetes
	cfg.NamespaceFile = filepath.Join(dir, "namespace")

	// Not in a cluster: nothing.
	attrs, err := (&kubernetesDetector{env: fakeEnv(map[string]string{"HOSTNAME": "laptop"}), cfg: cfg}).detect(context.Background())
	require.NoError(t, err)
	assert.Nil(t, attrs)

	// In a cluster with only the service-account file and HOSTNAME.
	writeFile(t, dir, "namespace", "shop\n")
	attrs, err = (&kubernetesDetector{env: fakeEnv(map[string]string{"HOSTNAME": "checkout-7d9f-abcde"}), cfg: cfg}).detect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"k8s.pod.name": "checkout-7d9f-abcde", "k8s.namespace.name": "shop"}, strs(attrs))

	// Downward API variables with custom names win over the file and HOSTNAME.
	cfg.PodNameEnv, cfg.NamespaceEnv, cfg.NodeNameEnv = "MY_POD", "MY_NS", "MY_NODE"
	env := fakeEnv(map[string]string{
		"KUBERNETES_SERVICE_HOST": "10.0.0.1",
		"HOSTNAME":                "ignored",
		"MY_POD":                  "checkout-1",
		"MY_NS":                   "payments",
		"MY_NODE":                 "node-7",
		"K8S_POD_UID":             "8d1e-42",
		"K8S_CONTAINER_NAME":      "app",
		"K8S_CLUSTER_NAME":        "edge-eu",
	})
	attrs, err = (&kubernetesDetector{env: env, cfg: cfg}).detect(context.Background())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"k8s.pod.name":       "checkout-1",
		"k8s.pod.uid":        "8d1e-42",
		"k8s.namespace.name": "payments",
		"k8s.node.name":      "node-7",
		"k8s.container.name": "app",
		"k8s.cluster.name":   "edge-eu",
	}, strs(attrs))
}

// fakeIMDS imitates the EC2 instance metadata service with IMDSv2: a PUT
// with a TTL header returns a token, GETs without that token get 401.
func fakeIMDS(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var tokens atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/latest/api/token" {
			if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			tokens.Add(1)
			_, _ = w.Write([]byte("tok-123"))
			return
		}
		if r.Header.Get("X-aws-ec2-metadata-token") != "tok-123" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/dynamic/instance-identity/document":
			_ = json.NewEncoder(w).Encode(map[string]string{
				"accountId": "123456789012", "availabilityZone": "eu-west-1b", "region": "eu-west-1",
				"instanceId": "i-0abc", "instanceType": "t4g.small",
			})
		case "/latest/meta-data/hostname":
			_, _ = w.Write([]byte("ip-10-0-0-7.eu-west-1.compute.internal"))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &tokens
}

func TestAWSDetector(t *testing.T) {
	ctx := context.Background()

	// Environment only.
	d := &awsDetector{env: fakeEnv(map[string]string{"AWS_REGION": "us-east-2", "AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"})}
	attrs, err := d.detect(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"cloud.provider": "aws", "cloud.region": "us-east-2", "cloud.platform": "aws_ecs"}, strs(attrs))

	// Nothing in the environment, no metadata service: not detected.
	attrs, err = (&awsDetector{env: fakeEnv(nil)}).detect(ctx)
	require.NoError(t, err)
	assert.Nil(t, attrs)

	// IMDSv2, the environment's region wins.
	srv, tokens := fakeIMDS(t)
	d = &awsDetector{env: fakeEnv(map[string]string{"AWS_DEFAULT_REGION": "eu-central-1"}), md: newMetadataClient(testMetadata(srv.URL))}
	attrs, err = d.detect(ctx)
	require.NoError(t, err)
	assert.Equal(t, int32(1), tokens.Load())
	assert.Equal(t, map[string]string{
		"cloud.provider":          "aws",
		"cloud.platform":          "aws_ec2",
		"cloud.region":            "eu-central-1",
		"cloud.availability_zone": "eu-west-1b",
		"cloud.account.id":        "123456789012",
		"host.id":                 "i-0abc",
		"host.type":               "t4g.small",
		"host.name":               "ip-10-0-0-7.eu-west-1.compute.internal",
	}, strs(attrs))

	// A metadata service that is down: an error (retried), with the
	// environment's attributes kept.
	d = &awsDetector{env: fakeEnv(map[string]string{"AWS_REGION": "us-east-2"}), md: newMetadataClient(testMetadata(unusedURL(t)))}
	attrs, err = d.detect(ctx)
	require.Error(t, err)
	assert.Equal(t, map[string]string{"cloud.provider": "aws", "cloud.region": "us-east-2"}, strs(attrs))

	// A server that is not IMDS (404): not on AWS, not an error.
	notAWS := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notAWS.Close)
	attrs, err = (&awsDetector{env: fakeEnv(nil), md: newMetadataClient(testMetadata(notAWS.URL))}).detect(ctx)
	require.NoError(t, err)
	assert.Nil(t, attrs)
}

func TestGCPDetector(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Metadata-Flavor", "Google")
		answers := map[string]string{
			"/computeMetadata/v1/project/project-id":    "shop-prod",
			"/computeMetadata/v1/instance/id":           "4520031799277581759",
			"/computeMetadata/v1/instance/zone":         "projects/123/zones/europe-west4-a",
			"/computeMetadata/v1/instance/machine-type": "projects/123/machineTypes/e2-medium",
			"/computeMetadata/v1/instance/hostname":     "edge-1.c.shop-prod.internal",
		}
		a, ok := answers[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(srv.Close)

	attrs, err := (&gcpDetector{env: fakeEnv(nil), md: newMetadataClient(testMetadata(srv.URL))}).detect(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"cloud.provider":          "gcp",
		"cloud.platform":          "gcp_compute_engine",
		"cloud.account.id":        "shop-prod",
		"cloud.availability_zone": "europe-west4-a",
		"cloud.region":            "europe-west4",
		"host.id":                 "4520031799277581759",
		"host.type":               "e2-medium",
		"host.name":               "edge-1.c.shop-prod.internal",
	}, strs(attrs))

	// Cloud Run from the environment, metadata off.
	attrs, err = (&gcpDetector{env: fakeEnv(map[string]string{"GOOGLE_CLOUD_PROJECT": "p1", "K_SERVICE": "api"})}).detect(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"cloud.provider": "gcp", "cloud.account.id": "p1", "cloud.platform": "gcp_cloud_run"}, strs(attrs))

	// A server that does not answer with Metadata-Flavor: Google is not GCP.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("hello")) }))
	t.Cleanup(other.Close)
	attrs, err = (&gcpDetector{env: fakeEnv(nil), md: newMetadataClient(testMetadata(other.URL))}).detect(ctx)
	require.NoError(t, err)
	assert.Nil(t, attrs)
}

func TestAzureDetector(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if r.URL.Path != "/metadata/instance/compute" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{
			"location": "westeurope", "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6", "vmSize": "Standard_B2s",
			"subscriptionId": "8d10da13-8125-4ba9-a717-bf7490507b3d", "name": "edge-vm-1", "zone": "2",
		})
	}))
	t.Cleanup(srv.Close)

	attrs, err := (&azureDetector{env: fakeEnv(map[string]string{"AZURE_REGION": "northeurope"}), md: newMetadataClient(testMetadata(srv.URL))}).detect(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"cloud.provider":          "azure",
		"cloud.platform":          "azure_vm",
		"cloud.region":            "northeurope",
		"cloud.availability_zone": "2",
		"cloud.account.id":        "8d10da13-8125-4ba9-a717-bf7490507b3d",
		"host.id":                 "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
		"host.type":               "Standard_B2s",
		"host.name":               "edge-vm-1",
	}, strs(attrs))

	// App Service from the environment: IMDS is not queried.
	attrs, err = (&azureDetector{env: fakeEnv(map[string]string{"WEBSITE_SITE_NAME": "shop", "AZURE_SUBSCRIPTION_ID": "s1"}), md: newMetadataClient(testMetadata(unusedURL(t)))}).detect(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"cloud.provider": "azure", "cloud.platform": "azure_app_service", "cloud.account.id": "s1"}, strs(attrs))
}

// TestHangingMetadataService: every cloud detector gives up on a metadata
// service that never answers after its timeout.
func TestHangingMetadataService(t *testing.T) {
	srv := hangingServer(t)
	md := MetadataServiceConfig{Enabled: true, Endpoint: srv.URL, Timeout: 150 * time.Millisecond}
	for _, d := range []detector{
		&awsDetector{env: fakeEnv(nil), md: newMetadataClient(md)},
		&gcpDetector{env: fakeEnv(nil), md: newMetadataClient(md)},
		&azureDetector{env: fakeEnv(nil), md: newMetadataClient(md)},
	} {
		t.Run(d.name(), func(t *testing.T) {
			start := time.Now()
			_, err := d.detect(context.Background())
			require.Error(t, err)
			assert.Less(t, time.Since(start), 2*time.Second)
		})
	}
}
