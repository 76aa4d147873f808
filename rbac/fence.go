package rbac

import (
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"modelsync.dev/modelsync/inventory"
)

// FencePolicyName is the one fence policy of a cluster; each target has
// its own binding, whose parameter is the target's Lease.
const FencePolicyName = "modelsync-fence"

// fenceVariables derive, for one request, the fence tokens it writes and
// the ones it replaces. A token is "<lease>:<transitions>/<write>"
// (sync.Lease.Token); the Lease (params) is at "<lease>:<transitions>".
var fenceVariables = []admissionv1.Variable{
	{Name: "lease", Expression: `params.metadata.name + ":"`},
	{Name: "current", Expression: `variables.lease + string(has(params.spec.leaseTransitions) ? params.spec.leaseTransitions : 0) + "/"`},
	{Name: "newFence", Expression: annotation("object", inventory.AnnotationFence)},
	{Name: "oldFence", Expression: annotation("oldObject", inventory.AnnotationFence)},
	{Name: "newMark", Expression: annotation("object", inventory.AnnotationDeleting)},
	{Name: "oldMark", Expression: annotation("oldObject", inventory.AnnotationDeleting)},
}

// annotation is the CEL expression of key's value on obj ("" when obj is
// null, as object is for a delete and oldObject for a create).
func annotation(obj, key string) string {
	return strings.NewReplacer("OBJ", obj, "KEY", key).Replace(
		`OBJ != null && has(OBJ.metadata.annotations) && "KEY" in OBJ.metadata.annotations ? OBJ.metadata.annotations["KEY"] : ""`)
}

// Fence returns the ValidatingAdmissionPolicy and the target's binding that
// make the API server check a modelsync run's fence on every write, so that
// a run paused after its last Lease confirmation (SIGSTOP, a frozen VM, a
// long GC pause) and resumed after another run took the Lease writes
// nothing:
//
//   - a create or update that sets the fence annotation to a token of this
//     target's Lease must carry the Lease's current transition (a write
//     that leaves the annotation as it was, a person's kubectl edit, is not
//     modelsync's and passes);
//   - the same holds for the deletion mark, and a delete of an object whose
//     mark is this Lease's must carry the current one (prune marks, then
//     deletes on the marked resourceVersion).
//
// The cluster's own controllers (kube-system service accounts, the
// controller manager) are not checked: they copy annotations (a
// Deployment's to its ReplicaSets) and delete whole namespaces.
func Fence(namespace, inventoryName string) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	labels := map[string]string{"app.kubernetes.io/managed-by": "modelsync"}
	reason := ptr.To(metav1.StatusReasonForbidden)
	policy := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: FencePolicyName, Labels: labels},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			ParamKind:     &admissionv1.ParamKind{APIVersion: "coordination.k8s.io/v1", Kind: "Lease"},
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete},
					Rule:       admissionv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}},
				},
			}}},
			MatchConditions: []admissionv1.MatchCondition{{
				Name:       "not-a-cluster-controller",
				Expression: `!request.userInfo.username.startsWith("system:serviceaccount:kube-system:") && request.userInfo.username != "system:kube-controller-manager"`,
			}},
			Variables: fenceVariables,
			Validations: []admissionv1.Validation{
				{
					Expression:        `variables.newFence == variables.oldFence || !variables.newFence.startsWith(variables.lease) || variables.newFence.startsWith(variables.current)`,
					MessageExpression: `"` + inventory.FenceRefusal + `this write carries " + variables.newFence + " but Lease " + params.metadata.name + " is at " + variables.current + ": the run lost its Lease to another run and must not write; make a new plan and run again"`,
					Reason:            reason,
				},
				{
					Expression:        `variables.newMark == variables.oldMark || !variables.newMark.startsWith(variables.lease) || variables.newMark.startsWith(variables.current)`,
					MessageExpression: `"` + inventory.FenceRefusal + `this deletion mark carries " + variables.newMark + " but Lease " + params.metadata.name + " is at " + variables.current + ": the run lost its Lease to another run and must not delete"`,
					Reason:            reason,
				},
				{
					Expression:        `request.operation != "DELETE" || !variables.oldMark.startsWith(variables.lease) || variables.oldMark.startsWith(variables.current)`,
					MessageExpression: `"` + inventory.FenceRefusal + `this object was marked for deletion by a modelsync run (" + variables.oldMark + ") that lost Lease " + params.metadata.name + " (now at " + variables.current + "); modelsync prune marks it again, or remove the annotation ` + inventory.AnnotationDeleting + ` to delete it by hand"`,
					Reason:            reason,
				},
			},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: FencePolicyName + "-" + namespace + "-" + inventoryName, Labels: labels},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: FencePolicyName,
			ParamRef: &admissionv1.ParamRef{
				Name: inventory.LeaseName(inventoryName), Namespace: namespace,
				// The Lease exists from a run's first step, before its
				// first write.
				ParameterNotFoundAction: ptr.To(admissionv1.AllowAction),
			},
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
			}},
		},
	}
	return policy, binding
}
