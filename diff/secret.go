package diff

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// IsSecret reports whether u is a core Secret, whose values never reach any
// output: plans, MR notes, logs, errors.
func IsSecret(u *unstructured.Unstructured) bool {
	gvk := u.GroupVersionKind()
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// RedactSecret replaces the API server's message about a Secret, which may
// quote the values it could not decode ("cannot unmarshal number 1234…"),
// with its status code, reason and the field paths it named. Errors about
// other objects, and errors that are not the API server's, pass unchanged.
func RedactSecret(u *unstructured.Unstructured, err error) error {
	var status apierrors.APIStatus
	if err == nil || !IsSecret(u) || !errors.As(err, &status) {
		return err
	}
	st := status.Status()
	var fields []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Field != "" {
				fields = append(fields, c.Field)
			}
		}
	}
	sort.Strings(fields)
	msg := fmt.Sprintf("the API server refused the Secret (%s); its message is withheld because it may quote the Secret's values", st.Reason)
	if len(fields) > 0 {
		msg += "; fields: " + strings.Join(fields, ", ")
	}
	msg += ". Every value under data and stringData must be a string (data: base64)"
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: st.Code, Reason: st.Reason, Message: msg}}
}
