package model_test

import (
	"strconv"
	"strings"
	"testing"

	"modelsync.dev/modelsync/tree/manifest"
	"modelsync.dev/modelsync/tree/model"
)

// Every number a Model gives is checked against its documented range at
// its line, before a conversion could wrap or truncate it.
func TestNumbersOutOfRange(t *testing.T) {
	const head = "apiVersion: modelsync.dev/v1alpha1\nkind: Model\nmetadata:\n  name: m\nspec:\n  upstream: org/m\n  route: r\n  server:\n    image: i\n    weightsGi: 16\n    paramsB: 8\n"
	for _, tc := range []struct{ field, value, want string }{
		{"replicas", "4294967296", "spec.server.replicas 4294967296 is out of range [0, 10000]"},
		{"replicas", "1e10", "spec.server.replicas 10000000000 is out of range [0, 10000]"},
		{"replicas", "-1", "spec.server.replicas -1 is out of range [0, 10000]"},
		{"replicas", "1.5", "spec.server.replicas 1.5 is not a whole number"},
		{"maxModelLen", "-1", "spec.server.maxModelLen -1 is out of range [1, 16777216]"},
		{"maxModelLen", "1e308", "spec.server.maxModelLen 1e+308 is out of range"},
		{"driverMajorAbove", "1e308", "spec.server.driverMajorAbove 1e+308 is out of range [0, 9999]"},
		{"computeMajorAbove", "-3", "spec.server.computeMajorAbove -3 is out of range [0, 99]"},
		{"gpuMemoryUtilization", "-1", "spec.server.gpuMemoryUtilization -1 is out of range (0, 1]"},
		{"gpuMemoryUtilization", "'1.5'", "spec.server.gpuMemoryUtilization 1.5 is out of range (0, 1]"},
		{"gpuMemoryUtilization", "0", "spec.server.gpuMemoryUtilization 0 is out of range (0, 1]"},
		{"gpuMemoryUtilization", "'0x1p-1'", `spec.server.gpuMemoryUtilization "0x1p-1" is not a plain decimal number`},
		{"gpuMemoryUtilization", "'9e-1'", `spec.server.gpuMemoryUtilization "9e-1" is not a plain decimal number`},
		{"gpus", "0", "spec.server.gpus 0 is out of range [1, 64]"},
		{"gpus", "-8", "spec.server.gpus -8 is out of range [1, 64]"},
		{"tensorParallel", "4096", "spec.server.tensorParallel 4096 is out of range [1, 1024]"},
		{"maxNumSeqs", "-5", "spec.server.maxNumSeqs -5 is out of range"},
		{"maxNumBatchedTokens", "0", "spec.server.maxNumBatchedTokens 0 is out of range"},
		{"kvHeads", "-1", "spec.server.kvHeads -1 is out of range"},
		{"attentionHeads", "1e6", "spec.server.attentionHeads 1000000 is out of range"},
		{"nodes", "100", "spec.server.nodes 100 is out of range [1, 64]"},
		{"mmProcessorCacheGB", "-1", "spec.server.mmProcessorCacheGB -1 is out of range [0, 1024]"},
		{"paramsB", "-7", "spec.server.paramsB -7 is out of range [0, 1048576]"},
		{"weightsGi", "1e308", "spec.server.weightsGi 1e+308 is out of range (0, 65536]"},
		{"variants", "[{name: a, replicas: 4294967296}]", "spec.server.variants.0.replicas 4294967296 is out of range"},
		{"overrides", "{startupFailureThreshold: 0}", "spec.server.overrides.startupFailureThreshold 0 is out of range"},
		{"offload", "{kvGB: -4}", "spec.server.offload.kvGB -4 is out of range"},
	} {
		t.Run(tc.field+"="+tc.value, func(t *testing.T) {
			data := strings.Replace(head, "    weightsGi: 16\n", "", 1)
			data = strings.Replace(data, "    paramsB: 8\n", "", 1)
			base := map[string]string{"weightsGi": "16", "paramsB": "8"}
			base[tc.field] = tc.value
			lines := ""
			for _, f := range []string{"weightsGi", "paramsB"} {
				lines += "    " + f + ": " + base[f] + "\n"
			}
			if tc.field != "weightsGi" && tc.field != "paramsB" {
				lines += "    " + tc.field + ": " + tc.value + "\n"
			}
			data += lines
			objs, err := manifest.Decode("m.yaml", []byte(data))
			if err != nil || len(objs) != 1 {
				t.Fatalf("decode: %v", err)
			}
			_, err = model.Decode(objs[0])
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode: %v\nwant an error with %q", err, tc.want)
			}
			line := strings.Count(data[:strings.Index(data, "    "+tc.field+":")], "\n") + 1
			if !strings.HasPrefix(err.Error(), "m.yaml:"+strconv.Itoa(line)+":") {
				t.Errorf("the error is not at the field's line %d: %v", line, err)
			}
		})
	}
}
