import Synchronization

/// A systematic Reed-Solomon code over GF(2^8) built on a Cauchy matrix: k data
/// shards, m parity shards, and any k of the k + m shards rebuild the rest.
///
/// Encoding tables are built once per (k, m, kernel) and shared by every instance;
/// decoding tables are built once per erasure pattern and cached. `encode` and
/// `reconstruct` allocate nothing once their tables exist. A `ReedSolomon` is
/// safe to use from many threads, each with its own ``StripeBuffer``.
public final class ReedSolomon: Sendable {
    /// k: shards that hold the data itself.
    public let dataShards: Int
    /// m: shards computed from the data.
    public let parityShards: Int
    /// The engine that runs the GF(2^8) arithmetic.
    public let kernel: CodecKernel
    /// k + m.
    public var totalShards: Int { dataShards + parityShards }

    let encodingMatrix: GaloisMatrix
    private let parityTables: KernelTables
    /// 0 ..< k + m, built once: reconstruct runs on the hot path.
    private let allShards: ShardSet
    private let decodePlans = Mutex(DecodePlanCache())

    /// - Throws: ``CodecError/invalidCode(dataShards:parityShards:)`` unless
    ///   k ≥ 1, m ≥ 1 and k + m ≤ 255; ``CodecError/kernelUnsupported(_:)``.
    public init(dataShards: Int, parityShards: Int, kernel: CodecKernel = .default) throws(CodecError) {
        guard dataShards >= 1, parityShards >= 1, dataShards + parityShards <= 255 else {
            throw .invalidCode(dataShards: dataShards, parityShards: parityShards)
        }
        guard kernel.isSupported else { throw .kernelUnsupported(kernel.rawValue) }
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.kernel = kernel
        let shared = EncodingCache.tables(dataShards: dataShards, parityShards: parityShards, kernel: kernel)
        encodingMatrix = shared.matrix
        parityTables = shared.parity
        allShards = .first(dataShards + parityShards)
    }

    /// Computes the m parity shards of `stripe` from its k data shards.
    public func encode(_ stripe: StripeBuffer) throws(CodecError) {
        try checkShape(stripe)
        parityTables.apply(length: stripe.shardLength,
                           inputs: stripe.shards,
                           outputs: stripe.shards + dataShards)
    }

    /// Rebuilds shards of `stripe` from the shards marked present.
    ///
    /// - Parameters:
    ///   - present: the shards whose bytes are valid; the first k of them are read.
    ///   - wanted: the shards to rebuild; by default every shard not present.
    /// - Throws: ``CodecError/tooFewShards(present:needed:)`` when fewer than k are present.
    public func reconstruct(_ stripe: StripeBuffer, present: ShardSet, wanted: ShardSet? = nil) throws(CodecError) {
        try checkShape(stripe)
        let sources = present.intersection(allShards).prefix(dataShards)
        guard sources.count == dataShards else {
            throw .tooFewShards(present: sources.count, needed: dataShards)
        }
        let targets = (wanted ?? allShards).subtracting(present)
        guard !targets.isEmpty else { return }
        let plan = decodePlan(sources: sources, targets: targets)
        for (slot, index) in plan.sourceIndices.enumerated() {
            stripe.gatherInputs[slot] = stripe.shards[index]
        }
        for (slot, index) in plan.targetIndices.enumerated() {
            stripe.gatherOutputs[slot] = stripe.shards[index]
        }
        plan.tables.apply(length: stripe.shardLength, inputs: stripe.gatherInputs, outputs: stripe.gatherOutputs)
    }

    private func checkShape(_ stripe: StripeBuffer) throws(CodecError) {
        guard stripe.shardCount == totalShards else {
            throw .stripeMismatch(expected: totalShards, actual: stripe.shardCount)
        }
    }

    private func decodePlan(sources: ShardSet, targets: ShardSet) -> DecodePlan {
        let key = DecodePlanCache.Key(sources: sources, targets: targets)
        if let plan = decodePlans.withLock({ $0.plans[key] }) { return plan }
        let plan = DecodePlan(code: self, sources: sources, targets: targets)
        decodePlans.withLock { $0.insert(plan, for: key) }
        return plan
    }
}

/// The rows that rebuild `targets` from `sources`, expanded for the kernel.
final class DecodePlan: Sendable {
    let sourceIndices: [Int]
    let targetIndices: [Int]
    let tables: KernelTables

    /// If B is the k × k matrix of the source rows, the data is B⁻¹ · sources; a
    /// lost data shard d is row d of B⁻¹, a lost parity shard p is row p of the
    /// encoding matrix times B⁻¹.
    init(code: ReedSolomon, sources: ShardSet, targets: ShardSet) {
        sourceIndices = Array(sources)
        targetIndices = Array(targets)
        let k = code.dataShards
        // Any k rows of a systematic Cauchy matrix are independent (k + m ≤ 256).
        guard let inverse = code.encodingMatrix.selecting(rows: sourceIndices).inverted() else {
            preconditionFailure("k rows of a Cauchy encoding matrix must be invertible")
        }
        var rows: [UInt8] = []
        rows.reserveCapacity(targetIndices.count * k)
        for target in targetIndices {
            let row = target < k
                ? inverse.selecting(rows: [target])
                : code.encodingMatrix.selecting(rows: [target]) * inverse
            rows += row.bytes
        }
        tables = KernelTables(kernel: code.kernel,
                              matrix: GaloisMatrix(rows: targetIndices.count, columns: k, bytes: rows))
    }
}

/// Decode plans by erasure pattern, bounded so that a long run over many patterns
/// cannot grow memory without limit.
struct DecodePlanCache: ~Copyable {
    struct Key: Hashable {
        let sources: ShardSet
        let targets: ShardSet
    }

    static let capacity = 1024
    var plans: [Key: DecodePlan] = [:]

    mutating func insert(_ plan: DecodePlan, for key: Key) {
        if plans.count >= Self.capacity { plans.removeAll(keepingCapacity: true) }
        plans[key] = plan
    }
}

/// Encoding matrices and parity tables shared by every code with the same shape.
enum EncodingCache {
    struct Entry: Sendable {
        let matrix: GaloisMatrix
        let parity: KernelTables
    }

    private struct Key: Hashable {
        let dataShards: Int
        let parityShards: Int
        let kernel: CodecKernel
    }

    private static let entries = Mutex<[Key: Entry]>([:])

    static func tables(dataShards k: Int, parityShards m: Int, kernel: CodecKernel) -> Entry {
        let key = Key(dataShards: k, parityShards: m, kernel: kernel)
        return entries.withLock { entries in
            if let entry = entries[key] { return entry }
            let matrix = GaloisMatrix.cauchyEncoding(dataShards: k, parityShards: m)
            let entry = Entry(matrix: matrix,
                              parity: KernelTables(kernel: kernel, matrix: matrix.selecting(rows: k..<(k + m))))
            entries[key] = entry
            return entry
        }
    }
}
