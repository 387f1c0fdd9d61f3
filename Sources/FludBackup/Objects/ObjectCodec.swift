import FludCodec

/// Turns chunks into fragments and back: compress when it pays, seal
/// (convergent AES-256-GCM), cut into k data shards, add m parity shards.
/// Decoding takes any k fragments, checks everything: the fragments' keys
/// (by the client), the GCM tag, and the plaintext's hash.
struct ObjectCodec: Sendable {
    let cipher: ConvergentCipher

    struct Sealed {
        var compressed: Bool
        var sealedLength: Int
        var fragments: [[UInt8]]
    }

    func seal(_ plaintext: [UInt8], hash: ContentHash, dataShards: Int, parityShards: Int) throws -> Sealed {
        let compressed = Compression.compressIfWorthwhile(plaintext)
        return try cipher.seal(compressed ?? plaintext, plaintextHash: hash) { sealed in
            Sealed(compressed: compressed != nil, sealedLength: sealed.count,
                   fragments: try encode(sealed, dataShards: dataShards, parityShards: parityShards))
        }
    }

    /// `sealed` cut into k data shards (zero-padded) plus m parity shards.
    func encode(_ sealed: UnsafeRawBufferPointer, dataShards: Int, parityShards: Int) throws -> [[UInt8]] {
        let code = try ReedSolomon(dataShards: dataShards, parityShards: parityShards)
        let stripe = StripeBuffer(dataShards: dataShards, parityShards: parityShards, dataBytes: sealed.count)
        let shardLength = stripe.shardLength
        for index in 0..<dataShards {
            let shard = stripe.shard(index)
            let start = min(sealed.count, index * shardLength)
            let end = min(sealed.count, start + shardLength)
            shard.copyMemory(from: UnsafeRawBufferPointer(rebasing: sealed[start..<end]))
            if end - start < shardLength {
                UnsafeMutableRawBufferPointer(rebasing: shard[(end - start)...]).initializeMemory(as: UInt8.self, repeating: 0)
            }
        }
        try code.encode(stripe)
        return (0..<code.totalShards).map { Array(stripe.shard($0)) }
    }

    /// The plaintext from `fragments` (index → bytes; any k of them).
    func open(_ fragments: [Int: [UInt8]], chunk: ChunkRef) throws -> [UInt8] {
        let sealed = try sealedBytes(from: fragments, object: chunk.object)
        let payload: [UInt8]
        do {
            payload = try cipher.open(sealed, plaintextHash: chunk.plaintextHash)
        } catch {
            throw BackupError.corruptObject("chunk \(chunk.hash.prefix(16)) does not open with this user's keys")
        }
        let plaintext = chunk.compressed ? try Compression.decompress(payload, length: chunk.length) : payload
        guard plaintext.count == chunk.length, chunk.plaintextHash.identifies(plaintext) else {
            throw BackupError.corruptObject("chunk \(chunk.hash.prefix(16)) does not match its hash")
        }
        return plaintext
    }

    /// The sealed bytes: the data shards one after the other. They are joined
    /// straight from the fragments when all came (the usual case), and only
    /// otherwise go through a stripe to be rebuilt.
    private func sealedBytes(from fragments: [Int: [UInt8]], object: ObjectRef) throws -> [UInt8] {
        let code = try ReedSolomon(dataShards: object.dataShards, parityShards: object.parityShards)
        let shardLength = StripeBuffer.shardLength(dataBytes: object.sealedLength, dataShards: object.dataShards)
        var sealed: [UInt8] = []
        sealed.reserveCapacity(object.dataShards * shardLength)
        if (0..<object.dataShards).allSatisfy({ fragments[$0]?.count == shardLength }) {
            for index in 0..<object.dataShards { sealed += fragments[index]! }
        } else {
            let stripe = StripeBuffer(dataShards: object.dataShards, parityShards: object.parityShards, dataBytes: object.sealedLength)
            var present = ShardSet()
            for (index, bytes) in fragments where bytes.count == shardLength && index < code.totalShards {
                bytes.withUnsafeBytes { stripe.shard(index).copyMemory(from: $0) }
                present.insert(index)
            }
            try code.reconstruct(stripe, present: present, wanted: .first(object.dataShards))
            for index in 0..<object.dataShards { sealed += stripe.shard(index) }
        }
        sealed.removeLast(sealed.count - object.sealedLength)
        return sealed
    }
}

public enum BackupError: Error, Equatable, CustomStringConvertible {
    case corruptObject(String)
    case tooFewFragments(chunk: String, reachable: Int, needed: Int)
    case notEnoughNodes(found: Int)
    case noSnapshots
    case unknownSnapshot(String)
    case uploadFailed(String)

    public var description: String {
        switch self {
        case let .corruptObject(message): message
        case let .tooFewFragments(chunk, reachable, needed):
            "chunk \(chunk.prefix(16)): only \(reachable) of the \(needed) fragments needed could be fetched"
        case let .notEnoughNodes(found): "found \(found) storage nodes through the bootstrap nodes; need at least 1"
        case .noSnapshots: "no snapshots are published for these keys (wrong recovery phrase, or nothing backed up yet)"
        case let .unknownSnapshot(id): "no snapshot \(id); `flud snapshots` lists them"
        case let .uploadFailed(message): message
        }
    }
}
