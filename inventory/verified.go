package inventory

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
)

// DataVerified is the parent Secret's data key holding the Verified record,
// gzip-compressed JSON.
const DataVerified = "verified.json.gz"

// MaxVerifiedBytes bounds the compressed record so the parent Secret stays
// below the API server's 1 MiB object limit. An entry (a uid, a
// fingerprint and a stamp, which do not compress) takes about 65 bytes, so
// this holds about 12,000 members. A larger record is not written: diffs
// then dry-run every object, which is slower, not wrong.
const MaxVerifiedBytes = 768 << 10

// encodeVerified returns the compressed record, or nil for an empty record or
// one over MaxVerifiedBytes.
func encodeVerified(v map[string]string) []byte {
	if len(v) == 0 {
		return nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil
	}
	if err := zw.Close(); err != nil || buf.Len() > MaxVerifiedBytes {
		return nil
	}
	return buf.Bytes()
}

// decodeVerified reads the record. The record is a cache: an unreadable one
// is an empty one.
func decodeVerified(data []byte) map[string]string {
	if len(data) == 0 {
		return nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil {
		return nil
	}
	var v map[string]string
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return v
}
