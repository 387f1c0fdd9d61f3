import Benchmark
import CBenchSodium
import Crypto
import FludCodec

/// Gates (deterministic, checked in CI by `make benchmark-gates` against
/// Thresholds/): encode and worst-case decode allocate nothing per call.
/// Throughput figures here are informative; the side-by-side speed comparison
/// with raw ISA-L is `perf/run-codec.sh`.
let benchmarks: @Sendable () -> Void = {
    let allocations = Benchmark.Configuration(
        metrics: [.mallocCountTotal],
        warmupIterations: 3,
        maxDuration: .seconds(1),
        maxIterations: 200,
        thresholds: [.mallocCountTotal: .init(absolute: [.p90: 0, .p100: 0])]
    )

    for (k, m) in [(4, 2), (10, 4), (20, 20)] {
        for bytes in [4 << 10, 1 << 20] {
            let code = try! ReedSolomon(dataShards: k, parityShards: m)
            let stripe = StripeBuffer(dataShards: k, parityShards: m, dataBytes: bytes)
            let lost = ShardSet.first(min(k, m))
            let present = ShardSet.first(k + m).subtracting(lost)
            try! code.encode(stripe)
            // Build the decode plan outside the measurement: the per-call path is what must not allocate.
            try! code.reconstruct(stripe, present: present, wanted: lost)

            Benchmark("encode_\(k)+\(m)_\(bytes >> 10)KiB", configuration: allocations) { benchmark in
                for _ in benchmark.scaledIterations { try code.encode(stripe) }
            }
            Benchmark("decode_\(k)+\(m)_\(bytes >> 10)KiB", configuration: allocations) { benchmark in
                for _ in benchmark.scaledIterations { try code.reconstruct(stripe, present: present, wanted: lost) }
            }
        }
    }

    // The measurements behind ContentHash's choices: BLAKE3 names chunks and
    // fragments; SHA-256 beat BLAKE2b where SHA-256 stays.
    let hashInput = [UInt8](repeating: 0x5A, count: 1 << 20)
    let throughput = Benchmark.Configuration(metrics: [.throughput, .wallClock], maxDuration: .seconds(2))
    Benchmark("hash BLAKE3 (chunk names) 1 MiB", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(hashInput.withUnsafeBytes { ContentHash(chunk: $0) }) }
    }
    Benchmark("hash SHA-256 (swift-crypto) 1 MiB", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(hashInput.withUnsafeBytes { ContentHash(of: $0) }) }
    }
    Benchmark("hash BLAKE2b-256 (libsodium) 1 MiB", configuration: throughput) { benchmark in
        var digest = [UInt8](repeating: 0, count: 32)
        for _ in benchmark.scaledIterations {
            _ = crypto_generichash(&digest, 32, hashInput, UInt64(hashInput.count), nil, 0)
            blackHole(digest)
        }
    }
    Benchmark("crc32c 1 MiB", configuration: throughput) { benchmark in
        for _ in benchmark.scaledIterations { blackHole(hashInput.withUnsafeBytes { CRC32C.checksum($0) }) }
    }
}
