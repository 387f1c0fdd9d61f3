// Package cpuhide hides CPU features from github.com/klauspost/reedsolomon.
//
// reedsolomon 1.9.13 reads the CPU features once, while its package-level
// variables are initialised (defaultOptions), and its options that turn SIMD
// paths off (withAVX512, withAVX2, ...) are unexported. The only public lever is
// github.com/klauspost/cpuid/v2's CPU.Disable, and it has to run after cpuid has
// detected the CPU but before reedsolomon initialises. This package's init does
// that: it imports cpuid (so cpuid is initialised first) and the benchmark's
// main package imports it before reedsolomon. Go 1.19 does not promise an order
// for packages that do not import each other, so the benchmark checks the effect
// (run with GODEBUG=inittrace=1 to see the order, or hide AVX2 and watch the
// throughput fall).
//
// Set KLAUSPOST_CPU_DISABLE to a comma-separated list of cpuid feature names,
// e.g. "AVX512F,AVX512BW" (hides the AVX-512 path) or "AVX2". The shorthand
// "avx512" stands for AVX512F, AVX512BW and GFNI.
package cpuhide

import (
	"fmt"
	"os"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// EnvironmentKey names the variable read at start-up.
const EnvironmentKey = "KLAUSPOST_CPU_DISABLE"

// Hidden lists the features this package disabled, in the order given.
var Hidden []string

func init() {
	spec := strings.TrimSpace(os.Getenv(EnvironmentKey))
	if spec == "" {
		return
	}
	for _, name := range strings.Split(spec, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		names := []string{name}
		if strings.EqualFold(name, "avx512") {
			names = []string{"AVX512F", "AVX512BW", "GFNI"}
		}
		for _, feature := range names {
			id := cpuid.ParseFeature(feature)
			if id == cpuid.UNKNOWN {
				fmt.Fprintf(os.Stderr, "klauspost_bench: unknown CPU feature %q in %s\n", feature, EnvironmentKey)
				os.Exit(2)
			}
			cpuid.CPU.Disable(id)
			Hidden = append(Hidden, id.String())
		}
	}
}
