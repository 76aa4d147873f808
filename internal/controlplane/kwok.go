package controlplane

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ReadyDelayAnnotation on a pod sets how long it takes to become ready on
// the simulated cluster (a Go duration: "90s").
const ReadyDelayAnnotation = "modelsync.dev/ready-delay"

// FailAnnotation on a pod makes it fail to start on the simulated cluster
// the way the annotation's value says, as a kubelet reports it:
// CrashLoopBackOff (its container exits at load and is restarted),
// OOMKilled (killed for memory, then restarted: CrashLoopBackOff with
// last state OOMKilled) or ImagePullBackOff. It never becomes ready.
const FailAnnotation = "modelsync.dev/fail"

// failStage is kwok's stage for FailAnnotation: a pod that runs but whose
// container waits, restarted, with the kubelet's reason.
const failStage = `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-fail
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.metadata.annotations["` + FailAnnotation + `"]'
      operator: 'Exists'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $why := index .metadata.annotations "` + FailAnnotation + `" }}
      phase: Running
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Ready
        reason: ContainersNotReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: ContainersReady
        reason: ContainersNotReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        {{ if eq $why "ImagePullBackOff" }}
        restartCount: 0
        state:
          waiting:
            reason: ImagePullBackOff
            message: 'Back-off pulling image {{ .image }}'
        {{ else }}
        restartCount: 3
        state:
          waiting:
            reason: CrashLoopBackOff
            message: 'back-off 40s restarting failed container={{ .name }}'
        lastState:
          terminated:
            exitCode: {{ if eq $why "OOMKilled" }}137{{ else }}1{{ end }}
            reason: {{ if eq $why "OOMKilled" }}OOMKilled{{ else }}Error{{ end }}
            startedAt: {{ $now | Quote }}
            finishedAt: {{ $now | Quote }}
        {{ end }}
      {{ end }}
`

// kwokStages writes kwok's stages with the pod-ready stage delayed by delay,
// or by the pod's ReadyDelayAnnotation, and returns the file's path.
func kwokStages(path string, delay time.Duration, dir string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: run `make controlplane`", err)
	}
	docs := strings.Split(string(data), "\n---\n")
	found := false
	for i, d := range docs {
		if !strings.Contains(d, "\n  name: pod-ready\n") {
			continue
		}
		found = true
		d = strings.Replace(d, "\n  next:\n", fmt.Sprintf("\n  delay:\n    durationMilliseconds: %d\n    durationFrom:\n      expressionFrom: '.metadata.annotations[\"%s\"]'\n  next:\n",
			delay.Milliseconds(), ReadyDelayAnnotation), 1)
		// A pod told to fail never becomes ready (failStage).
		docs[i] = strings.Replace(d, "\n    matchExpressions:\n", fmt.Sprintf("\n    matchExpressions:\n    - key: '.metadata.annotations[\"%s\"]'\n      operator: 'DoesNotExist'\n", FailAnnotation), 1)
	}
	if !found {
		return "", fmt.Errorf("%s has no pod-ready stage", path)
	}
	docs = append(docs, failStage)
	out := filepath.Join(dir, "kwok-stages.yaml")
	return out, os.WriteFile(out, []byte(strings.Join(docs, "\n---\n")), 0o644)
}
