import Testing
@testable import FludCodec

struct ReedSolomonTests {
    struct VectorFile: Decodable {
        struct Case: Decodable {
            let k: Int
            let m: Int
            let data: [String]
            let parity: [String]
        }
        let cases: [Case]
    }

    @Test(arguments: CodecKernel.supported)
    func parityMatchesIndependentVectors(kernel: CodecKernel) throws {
        let vectors = try loadVectors("rs-cauchy", as: VectorFile.self)
        #expect(vectors.cases.count >= 10)
        for vector in vectors.cases {
            let code = try ReedSolomon(dataShards: vector.k, parityShards: vector.m, kernel: kernel)
            let length = vector.data[0].count / 2
            let stripe = StripeBuffer(shardCount: code.totalShards, shardCapacity: length)
            for (index, hex) in vector.data.enumerated() { stripe.write([UInt8](hex: hex), toShard: index) }
            try code.encode(stripe)
            for (offset, hex) in vector.parity.enumerated() {
                #expect(stripe.read(shard: vector.k + offset) == [UInt8](hex: hex), "k=\(vector.k) m=\(vector.m) parity \(offset)")
            }
        }
    }

    @Test(arguments: [(0, 1), (1, 0), (0, 0), (200, 56), (255, 1), (-1, 3)])
    func rejectsImpossibleCodes(k: Int, m: Int) {
        #expect(throws: CodecError.invalidCode(dataShards: k, parityShards: m)) {
            try ReedSolomon(dataShards: k, parityShards: m)
        }
    }

    @Test func acceptsTheWidestCodes() throws {
        for (k, m) in [(1, 254), (254, 1), (128, 127)] {
            let code = try ReedSolomon(dataShards: k, parityShards: m)
            #expect(code.totalShards == 255)
        }
    }

    /// Random codes, lengths and erasure patterns: any k shards rebuild all n.
    @Test(arguments: CodecKernel.supported)
    func anyKShardsRebuildTheStripe(kernel: CodecKernel) throws {
        var random = SplitMix64(seed: 0xF1D_2007)
        let lengths = [0, 1, 31, 63, 64, 65, 127, 1000, 4096, 5003]
        for round in 0..<60 {
            let total = round < 4 ? [2, 255, 255, 40][round] : Int.random(in: 2...255, using: &random)
            let k = round < 4 ? [1, 1, 254, 20][round] : Int.random(in: 1..<total, using: &random)
            let m = total - k
            let length = lengths[round % lengths.count]
            let code = try ReedSolomon(dataShards: k, parityShards: m, kernel: kernel)
            let stripe = StripeBuffer(shardCount: total, shardCapacity: length)
            for index in 0..<k { stripe.write(random.bytes(length), toShard: index) }
            try code.encode(stripe)
            let original = (0..<total).map { stripe.read(shard: $0) }

            let lostCount = Int.random(in: 1...m, using: &random)
            let lost = ShardSet(Array(0..<total).shuffled(using: &random).prefix(lostCount))
            for index in lost { stripe.write([UInt8](repeating: 0xEE, count: length), toShard: index) }
            try code.reconstruct(stripe, present: ShardSet.first(total).subtracting(lost))
            for index in 0..<total {
                #expect(stripe.read(shard: index) == original[index], "k=\(k) m=\(m) length=\(length) lost=\(Array(lost)) shard \(index)")
            }
        }
    }

    @Test func reconstructsOnlyTheWantedShards() throws {
        let code = try ReedSolomon(dataShards: 4, parityShards: 3)
        let stripe = StripeBuffer(shardCount: 7, shardCapacity: 100)
        var random = SplitMix64(seed: 7)
        for index in 0..<4 { stripe.write(random.bytes(100), toShard: index) }
        try code.encode(stripe)
        let original = (0..<7).map { stripe.read(shard: $0) }
        let marker = [UInt8](repeating: 0xAB, count: 100)
        stripe.write(marker, toShard: 0)
        stripe.write(marker, toShard: 5)
        try code.reconstruct(stripe, present: ShardSet([1, 2, 3, 4, 6]), wanted: ShardSet([0]))
        #expect(stripe.read(shard: 0) == original[0])
        #expect(stripe.read(shard: 5) == marker)
    }

    @Test func refusesToRebuildFromFewerThanK() throws {
        let code = try ReedSolomon(dataShards: 5, parityShards: 3)
        let stripe = StripeBuffer(shardCount: 8, shardCapacity: 64)
        #expect(throws: CodecError.tooFewShards(present: 4, needed: 5)) {
            try code.reconstruct(stripe, present: ShardSet([0, 2, 5, 7]))
        }
    }

    @Test func refusesAStripeOfTheWrongShape() throws {
        let code = try ReedSolomon(dataShards: 5, parityShards: 3)
        #expect(throws: CodecError.stripeMismatch(expected: 8, actual: 6)) {
            try code.encode(StripeBuffer(shardCount: 6, shardCapacity: 64))
        }
    }

    /// One code shared by many threads, each with its own stripe and erasure pattern.
    @Test func concurrentReconstructionIsCorrect() async throws {
        let code = try ReedSolomon(dataShards: 10, parityShards: 4)
        try await withThrowingTaskGroup(of: Bool.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var random = SplitMix64(seed: UInt64(task))
                    let stripe = StripeBuffer(shardCount: 14, shardCapacity: 4096)
                    for index in 0..<10 { stripe.write(random.bytes(4096), toShard: index) }
                    try code.encode(stripe)
                    let original = (0..<14).map { stripe.read(shard: $0) }
                    for _ in 0..<50 {
                        let lost = ShardSet(Array(0..<14).shuffled(using: &random).prefix(4))
                        for index in lost { stripe.write([UInt8](repeating: 0, count: 4096), toShard: index) }
                        try code.reconstruct(stripe, present: ShardSet.first(14).subtracting(lost))
                        if (0..<14).map({ stripe.read(shard: $0) }) != original { return false }
                    }
                    return true
                }
            }
            for try await correct in group { #expect(correct) }
        }
    }

    @Test func everyKernelIsNamedAndTheDefaultIsSupported() {
        #expect(CodecKernel.default.isSupported)
        #expect(CodecKernel.supported.contains(.isal))
    }
}

