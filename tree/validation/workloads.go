package validation

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelsync.dev/modelsync/tree/manifest"
)

// checkWorkloads gives hand-written inference workloads the runbook's warnings.
// Generated StatefulSets follow the runbook already.
func checkWorkloads(c *checker) {
	pvcs := map[string]corev1.PersistentVolumeClaim{}
	for _, o := range c.ofKind(schema.GroupKind{Kind: "PersistentVolumeClaim"}) {
		var pvc corev1.PersistentVolumeClaim
		if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &pvc) == nil {
			pvcs[pvc.Name] = pvc
		}
	}
	for _, o := range c.in.Objects {
		if o.GetLabels()["modelsync.dev/model"] != "" {
			continue
		}
		switch o.GroupVersionKind().GroupKind().String() {
		case "Deployment.apps":
			var d appsv1.Deployment
			if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d) != nil {
				continue
			}
			c.checkDeployment(o, d, pvcs)
			c.checkProbes(o, d.Spec.Template.Spec)
		case "StatefulSet.apps":
			var s appsv1.StatefulSet
			if runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s) == nil {
				c.checkProbes(o, s.Spec.Template.Spec)
			}
		}
	}
}

func (c *checker) checkDeployment(o manifest.Object, d appsv1.Deployment, pvcs map[string]corev1.PersistentVolumeClaim) {
	if inferencePod(d.Spec.Template.Spec) {
		c.add(Warning, "inference-deployment", o.Origin, objectName(o),
			"an inference server as a Deployment is deprecated",
			"port it to a StatefulSet with a volumeClaimTemplate, or write it as a Model")
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		return
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, ok := pvcs[v.PersistentVolumeClaim.ClaimName]
		if !ok {
			continue
		}
		for _, m := range pvc.Spec.AccessModes {
			if m == corev1.ReadWriteOnce || m == corev1.ReadWriteOncePod {
				c.add(Warning, "rwo-rolling-update", o.Origin, objectName(o),
					fmt.Sprintf("mounts ReadWriteOnce volume %s with the RollingUpdate strategy: the new pod fails with a Multi-Attach error", pvc.Name),
					"set spec.strategy.type: Recreate")
				return
			}
		}
	}
}

func (c *checker) checkProbes(o manifest.Object, pod corev1.PodSpec) {
	for _, ct := range pod.Containers {
		if !inferenceContainer(ct) {
			continue
		}
		var missing []string
		if ct.StartupProbe == nil {
			missing = append(missing, "startupProbe")
		}
		if ct.ReadinessProbe == nil {
			missing = append(missing, "readinessProbe")
		}
		if ct.LivenessProbe == nil {
			missing = append(missing, "livenessProbe")
		}
		if len(missing) > 0 {
			c.add(Warning, "inference-probes", o.Origin, objectName(o),
				fmt.Sprintf("container %s has no %s", ct.Name, strings.Join(missing, ", ")),
				"probe /health on port 5000: startup (failureThreshold by model size), readiness every 10s, liveness every 30s")
		}
	}
}

func inferencePod(pod corev1.PodSpec) bool {
	for _, ct := range pod.Containers {
		if inferenceContainer(ct) {
			return true
		}
	}
	return false
}

// inferenceContainer recognises a vLLM or SGLang server by image or command.
func inferenceContainer(ct corev1.Container) bool {
	text := strings.ToLower(ct.Image + " " + strings.Join(ct.Command, " ") + " " + strings.Join(ct.Args, " "))
	return strings.Contains(text, "vllm") || strings.Contains(text, "sglang")
}
