// Command klauspost_bench measures Reed-Solomon encode and worst-case decode
// throughput of github.com/klauspost/reedsolomon with the methodology of
// `flud bench codec` (see perf/README.md), and prints the same JSON lines:
//
//	{"op":"encode","k":4,"m":2,"bytes":1048576,"kernel":"klauspost-go","default":false,"gbps":12.34}
//
// Usage:
//
//	klauspost_bench [-k K -m M] [--size BYTES] [--goroutines N] [--cauchy] [-v]
//
// Without -k/-m/--size it runs (4,2), (10,4), (20,20) at 1 MiB and 64 MiB.
// --goroutines defaults to 1 (single thread, like flud and isal-c); 0 keeps the
// library's default of splitting each call over many goroutines. --cauchy uses
// the library's own Cauchy matrix (not ISA-L's gf_gen_cauchy1_matrix) instead of
// its default Vandermonde-derived matrix.
// KLAUSPOST_CPU_DISABLE=avx512 hides AVX-512 from the library (see cpuhide).
//
// Build offline in GOPATH mode; perf/run-codec.sh shows how.
package main

import (
	// Must come first: hides CPU features before reedsolomon reads them.
	"fludperf/klauspost_bench/cpuhide"

	"bytes"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
	"github.com/klauspost/reedsolomon"
)

const (
	cacheLine = 64
	page      = 4096
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "klauspost_bench: "+format+"\n", args...)
	os.Exit(1)
}

// clockBase anchors a monotonic clock: time.Since uses Go's monotonic reading,
// which on Linux is clock_gettime(CLOCK_MONOTONIC) through the vDSO.
var clockBase = time.Now()

func monotonicSeconds() float64 {
	return time.Since(clockBase).Seconds()
}

func roundUp(value, multiple int) int {
	return (value + multiple - 1) / multiple * multiple
}

// shardStride is flud's StripeBuffer.shardStride.
func shardStride(capacity int) int {
	lines := roundUp(capacity, cacheLine)
	if lines < page {
		if lines < cacheLine {
			return cacheLine
		}
		return lines
	}
	return roundUp(capacity, page) + 7*cacheLine
}

// fillPseudoRandom is flud's xorshift64* filler (same seeds, same bytes).
func fillPseudoRandom(buffer []byte, seed uint64) {
	state := seed*0x9E3779B97F4A7C15 | 1
	offset := 0
	for offset < len(buffer) {
		state ^= state >> 12
		state ^= state << 25
		state ^= state >> 27
		word := state * 0x2545F4914F6CDD1D
		for b := 0; b < 8 && offset < len(buffer); b++ {
			buffer[offset] = byte(word >> (8 * b))
			offset++
		}
	}
}

// medianSeconds is flud's sampling rule: warm-up, probe, ~20 ms samples,
// 5 to 21 of them, median per-call time.
func medianSeconds(body func()) float64 {
	body()
	start := monotonicSeconds()
	body()
	once := monotonicSeconds() - start
	if once < 1e-7 {
		once = 1e-7
	}
	calls := int(0.02 / once)
	if calls < 1 {
		calls = 1
	}
	samples := int(0.6 / (once * float64(calls)))
	if samples < 5 {
		samples = 5
	}
	if samples > 21 {
		samples = 21
	}
	perCall := make([]float64, samples)
	for s := range perCall {
		t0 := monotonicSeconds()
		for i := 0; i < calls; i++ {
			body()
		}
		perCall[s] = (monotonicSeconds() - t0) / float64(calls)
	}
	sort.Float64s(perCall)
	return perCall[samples/2]
}

func printLine(op string, k, m, size int, gbps float64) {
	fmt.Printf("{\"op\":%q,\"k\":%d,\"m\":%d,\"bytes\":%d,\"kernel\":\"klauspost-go\",\"default\":false,\"gbps\":%.2f}\n",
		op, k, m, size, gbps)
}

