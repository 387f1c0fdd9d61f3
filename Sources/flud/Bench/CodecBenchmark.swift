import FludCodec

/// Measures encode and worst-case decode throughput of one code, size and kernel.
///
/// Each sample times enough calls to last about 20 ms; the result is the median
/// sample, in GB/s (10^9 bytes per second) of data shards processed.
struct CodecBenchmark {
    enum Operation: String, CaseIterable {
        case encode
        /// Rebuild min(k, m) lost data shards, the most work a decode can need.
        case decode
    }

    struct Result {
        let operation: Operation
        let dataShards: Int
        let parityShards: Int
        let bytes: Int
        let kernel: CodecKernel
        let gigabytesPerSecond: Double
    }

    let dataShards: Int
    let parityShards: Int
    /// Data bytes per call.
    let bytes: Int
    let kernel: CodecKernel

    func run() throws -> [Result] {
        let code = try ReedSolomon(dataShards: dataShards, parityShards: parityShards, kernel: kernel)
        let stripe = StripeBuffer(dataShards: dataShards, parityShards: parityShards, dataBytes: bytes)
        for index in 0..<dataShards { fillPseudoRandom(stripe.shard(index), seed: UInt64(index + 1)) }
        try code.encode(stripe)

        let lost = ShardSet.first(min(dataShards, parityShards))
        let present = ShardSet.first(code.totalShards).subtracting(lost)
        let original = dataChecksum(stripe)
        let processed = Double(dataShards * stripe.shardLength)

        let encodeRate = try processed / medianSeconds { try code.encode(stripe) }
        let decodeRate = try processed / medianSeconds { try code.reconstruct(stripe, present: present, wanted: lost) }
        // A benchmark of a wrong answer is worthless: the rebuilt shards must match.
        guard dataChecksum(stripe) == original else {
            throw Failure(kind: .runtime, description: "decode produced wrong data for \(dataShards)+\(parityShards) with the \(kernel) kernel")
        }
        return [
            Result(operation: .encode, dataShards: dataShards, parityShards: parityShards, bytes: bytes,
                   kernel: kernel, gigabytesPerSecond: encodeRate / 1e9),
            Result(operation: .decode, dataShards: dataShards, parityShards: parityShards, bytes: bytes,
                   kernel: kernel, gigabytesPerSecond: decodeRate / 1e9),
        ]
    }

    /// Median seconds per call of `body`.
    private func medianSeconds(_ body: () throws -> Void) rethrows -> Double {
        try body()  // warm-up: builds decode tables, faults in pages
        let probeStart = monotonicSeconds()
        try body()
        let once = max(monotonicSeconds() - probeStart, 1e-7)
        let callsPerSample = max(1, Int(0.02 / once))
        let samples = min(21, max(5, Int(0.6 / (once * Double(callsPerSample)))))
        var perCall: [Double] = []
        for _ in 0..<samples {
            let start = monotonicSeconds()
            for _ in 0..<callsPerSample { try body() }
            perCall.append((monotonicSeconds() - start) / Double(callsPerSample))
        }
        return perCall.sorted()[samples / 2]
    }

    private func dataChecksum(_ stripe: StripeBuffer) -> UInt32 {
        (0..<dataShards).reduce(0) { CRC32C.checksum(UnsafeRawBufferPointer(stripe.shard($1)), continuing: $0) }
    }
}

/// xorshift64*: quick, repeatable, and the generator perf/perf_common.h uses,
/// so flud's benchmarks and the C baselines make the same bytes and orders.
struct XorshiftStar: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

/// Fills a buffer with xorshift64* output: incompressible and quick to make.
func fillPseudoRandom(_ buffer: UnsafeMutableRawBufferPointer, seed: UInt64) {
    var generator = XorshiftStar(seed: seed)
    var offset = 0
    while offset < buffer.count {
        let word = generator.next()
        let count = min(8, buffer.count - offset)
        withUnsafeBytes(of: word) { buffer.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: count) }
        offset += count
    }
}

extension Array {
    /// Fisher–Yates with xorshift64*: the permutation perf/perf_common.h's
    /// `shuffle_indices` makes from the same seed.
    mutating func shuffleRepeatably(seed: UInt64) {
        var generator = XorshiftStar(seed: seed)
        for last in indices.dropFirst().reversed() {
            swapAt(last, Int(generator.next() % UInt64(last + 1)))
        }
    }
}
