package sizing

// ProductMemoryMB is the memory of GPU products as NVIDIA's GPU feature
// discovery labels them (nvidia.com/gpu.product, nvidia.com/gpu.memory in
// MiB), for Models that name products instead of minGPUMemoryMB.
var ProductMemoryMB = map[string]int{
	"NVIDIA-A10":              23028,
	"NVIDIA-A40":              46068,
	"NVIDIA-L4":               23034,
	"NVIDIA-L40":              46068,
	"NVIDIA-L40S":             46068,
	"NVIDIA-RTX-A6000":        49140,
	"NVIDIA-GeForce-RTX-3090": 24576,
	"NVIDIA-GeForce-RTX-4090": 24564,
	"NVIDIA-A100-PCIE-40GB":   40960,
	"NVIDIA-A100-SXM4-40GB":   40960,
	"NVIDIA-A100-80GB-PCIe":   81920,
	"NVIDIA-A100-SXM4-80GB":   81920,
	"NVIDIA-H100-PCIe":        81559,
	"NVIDIA-H100-80GB-HBM3":   81559,
	"NVIDIA-H100-NVL":         95830,
	"NVIDIA-H200":             143771,
	"NVIDIA-GH200-480GB":      97871,
	"NVIDIA-B200":             183359,
	"Tesla-V100-SXM2-32GB":    32768,
}

// SmallestGPU is the memory in bytes of the smallest GPU a Model may be
// scheduled on: its minimum, else its smallest named product; 0 when
// neither says.
func SmallestGPU(minMemoryMB int, products []string) int64 {
	if minMemoryMB > 0 {
		return int64(minMemoryMB) << 20
	}
	smallest := 0
	for _, p := range products {
		mb, ok := ProductMemoryMB[p]
		if !ok {
			return 0
		}
		if smallest == 0 || mb < smallest {
			smallest = mb
		}
	}
	return int64(smallest) << 20
}