/// Every kernel against ISA-L's `ec_encode_data` on the same matrix, on buffers
/// at every misalignment and lengths that are not multiples of the vector width.
struct KernelAgreementTests {
    static let kernelsBesidesISAL = CodecKernel.supported.filter { $0 != .isal }

    @Test(arguments: kernelsBesidesISAL)
    func parityIsByteIdenticalToISAL(kernel: CodecKernel) {
        var random = SplitMix64(seed: 0xA11CE)
        for round in 0..<80 {
            let total = round < 4 ? [2, 255, 255, 40][round] : Int.random(in: 2...255, using: &random)
            let columns = round < 4 ? [1, 1, 254, 20][round] : Int.random(in: 1..<total, using: &random)
            let rows = total - columns
            let length = [0, 1, 31, 32, 33, 63, 64, 65, 127, 4095, 4097, 70_001][round % 12]
            let skew = round % 64
            let matrix = GaloisMatrix(rows: rows, columns: columns, bytes: random.bytes(rows * columns))
            let inputs = GuardedShards(count: columns, length: length, skew: skew, fill: 0)
            for index in 0..<columns { inputs.write(random.bytes(length), to: index) }
            let want = GuardedShards(count: rows, length: length, skew: skew, fill: 0x5A)
            let got = GuardedShards(count: rows, length: length, skew: skew, fill: 0xA5)
            KernelTables(kernel: .isal, matrix: matrix).apply(length: length, inputs: inputs.pointers, outputs: want.pointers)
            KernelTables(kernel: kernel, matrix: matrix).apply(length: length, inputs: inputs.pointers, outputs: got.pointers)
            for row in 0..<rows {
                #expect(got.read(row) == want.read(row),
                        "\(kernel) round \(round): \(rows)×\(columns), length \(length), skew \(skew), row \(row)")
                #expect(got.guardsIntact(row, fill: 0xA5), "\(kernel) wrote outside output \(row)")
            }
        }
    }
}

/// Shards in separate buffers that start `skew` bytes past a cache line, with
/// guard bytes on both sides to catch stray writes.
final class GuardedShards {
    let pointers: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>
    private let buffers: [UnsafeMutableRawPointer]
    private let length: Int
    private let skew: Int
    private let guardBytes = 64

    init(count: Int, length: Int, skew: Int, fill: UInt8) {
        self.length = length
        self.skew = skew
        let size = skew + length + guardBytes
        buffers = (0..<count).map { _ in
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            buffer.initializeMemory(as: UInt8.self, repeating: fill, count: size)
            return buffer
        }
        pointers = .allocate(capacity: max(count, 1))
        for (index, buffer) in buffers.enumerated() {
            pointers[index] = (buffer + skew).assumingMemoryBound(to: UInt8.self)
        }
    }

    deinit {
        buffers.forEach { $0.deallocate() }
        pointers.deallocate()
    }

    func write(_ bytes: [UInt8], to index: Int) {
        bytes.withUnsafeBytes { UnsafeMutableRawPointer(pointers[index]!).copyMemory(from: $0.baseAddress!, byteCount: length) }
    }

    func read(_ index: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: pointers[index], count: length))
    }

    func guardsIntact(_ index: Int, fill: UInt8) -> Bool {
        let all = UnsafeBufferPointer(start: buffers[index].assumingMemoryBound(to: UInt8.self), count: skew + length + guardBytes)
        return all[..<skew].allSatisfy { $0 == fill } && all[(skew + length)...].allSatisfy { $0 == fill }
    }
}