func bench(k, m, size, goroutines int, cauchy bool) {
	n := k + m
	length := (size + k - 1) / k
	stride := shardStride(length)

	// One allocation for all shards, its start rounded up to a cache line.
	memory := make([]byte, stride*n+cacheLine)
	base := int((cacheLine - uintptr(unsafe.Pointer(&memory[0]))%cacheLine) % cacheLine)
	shards := make([][]byte, n)
	for i := range shards {
		start := base + i*stride
		shards[i] = memory[start : start+length : start+length] // cap == len
	}
	for i := 0; i < k; i++ {
		fillPseudoRandom(shards[i], uint64(i+1))
	}

	var options []reedsolomon.Option
	if goroutines > 0 {
		options = append(options, reedsolomon.WithMaxGoroutines(goroutines))
	}
	if cauchy {
		options = append(options, reedsolomon.WithCauchyMatrix())
	}
	enc, err := reedsolomon.New(k, m, options...)
	if err != nil {
		fail("New(%d, %d): %v", k, m, err)
	}

	encodeSeconds := medianSeconds(func() {
		if err := enc.Encode(shards); err != nil {
			fail("Encode: %v", err)
		}
	})

	// Worst case: the first min(k, m) data shards are lost. The library reads the
	// first k present shards in index order, as flud does.
	lost := k
	if m < k {
		lost = m
	}
	original := make([][]byte, lost)
	starts := make([]*byte, lost)
	for i := 0; i < lost; i++ {
		original[i] = append([]byte(nil), shards[i]...)
		starts[i] = &shards[i][0]
		for j := range shards[i] {
			shards[i][j] = 0
		}
	}
	// A zero-length shard with enough capacity is rebuilt in place (documented
	// for Reconstruct/ReconstructData), so the timing holds no buffer allocation.
	decodeSeconds := medianSeconds(func() {
		for i := 0; i < lost; i++ {
			shards[i] = shards[i][:0]
		}
		if err := enc.ReconstructData(shards); err != nil {
			fail("ReconstructData: %v", err)
		}
	})
	for i := 0; i < lost; i++ {
		if len(shards[i]) != length || &shards[i][0] != starts[i] {
			fail("ReconstructData did not rebuild shard %d in place for %d+%d", i, k, m)
		}
		if !bytes.Equal(shards[i], original[i]) {
			fail("decode produced wrong data for %d+%d (shard %d)", k, m, i)
		}
	}

	processed := float64(k * length)
	printLine("encode", k, m, size, processed/encodeSeconds/1e9)
	printLine("decode", k, m, size, processed/decodeSeconds/1e9)
}

func main() {
	k := flag.Int("k", 0, "measure only this k (needs -m)")
	m := flag.Int("m", 0, "measure only this m (needs -k)")
	size := flag.Int("size", 0, "measure only this many data bytes per call")
	goroutines := flag.Int("goroutines", 1, "goroutines per call (1 = single thread like flud; 0 = library default)")
	cauchy := flag.Bool("cauchy", false, "use the library's Cauchy matrix instead of its default Vandermonde-derived one")
	verbose := flag.Bool("v", false, "print the CPU features the library sees to stderr")
	flag.Parse()
	if flag.NArg() != 0 {
		fail("unexpected argument %q", flag.Arg(0))
	}
	if (*k == 0) != (*m == 0) {
		fail("-k and -m go together")
	}
	if *k != 0 && (*k < 1 || *m < 1 || *k+*m > 255) {
		fail("k and m must be at least 1 and k + m at most 255")
	}
	if *size < 0 || *size > 1<<30 {
		fail("--size must be between 1 byte and 1 GiB")
	}
	if *goroutines < 0 {
		fail("--goroutines must be 0 or more")
	}
	if *verbose || len(cpuhide.Hidden) > 0 {
		fmt.Fprintf(os.Stderr, "klauspost_bench: hidden=[%s] AVX2=%v AVX512F=%v AVX512BW=%v GFNI=%v\n",
			strings.Join(cpuhide.Hidden, ","), cpuid.CPU.Supports(cpuid.AVX2), cpuid.CPU.Supports(cpuid.AVX512F),
			cpuid.CPU.Supports(cpuid.AVX512BW), cpuid.CPU.Supports(cpuid.GFNI))
	}

	codes := [][2]int{{4, 2}, {10, 4}, {20, 20}}
	if *k != 0 {
		codes = [][2]int{{*k, *m}}
	}
	sizes := []int{1 << 20, 64 << 20}
	if *size != 0 {
		sizes = []int{*size}
	}
	for _, code := range codes {
		for _, s := range sizes {
			bench(code[0], code[1], s, *goroutines, *cauchy)
		}
	}
}
