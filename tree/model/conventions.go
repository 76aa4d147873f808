package model

import (
	"cmp"
	"math"
)

// Defaults from the cluster team's runbook: the generator writes
// them, and import leaves a field unset when the live object has them.
const (
	DefaultGPUResource    = "nvidia.com/gpu"
	DefaultComputeMajorGt = 7   // newer than Volta, for CUDA 13 images
	DefaultDriverMajorGt  = 575 // >= 580 for CUDA 13.0
	DefaultStorageClass   = "linstor-igrok"
	DefaultPriorityClass  = "owner"
	DefaultTimeout        = "1200s"
	DefaultSchema         = "OpenAI"
	ServerPort            = 5000
	// DownloadDir is where the engine keeps the weights: the cache claim.
	DownloadDir = "/workspace/.cache/huggingface/hub"
	// DefaultShmSize is the /dev/shm volume's size limit.
	DefaultShmSize = "10Gi"
	// DefaultMMCacheGB is vLLM's multimodal processor cache per API server.
	DefaultMMCacheGB = 4
	// DefaultPickerImage is the endpoint picker of the CRDs' bundle version.
	DefaultPickerImage = "registry.k8s.io/gateway-api-inference-extension/epp:v1.0.2"
	// ReservationKey is the taint of a namespace's reserved nodes, which
	// every pod tolerates with the reservation's name.
	ReservationKey = "nautilus.io/reservation"
)

// The node labels (NVIDIA's GPU feature discovery) a Model's hardware
// fields select nodes by.
const (
	NodeGPUProduct   = "nvidia.com/gpu.product"
	NodeGPUMemory    = "nvidia.com/gpu.memory"
	NodeComputeMajor = "nvidia.com/gpu.compute.major"
	NodeDriverMajor  = "nvidia.com/cuda.driver.major"
)

// Resolved is a variant's hardware with every default filled in.
type Resolved struct {
	Name string // variant name, "" for a single StatefulSet
	Hardware
	Replicas int32
}

// Resolve fills the defaults of a variant from the server's hardware.
func (s *Server) Resolve(v Variant) Resolved {
	h := v.Hardware
	b := s.Hardware
	pick := func(a, b int) int {
		if a != 0 {
			return a
		}
		return b
	}
	r := Resolved{Name: v.Name}
	r.GPUs = pick(h.GPUs, b.GPUs)
	r.GPUResource = cmp.Or(h.GPUResource, b.GPUResource, DefaultGPUResource)
	r.GPUProducts = h.GPUProducts
	if r.GPUProducts == nil {
		r.GPUProducts = b.GPUProducts
	}
	r.MinGPUMemoryMB = pick(h.MinGPUMemoryMB, b.MinGPUMemoryMB)
	r.ComputeMajorAbove = firstInt(h.ComputeMajorAbove, b.ComputeMajorAbove, DefaultComputeMajorGt)
	r.DriverMajorAbove = firstInt(h.DriverMajorAbove, b.DriverMajorAbove, DefaultDriverMajorGt)
	r.PipelineParallel = max(1, pick(h.PipelineParallel, b.PipelineParallel))
	r.DataParallel = max(1, pick(h.DataParallel, b.DataParallel))
	r.DecodeContextParallel = pick(h.DecodeContextParallel, b.DecodeContextParallel)
	r.APIServers = max(1, pick(h.APIServers, b.APIServers))
	r.TensorParallel = pick(h.TensorParallel, b.TensorParallel)
	if r.TensorParallel == 0 {
		r.TensorParallel = max(1, r.GPUs*max(1, s.Nodes)/(r.PipelineParallel*r.DataParallel))
	}
	r.Replicas = 1
	if h.Replicas != nil {
		r.Replicas = *h.Replicas
	} else if b.Replicas != nil {
		r.Replicas = *b.Replicas
	}
	return r
}

// ResolvedVariants returns the resolved hardware of every StatefulSet of the server.
func (s *Server) ResolvedVariants() []Resolved {
	if len(s.Variants) == 0 {
		return []Resolved{s.Resolve(Variant{})}
	}
	out := make([]Resolved, len(s.Variants))
	for i, v := range s.Variants {
		out[i] = s.Resolve(v)
	}
	return out
}

// CPURequest is the runbook's minimum threads:
// 1 + GPUs + API servers + data parallel + (1 if data parallel > 1).
func CPURequest(r Resolved) int {
	n := 1 + r.GPUs + r.APIServers + r.DataParallel
	if r.DataParallel > 1 {
		n++
	}
	return n
}

// CPULimit is the runbook's burstable threads, twice the request.
func CPULimit(r Resolved) int { return 2 * CPURequest(r) }

// MemoryGi returns the request and limit: slightly over half the weights and
// slightly over the weights a pod holds (its share over nodes), plus what is
// offloaded to CPU RAM, plus the multimodal processor cache of every API server.
func (s *Server) MemoryGi(r Resolved) (request, limit int64) {
	extra := 0.0
	if s.Multimodal {
		extra = float64(s.MMCacheGB() * r.APIServers)
	}
	extra += s.OffloadedGi()                        // CPU RAM holding offloaded weights and KV cache
	share := s.WeightsGi / float64(max(1, s.Nodes)) // each pod of a multi-node model holds its part
	return ceilGi(share*0.55 + extra), ceilGi(share*1.1 + extra)
}

// storageOverWeights sizes the cache claim 15 % over the weights, inside
// the runbook's 10–20 %.
const storageOverWeights = 1.15

// StorageGi is the cache claim's size.
func (s *Server) StorageGi() int64 { return ceilGi(s.WeightsGi * storageOverWeights) }

// WeightsFromStorageGi is the weight size a claim of gi was sized for, the
// inverse of StorageGi, for import when the model's files are not read.
func WeightsFromStorageGi(gi float64) float64 {
	return max(1, math.Floor(gi/storageOverWeights*100)/100)
}

// ParamsFromWeightsGi is the parameter count, in billions, of bf16 weights
// of gi GiB (two bytes a parameter).
func ParamsFromWeightsGi(gi float64) float64 {
	return math.Round(gi*(1<<30)/2/1e8) / 10
}

// StartupFailureThreshold follows the runbook's table (periodSeconds 10),
// taking the upper end of each size's range.
func (s *Server) StartupFailureThreshold() int32 {
	if s.Overrides.StartupFailureThreshold > 0 {
		return s.Overrides.StartupFailureThreshold
	}
	switch p := s.ParamsB; {
	case p < 10:
		return 90
	case p < 40:
		return 270
	case p < 100:
		return 360
	default:
		return 540
	}
}

// MMCacheGB is the multimodal processor cache per API server.
func (s *Server) MMCacheGB() int {
	if s.MMProcessorCacheGB != nil {
		return *s.MMProcessorCacheGB
	}
	return DefaultMMCacheGB
}

func ceilGi(v float64) int64 { return int64(math.Ceil(v)) }

func firstInt(a, b *int, def int) *int {
	switch {
	case a != nil:
		return a
	case b != nil:
		return b
	}
	return &def
}
