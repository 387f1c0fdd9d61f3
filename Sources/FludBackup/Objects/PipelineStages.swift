import FludCodec

/// The CPU stages a chunk goes through on its way to the network, one call
/// each, for measuring them (`flud bench pipeline`) exactly as a backup runs them.
public struct PipelineStages: Sendable {
    public let chunker: ContentDefinedChunker
    public let dataShards: Int
    public let parityShards: Int
    private let codec: ObjectCodec

    public init(keys: UserKeys, averageChunkSize: Int = 1 << 20, dataShards: Int = 20, parityShards: Int = 20) {
        chunker = ContentDefinedChunker(averageSize: averageChunkSize)
        codec = ObjectCodec(cipher: keys.cipher)
        self.dataShards = dataShards
        self.parityShards = parityShards
    }

    /// Chunk lengths of `bytes`, cut as a backup cuts a file.
    public func chunkLengths(_ bytes: [UInt8]) -> [Int] {
        var lengths: [Int] = []
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let length = chunker.chunkLength(in: UnsafeRawBufferPointer(rebasing: buffer[offset...]), isEnd: true)
                lengths.append(length)
                offset += length
            }
        }
        return lengths
    }

    public func hash(_ chunk: [UInt8]) -> ContentHash { ContentHash(chunk: chunk) }

    /// The key a node stores `fragment` under.
    public func fragmentKey(_ fragment: [UInt8]) -> ContentHash { ContentHash(fragment: fragment) }

    /// The chunk compressed, or nil when it does not pay.
    public func compress(_ chunk: [UInt8]) -> [UInt8]? { Compression.compressIfWorthwhile(chunk) }

    public func seal(_ payload: [UInt8], hash: ContentHash) -> [UInt8] { codec.cipher.seal(payload, plaintextHash: hash) }

    /// The seal as a backup runs it: `body` sees the sealed bytes where the
    /// cipher left them (the backup copies them straight into the stripe).
    public func seal<Result>(_ payload: [UInt8], hash: ContentHash, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try codec.cipher.seal(payload, plaintextHash: hash, body)
    }

    /// Everything after chunking: hash, compress, seal, code into k + m
    /// fragments, and each fragment's key (its BLAKE3, which the node checks).
    public func fragments(of chunk: [UInt8]) throws -> [(key: ContentHash, bytes: [UInt8])] {
        try codec.seal(chunk, hash: ContentHash(chunk: chunk), dataShards: dataShards, parityShards: parityShards).fragments
            .map { (fragmentKey($0), $0) }
    }

    /// Only the erasure coding of an already sealed chunk.
    public func encode(_ sealed: [UInt8]) throws -> [[UInt8]] {
        try sealed.withUnsafeBytes { try codec.encode($0, dataShards: dataShards, parityShards: parityShards) }
    }
}
