package importer

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"modelsync.dev/modelsync/tree/engine"
	"modelsync.dev/modelsync/tree/model"
)

// unexpressed lists what a server workload says that no Model field can:
// each entry names the part and what a Model does instead. An empty list
// means the workload may fit a Model; the fit then decides exactly.
func unexpressed(u *unstructured.Unstructured) []string {
	var pod corev1.PodTemplateSpec
	tmpl, _, _ := unstructured.NestedMap(u.Object, "spec", "template")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, &pod); err != nil {
		return []string{fmt.Sprintf("a pod template that does not decode (%v)", err)}
	}
	var out []string
	if u.GetKind() != "StatefulSet" {
		out = append(out, fmt.Sprintf("kind %s (a Model generates a StatefulSet whose claim template holds the weights, as the runbook's newest version does: port it, then import again)", u.GetKind()))
	}
	spec := pod.Spec
	for _, c := range spec.InitContainers {
		out = append(out, fmt.Sprintf("init container %s (no Model field; a Model's pod runs the engine alone)", c.Name))
	}
	if len(spec.Containers) > 1 {
		var names []string
		for _, c := range spec.Containers[1:] {
			names = append(names, c.Name)
		}
		out = append(out, fmt.Sprintf("containers %s beside the engine (a Model generates one container)", strings.Join(names, ", ")))
	}
	if len(spec.Containers) > 0 {
		c := spec.Containers[0]
		if !slices.Equal(c.Command, engine.Command()) || len(c.Args) != 1 {
			out = append(out, "the engine started without bash -c (a Model runs its command line, spec.server.commandLine, as the one argument of bash -c)")
		}
		if c.Lifecycle != nil {
			out = append(out, fmt.Sprintf("the lifecycle hooks of container %s (no Model field)", c.Name))
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				out = append(out, fmt.Sprintf("env %s from Secret %s (a Model loads secrets with envFrom: spec.server.configMap, or the engine's ConfigMap)", e.Name, e.ValueFrom.SecretKeyRef.Name))
			}
		}
	}
	var volumes []string
	for _, v := range spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil, v.Name == model.MountShm && v.EmptyDir != nil:
		default:
			volumes = append(volumes, v.Name)
		}
	}
	if len(volumes) > 0 {
		out = append(out, fmt.Sprintf("volumes %s (a Model mounts its cache claim and /dev/shm)", strings.Join(volumes, ", ")))
	}
	if len(spec.NodeSelector) > 0 {
		out = append(out, "a nodeSelector (a Model selects nodes by GPU: spec.server.gpuProducts, minGPUMemoryMB)")
	}
	if spec.EnableServiceLinks != nil && !*spec.EnableServiceLinks {
		out = append(out, "enableServiceLinks: false (no Model field)")
	}
	if spec.TerminationGracePeriodSeconds != nil {
		out = append(out, "terminationGracePeriodSeconds (no Model field)")
	}
	return out
}

// operators are the API groups of serving operators whose custom resources
// describe model servers that their operator, not a Model, generates.
var operators = map[string]string{
	"nvidia.com":        "NVIDIA Dynamo's operator",
	"serving.kserve.io": "KServe",
	"kaito.sh":          "KAITO",
}

// operatorOf names the operator that runs u's servers, or "".
func operatorOf(u *unstructured.Unstructured) string {
	return operators[u.GroupVersionKind().Group]
}
