package diff

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"modelsync.dev/modelsync/inventory"
)

// Fingerprint digests one verified outcome: the configuration a sync sends
// (config) and the live object it found or left (live), which a dry run or an
// apply showed to be a fixed point, the object as its tree asks.
//
// The digest covers everything a server-side apply's result depends on: the
// configuration, the object's uid and content without status and the
// server's bookkeeping, and which manager owns which fields outside the
// status subresource. A controller writing status changes none of these; a
// hand edit, a recreated object, a changed tree or another manager taking a
// field changes at least one. So a member whose fingerprint still matches the
// one the last sync recorded would dry-run unchanged again, and the plan
// trusts it without the request. What it cannot see is a change on the
// server's side (a CRD's new default, a tightened validation): `diff --full`
// dry-runs everything.
//
// A Secret gets no fingerprint (""), and is always dry-run: a digest over a
// short value could be guessed offline by whoever reads the record.
func Fingerprint(config, live *unstructured.Unstructured) string {
	if IsSecret(config) {
		return ""
	}
	return fingerprint(encodeConfig(config), live)
}

func fingerprint(config []byte, live *unstructured.Unstructured) string {
	h := sha256.New()
	h.Write(config)
	enc := json.NewEncoder(h)
	// Encoding maps of JSON values cannot fail; the digest of a failed
	// encoding would only fail to match.
	_ = enc.Encode(content(live))
	_ = enc.Encode(owners(live))
	return sum(h)
}

// encodeConfig is the configuration as the digests read it: its JSON, keys
// sorted, and a newline.
func encodeConfig(config *unstructured.Unstructured) []byte {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(config.Object)
	return buf.Bytes()
}

// sum is the digest h holds, as the record and plans write digests.
func sum(h hash.Hash) string { return base64.RawStdEncoding.EncodeToString(h.Sum(nil)[:18]) }

// Record is the entry the last sync's record (inventory.Parent.Verified)
// keeps for an object it left as its tree asks, config applied to live:
// the Fingerprint, a stamp of the configuration with the uid and
// resourceVersion live had then, and a digest of the configuration alone.
// "" for a Secret.
//
// The stamp lets a plan vouch for a member from its metadata alone. A
// resourceVersion is the storage's revision of the object's last write, so
// a member still at the stamped one is the very object the fingerprint was
// taken of: the same content and owners, and with the same configuration
// the same fixed point. A status write moves the resourceVersion; the plan
// then reads the object whole and compares the fingerprint.
//
// The configuration's digest tells a change of the tree from a change of the
// cluster: an object that would change although the tree asks what the last
// sync applied to it was changed on the cluster, by a write that records no
// field manager (`kubectl scale`) when no other manager owns the field.
func Record(config, live *unstructured.Unstructured) string {
	if IsSecret(config) {
		return ""
	}
	canonical := appendCanonical(make([]byte, 0, 4096), config.Object)
	return Fingerprint(config, live) + " " + stampOf(canonical, live) + " " + configDigest(canonical)
}

// stamp digests the configuration with the uid and resourceVersion of the
// object it was verified against.
func stamp(config, live *unstructured.Unstructured) string {
	return stampOf(appendCanonical(make([]byte, 0, 4096), config.Object), live)
}

func stampOf(canonical []byte, live *unstructured.Unstructured) string {
	h := sha256.New()
	h.Write(canonical)
	fmt.Fprintf(h, "%s\n%s\n", live.GetUID(), live.GetResourceVersion())
	return sum(h)
}

// configDigest digests a configuration alone, from its canonical encoding.
func configDigest(canonical []byte) string {
	d := sha256.Sum256(canonical)
	return base64.RawStdEncoding.EncodeToString(d[:12])
}

// appliedAgain reports whether config is what the record says the last sync
// applied to live (same uid): a change the plan finds on it then comes from
// the cluster, not from the tree. False without a record entry.
func appliedAgain(config, live *unstructured.Unstructured, record map[string]string) bool {
	if live == nil || IsSecret(config) {
		return false
	}
	_, _, digest := splitRecord(record[string(live.GetUID())])
	return digest != "" && digest == configDigest(appendCanonical(make([]byte, 0, 4096), config.Object))
}

