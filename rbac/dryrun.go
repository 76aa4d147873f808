package rbac

import (
	"fmt"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// DryRunOnly returns the ValidatingAdmissionPolicy and its binding that let
// the plan identity's subjects dry-run every write in the namespace and
// refuse the real ones. RBAC cannot say this: a dry-run apply needs the
// same verbs as an apply, so the Role alone would let a merge request
// pipeline write. ServiceAccount subjects are matched by their user name
// (system:serviceaccount:ns:name).
func DryRunOnly(name, namespace string, subjects []rbacv1.Subject) (*admissionv1.ValidatingAdmissionPolicy, *admissionv1.ValidatingAdmissionPolicyBinding) {
	var users, groups []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, strconv.Quote(s.Name))
		case rbacv1.GroupKind:
			groups = append(groups, strconv.Quote(s.Name))
		case rbacv1.ServiceAccountKind:
			users = append(users, strconv.Quote("system:serviceaccount:"+s.Namespace+":"+s.Name))
		}
	}
	var match []string
	if len(users) > 0 {
		match = append(match, fmt.Sprintf("request.userInfo.username in [%s]", strings.Join(users, ", ")))
	}
	if len(groups) > 0 {
		match = append(match, fmt.Sprintf("request.userInfo.groups.exists(g, g in [%s])", strings.Join(groups, ", ")))
	}
	labels := map[string]string{"app.kubernetes.io/managed-by": "modelsync"}
	policy := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update, admissionv1.Delete},
					Rule:       admissionv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*/*"}},
				},
			}}},
			MatchConditions: []admissionv1.MatchCondition{{Name: "plan-identity", Expression: strings.Join(match, " || ")}},
			Validations: []admissionv1.Validation{{
				Expression: "request.dryRun == true",
				Message:    "the modelsync plan identity may only dry-run; sync and prune run as the apply identity on the protected branch",
				Reason:     ptr.To(metav1.StatusReasonForbidden),
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
			}},
		},
	}
	return policy, binding
}
