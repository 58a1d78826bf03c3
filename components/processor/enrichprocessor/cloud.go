// SPDX-License-Identifier: Apache-2.0

package enrichprocessor // import "github.com/otelcol-edge/otelcol-edge/components/processor/enrichprocessor"

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// errNotThere marks a metadata service that answered but is not the one
// expected (404, missing protocol header): the process does not run on that
// cloud, which is not a failure.
var errNotThere = errors.New("metadata service not present")

// metadataClient queries an instance metadata service. Keep-alives are off:
// the service is queried rarely, and no connection outlives a request.
type metadataClient struct {
	base    string
	timeout time.Duration
	client  *http.Client
}

func newMetadataClient(cfg MetadataServiceConfig) *metadataClient {
	return &metadataClient{
		base:    strings.TrimRight(cfg.Endpoint, "/"),
		timeout: cfg.Timeout,
		client: &http.Client{
			Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
			// Never follow redirects away from the metadata service.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// do sends one request bounded by the client's timeout and returns the body
// of a 200 answer. Server errors (5xx, 429) are errors to retry; 404 and a
// failed protocol check answer errNotThere.
func (c *metadataClient) do(ctx context.Context, method, path string, header map[string]string, check func(http.Header) bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, http.NoBody)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if check != nil && !check(resp.Header) {
		return nil, errNotThere
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, errNotThere
	default:
		return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
}

// finish combines the environment attributes with the metadata service's
// result: the metadata fills what the environment did not say.
func finish(fromEnv, fromService map[string]value, err error) (map[string]value, error) {
	if errors.Is(err, errNotThere) {
		err = nil
		fromService = nil
	}
	if len(fromEnv) == 0 && len(fromService) == 0 {
		return nil, err
	}
	out := make(map[string]value, len(fromEnv)+len(fromService))
	for k, v := range fromService {
		out[k] = v
	}
	for k, v := range fromEnv {
		out[k] = v
	}
	return out, err
}

// cloudEnvAttrs starts the attribute set of a cloud whose environment was
// recognised.
func cloudEnvAttrs(provider string) map[string]value {
	return map[string]value{attrCloudProvider: strValue(provider)}
}

// lastSegment returns what follows the last '/' ("projects/1/zones/x" -> "x").
func lastSegment(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}

// awsDetector reads the AWS environment, then IMDSv2.
type awsDetector struct {
	env sysEnv
	md  *metadataClient
}

func (*awsDetector) name() string { return detAWS }

func (d *awsDetector) detect(ctx context.Context) (map[string]value, error) {
	var fromEnv map[string]value
	region := d.env.firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	execEnv := d.env.getenv("AWS_EXECUTION_ENV")
	platform := ""
	switch {
	case d.env.getenv("AWS_LAMBDA_FUNCTION_NAME") != "" || strings.HasPrefix(execEnv, "AWS_Lambda_"):
		platform = "aws_lambda"
	case strings.HasPrefix(execEnv, "AWS_ECS_") || d.env.getenv("ECS_CONTAINER_METADATA_URI_V4") != "":
		platform = "aws_ecs"
	case execEnv == "AWS_ElasticBeanstalk" || strings.HasPrefix(execEnv, "AWS_ElasticBeanstalk"):
		platform = "aws_elastic_beanstalk"
	}
	account := d.env.getenv("AWS_ACCOUNT_ID")
	if region != "" || platform != "" || account != "" {
		fromEnv = cloudEnvAttrs("aws")
		putIf(fromEnv, attrCloudRegion, region)
		putIf(fromEnv, attrCloudPlatform, platform)
		putIf(fromEnv, attrCloudAccount, account)
	}
	if d.md == nil || platform == "aws_lambda" {
		return finish(fromEnv, nil, nil)
	}
	svc, err := d.imds(ctx)
	return finish(fromEnv, svc, err)
}

// imds runs the IMDSv2 flow: a PUT for a session token, then the instance
// identity document with the token.
func (d *awsDetector) imds(ctx context.Context) (map[string]value, error) {
	token, err := d.md.do(ctx, http.MethodPut, "/latest/api/token",
		map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "60"}, nil)
	if err != nil {
		return nil, fmt.Errorf("IMDSv2 token: %w", err)
	}
	tok := map[string]string{"X-aws-ec2-metadata-token": strings.TrimSpace(string(token))}
	body, err := d.md.do(ctx, http.MethodGet, "/latest/dynamic/instance-identity/document", tok, nil)
	if err != nil {
		return nil, fmt.Errorf("instance identity document: %w", err)
	}
	var doc struct {
		AccountID        string `json:"accountId"`
		AvailabilityZone string `json:"availabilityZone"`
		Region           string `json:"region"`
		InstanceID       string `json:"instanceId"`
		InstanceType     string `json:"instanceType"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("instance identity document: %w", err)
	}
	attrs := cloudEnvAttrs("aws")
	attrs[attrCloudPlatform] = strValue("aws_ec2")
	putIf(attrs, attrCloudAccount, doc.AccountID)
	putIf(attrs, attrCloudZone, doc.AvailabilityZone)
	putIf(attrs, attrCloudRegion, doc.Region)
	putIf(attrs, attrHostID, doc.InstanceID)
	putIf(attrs, attrHostType, doc.InstanceType)
	if h, err := d.md.do(ctx, http.MethodGet, "/latest/meta-data/hostname", tok, nil); err == nil {
		putIf(attrs, attrHostName, strings.TrimSpace(string(h)))
	}
	return attrs, nil
}

// gcpDetector reads the Google Cloud environment, then the metadata server.
type gcpDetector struct {
	env sysEnv
	md  *metadataClient
}

func (*gcpDetector) name() string { return detGCP }

func (d *gcpDetector) detect(ctx context.Context) (map[string]value, error) {
	var fromEnv map[string]value
	project := d.env.firstEnv("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "GCP_PROJECT", "CLOUDSDK_CORE_PROJECT")
	region := d.env.firstEnv("GOOGLE_CLOUD_REGION", "FUNCTION_REGION")
	platform := ""
	switch {
	case d.env.getenv("FUNCTION_TARGET") != "" || d.env.getenv("FUNCTION_NAME") != "":
		platform = "gcp_cloud_functions"
	case d.env.getenv("K_SERVICE") != "" || d.env.getenv("CLOUD_RUN_JOB") != "":
		platform = "gcp_cloud_run"
	case d.env.getenv("GAE_SERVICE") != "":
		platform = "gcp_app_engine"
	}
	if project != "" || region != "" || platform != "" {
		fromEnv = cloudEnvAttrs("gcp")
		putIf(fromEnv, attrCloudAccount, project)
		putIf(fromEnv, attrCloudRegion, region)
		putIf(fromEnv, attrCloudPlatform, platform)
	}
	if d.md == nil {
		return finish(fromEnv, nil, nil)
	}
	svc, err := d.metadata(ctx)
	return finish(fromEnv, svc, err)
}

// metadata queries the GCE metadata server, which requires the
// Metadata-Flavor: Google request header and sends it back.
func (d *gcpDetector) metadata(ctx context.Context) (map[string]value, error) {
	hdr := map[string]string{"Metadata-Flavor": "Google"}
	check := func(h http.Header) bool { return h.Get("Metadata-Flavor") == "Google" }
	get := func(p string) (string, error) {
		b, err := d.md.do(ctx, http.MethodGet, "/computeMetadata/v1/"+p, hdr, check)
		return strings.TrimSpace(string(b)), err
	}
	project, err := get("project/project-id")
	if err != nil {
		return nil, fmt.Errorf("GCP metadata project/project-id: %w", err)
	}
	attrs := cloudEnvAttrs("gcp")
	attrs[attrCloudPlatform] = strValue("gcp_compute_engine")
	putIf(attrs, attrCloudAccount, project)
	var errs []error
	for _, q := range []struct {
		path, attr string
		conv       func(string) string
	}{
		{"instance/id", attrHostID, nil},
		{"instance/zone", attrCloudZone, lastSegment},
		{"instance/machine-type", attrHostType, lastSegment},
		{"instance/hostname", attrHostName, nil},
	} {
		v, err := get(q.path)
		if errors.Is(err, errNotThere) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("GCP metadata %s: %w", q.path, err))
			continue
		}
		if q.conv != nil {
			v = q.conv(v)
		}
		putIf(attrs, q.attr, v)
	}
	if z, ok := attrs[attrCloudZone]; ok {
		if i := strings.LastIndexByte(z.s, '-'); i > 0 {
			attrs[attrCloudRegion] = strValue(z.s[:i])
		}
	}
	return attrs, errors.Join(errs...)
}

// azureDetector reads the Azure environment, then the instance metadata
// service.
type azureDetector struct {
	env sysEnv
	md  *metadataClient
}

func (*azureDetector) name() string { return detAzure }

func (d *azureDetector) detect(ctx context.Context) (map[string]value, error) {
	var fromEnv map[string]value
	sub := d.env.getenv("AZURE_SUBSCRIPTION_ID")
	region := d.env.firstEnv("AZURE_REGION", "AZURE_LOCATION", "REGION_NAME")
	platform := ""
	switch {
	case d.env.getenv("FUNCTIONS_WORKER_RUNTIME") != "" || d.env.getenv("FUNCTIONS_EXTENSION_VERSION") != "":
		platform = "azure_functions"
	case d.env.getenv("WEBSITE_SITE_NAME") != "":
		platform = "azure_app_service"
	case d.env.getenv("CONTAINER_APP_NAME") != "":
		platform = "azure_container_apps"
	}
	if sub != "" || region != "" || platform != "" {
		fromEnv = cloudEnvAttrs("azure")
		putIf(fromEnv, attrCloudAccount, sub)
		putIf(fromEnv, attrCloudRegion, region)
		putIf(fromEnv, attrCloudPlatform, platform)
	}
	if d.md == nil || platform == "azure_functions" || platform == "azure_app_service" {
		return finish(fromEnv, nil, nil)
	}
	svc, err := d.imds(ctx)
	return finish(fromEnv, svc, err)
}

// imds queries the Azure instance metadata service, which requires the
// Metadata: true header.
func (d *azureDetector) imds(ctx context.Context) (map[string]value, error) {
	body, err := d.md.do(ctx, http.MethodGet, "/metadata/instance/compute?api-version=2021-12-13&format=json",
		map[string]string{"Metadata": "true"}, nil)
	if err != nil {
		return nil, fmt.Errorf("Azure IMDS: %w", err)
	}
	var doc struct {
		Location       string `json:"location"`
		VMID           string `json:"vmId"`
		VMSize         string `json:"vmSize"`
		SubscriptionID string `json:"subscriptionId"`
		Name           string `json:"name"`
		Zone           string `json:"zone"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("Azure IMDS: %w", err)
	}
	attrs := cloudEnvAttrs("azure")
	attrs[attrCloudPlatform] = strValue("azure_vm")
	putIf(attrs, attrCloudRegion, doc.Location)
	putIf(attrs, attrCloudAccount, doc.SubscriptionID)
	putIf(attrs, attrCloudZone, doc.Zone)
	putIf(attrs, attrHostID, doc.VMID)
	putIf(attrs, attrHostType, doc.VMSize)
	putIf(attrs, attrHostName, doc.Name)
	return attrs, nil
}