// appendCanonical appends v, a JSON value as unstructured content holds it,
// so that two values append the same bytes exactly when they are equal:
// maps with their keys sorted, every value tagged with its type, every
// string and collection with its length. It is the stamp's encoding, a
// walk without reflection, since it runs over every desired object of
// every plan.
func appendCanonical(b []byte, v any) []byte {
	str := func(b []byte, tag byte, s string) []byte {
		b = strconv.AppendInt(append(b, tag), int64(len(s)), 10)
		return append(append(b, ':'), s...)
	}
	switch t := v.(type) {
	case map[string]any:
		var small [16]string // most maps: no allocation
		keys := small[:0]
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(strconv.AppendInt(append(b, 'm'), int64(len(keys)), 10), ':')
		for _, k := range keys {
			b = appendCanonical(str(b, 'k', k), t[k])
		}
	case []any:
		b = append(strconv.AppendInt(append(b, 'a'), int64(len(t)), 10), ':')
		for _, e := range t {
			b = appendCanonical(b, e)
		}
	case string:
		b = str(b, 's', t)
	case int64:
		b = append(strconv.AppendInt(append(b, 'i'), t, 10), ';')
	case float64:
		b = append(strconv.AppendUint(append(b, 'f'), math.Float64bits(t), 16), ';')
	case bool:
		b = append(strconv.AppendBool(append(b, 'b'), t), ';')
	case nil:
		b = append(b, 'n', ';')
	default: // not JSON content: its Go syntax, with type and value
		b = str(b, 'g', fmt.Sprintf("%#v", t))
	}
	return b
}

// splitRecord reads a record entry: its fingerprint, its stamp and the
// digest of the configuration ("" in a record written before these were).
func splitRecord(entry string) (fingerprint, stamp, config string) {
	fingerprint, rest, _ := strings.Cut(entry, " ")
	stamp, config, _ = strings.Cut(rest, " ")
	return fingerprint, stamp, config
}

// serverMeta are metadata fields the server keeps, which change without a
// change of what an apply would do: its counters and timestamps, and
// managedFields (owners() digests them without their timestamps).
var serverMeta = []string{"managedFields", "resourceVersion", "generation", "creationTimestamp", "selfLink"}

// content is a shallow copy of u without status and serverMeta: what a
// plan compares, the fingerprint covers and an approved deletion is bound to.
func content(u *unstructured.Unstructured) map[string]any {
	out := make(map[string]any, len(u.Object))
	for k, v := range u.Object {
		out[k] = v
	}
	delete(out, "status")
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		m := make(map[string]any, len(md))
		for k, v := range md {
			m[k] = v
		}
		for _, f := range serverMeta {
			delete(m, f)
		}
		if a, ok := m["annotations"].(map[string]any); ok {
			if a = withoutFence(a); len(a) == 0 {
				delete(m, "annotations")
			} else {
				m["annotations"] = a
			}
		}
		out["metadata"] = m
	}
	return out
}

// withoutFence is a without the fence tokens modelsync writes with every
// object (inventory.AnnotationFence, inventory.AnnotationDeleting): they say
// which run wrote it, not what it is, so they are neither content nor drift.
func withoutFence(a map[string]any) map[string]any {
	_, f := a[inventory.AnnotationFence]
	_, d := a[inventory.AnnotationDeleting]
	if !f && !d {
		return a
	}
	out := make(map[string]any, len(a))
	for k, v := range a {
		if k != inventory.AnnotationFence && k != inventory.AnnotationDeleting {
			out[k] = v
		}
	}
	return out
}

// owners is managedFields without timestamps and without the entries of the
// status subresource.
func owners(u *unstructured.Unstructured) []any {
	md, _ := u.Object["metadata"].(map[string]any)
	entries, _ := md["managedFields"].([]any)
	out := make([]any, 0, len(entries))
	for _, e := range entries {
		m, ok := e.(map[string]any)
		if !ok || m["subresource"] == "status" {
			continue
		}
		out = append(out, []any{m["manager"], m["operation"], m["apiVersion"], m["subresource"], m["fieldsV1"]})
	}
	return out
}
