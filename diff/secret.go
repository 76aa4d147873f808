package diff

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// IsSecret reports whether u is a core Secret, whose values never reach any
// output: plans, MR notes, logs, errors.
func IsSecret(u *unstructured.Unstructured) bool {
	return IsSecretKind(u.GroupVersionKind().GroupKind())
}

// IsSecretKind reports whether gk is the core Secret kind.
func IsSecretKind(gk schema.GroupKind) bool {
	return gk.Group == "" && gk.Kind == "Secret"
}

// RedactSecret replaces the API server's message about a Secret, which may
// quote its values (a decoding error quotes what it could not decode, an
// admission policy may print the object), with what can be said without
// them: who refused and why, the fields named, and what to do. Errors about
// other kinds, and errors that are not the API server's, pass unchanged.
// Every command's errors about a Secret go through it: diff, sync, prune.
func RedactSecret(gk schema.GroupKind, err error) error {
	var status apierrors.APIStatus
	if err == nil || !IsSecretKind(gk) || !errors.As(err, &status) {
		return err
	}
	st := status.Status()
	msg := "the API server refused the Secret: " + refusal(st) + "; its message is withheld because it may quote the Secret's values"
	redacted := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: st.Code, Reason: st.Reason, Message: msg}}
	// Keep modelsync's own context ("Secret ns/name: delete: "), which
	// wraps the status and holds no value.
	if prefix, ok := strings.CutSuffix(err.Error(), st.Message); ok && prefix != "" && st.Message != "" {
		return fmt.Errorf("%s%w", prefix, redacted)
	}
	return redacted
}

var (
	// "ValidatingAdmissionPolicy 'p' with binding 'b' denied request: …"
	policyDenial = regexp.MustCompile(`(ValidatingAdmissionPolicy '[^']*'(?: with binding '[^']*')?) denied request`)
	// `admission webhook "w" denied the request: …`
	webhookDenial = regexp.MustCompile(`(admission webhook "[^"]*") denied the request`)
)

// refusal says why the API server refused, from the parts of its status
// that never hold a value: the admission plug-in's name, the causes' types
// and fields, the reason and code.
func refusal(st metav1.Status) string {
	if m := policyDenial.FindStringSubmatch(st.Message); m != nil {
		return "denied by " + m[1]
	}
	if m := webhookDenial.FindStringSubmatch(st.Message); m != nil {
		return "denied by " + m[1]
	}
	var fields, kinds []string
	immutable := strings.Contains(st.Message, "field is immutable")
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Field != "" {
				fields = append(fields, c.Field)
			}
			kinds = append(kinds, string(c.Type))
			immutable = immutable || strings.Contains(c.Message, "field is immutable")
		}
	}
	sort.Strings(fields)
	reason := string(st.Reason)
	if reason == "" || reason == string(metav1.StatusReasonUnknown) {
		reason = fmt.Sprintf("HTTP %d %s", st.Code, http.StatusText(int(st.Code)))
	}
	var why string
	switch {
	case immutable:
		why = "the Secret is immutable, so its values cannot change in place (" + reason + ")"
	case strings.Contains(st.Message, "unmarshal") || strings.Contains(st.Message, "base64"):
		why = "a value could not be decoded (" + reason + "): every value under data and stringData must be a string, and under data base64"
	default:
		why = reason
		if ks := compactSorted(kinds); len(ks) > 0 {
			why += ": " + strings.Join(ks, ", ")
		}
	}
	if len(fields) > 0 {
		why += "; fields: " + strings.Join(compactSorted(fields), ", ")
	}
	return why
}

func compactSorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	var uniq []string
	for i, v := range out {
		if v != "" && (i == 0 || v != out[i-1]) {
			uniq = append(uniq, v)
		}
	}
	return uniq
}
