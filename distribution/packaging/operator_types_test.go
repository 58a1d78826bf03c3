// SPDX-License-Identifier: Apache-2.0

package packaging // import "github.com/otelcol-edge/otelcol-edge/distribution/packaging"

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OpenTelemetryCollector mirrors the part of the OpenTelemetry Operator's
// opentelemetry.io/v1beta1 API (github.com/open-telemetry/opentelemetry-operator,
// apis/v1beta1: OpenTelemetryCommonFields and OpenTelemetryCollectorSpec) that
// our example uses, with the same JSON names and the k8s.io/api types the
// operator embeds. The operator's Go module is not a dependency: it would pull
// controller-runtime and its own collector modules into this one. A field the
// example uses that is not declared here fails the strict decoding: add it
// here only after checking it exists in the operator's API.
type OpenTelemetryCollector struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec OpenTelemetryCollectorSpec `json:"spec,omitempty"`
}

type OpenTelemetryCollectorSpec struct {
	ManagementState               string                         `json:"managementState,omitempty"`
	Mode                          string                         `json:"mode,omitempty"`
	UpgradeStrategy               string                         `json:"upgradeStrategy"`
	Image                         string                         `json:"image,omitempty"`
	ImagePullPolicy               corev1.PullPolicy              `json:"imagePullPolicy,omitempty"`
	Replicas                      *int32                         `json:"replicas,omitempty"`
	ServiceAccount                string                         `json:"serviceAccount,omitempty"`
	Args                          map[string]string              `json:"args,omitempty"`
	Env                           []corev1.EnvVar                `json:"env,omitempty"`
	EnvFrom                       []corev1.EnvFromSource         `json:"envFrom,omitempty"`
	Resources                     corev1.ResourceRequirements    `json:"resources,omitempty"`
	NodeSelector                  map[string]string              `json:"nodeSelector,omitempty"`
	Tolerations                   []corev1.Toleration            `json:"tolerations,omitempty"`
	SecurityContext               *corev1.SecurityContext        `json:"securityContext,omitempty"`
	PodSecurityContext            *corev1.PodSecurityContext     `json:"podSecurityContext,omitempty"`
	PodAnnotations                map[string]string              `json:"podAnnotations,omitempty"`
	Volumes                       []corev1.Volume                `json:"volumes,omitempty"`
	VolumeMounts                  []corev1.VolumeMount           `json:"volumeMounts,omitempty"`
	InitContainers                []corev1.Container             `json:"initContainers,omitempty"`
	Ports                         []PortsSpec                    `json:"ports,omitempty"`
	TerminationGracePeriodSeconds *int64                         `json:"terminationGracePeriodSeconds,omitempty"`
	PriorityClassName             string                         `json:"priorityClassName,omitempty"`
	HostNetwork                   bool                           `json:"hostNetwork,omitempty"`
	DaemonSetUpdateStrategy       appsv1.DaemonSetUpdateStrategy `json:"daemonSetUpdateStrategy,omitempty"`
	DeploymentUpdateStrategy      appsv1.DeploymentStrategy      `json:"deploymentUpdateStrategy,omitempty"`
	VolumeClaimTemplates          []corev1.PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`
	// Config is the collector configuration, an object (not a string) in v1beta1.
	Config map[string]any `json:"config"`
}

// PortsSpec is the operator's port: a Service port plus an optional host port.
type PortsSpec struct {
	HostPort           int32 `json:"hostPort,omitempty"`
	corev1.ServicePort `json:",inline"`
}
