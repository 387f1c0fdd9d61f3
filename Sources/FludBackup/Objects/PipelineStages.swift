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

    public func hash(_ chunk: [UInt8]) -> ContentHash { ContentHash(of: chunk) }

    /// The chunk compressed, or nil when it does not pay.
    public func compress(_ chunk: [UInt8]) -> [UInt8]? { Compression.compressIfWorthwhile(chunk) }

    public func seal(_ payload: [UInt8], hash: ContentHash) -> [UInt8] { codec.cipher.seal(payload, plaintextHash: hash) }

    /// Everything after chunking: hash, compress, seal, code into k + m fragments.
    public func fragments(of chunk: [UInt8]) throws -> [[UInt8]] {
        try codec.seal(chunk, hash: ContentHash(of: chunk), dataShards: dataShards, parityShards: parityShards).fragments
    }

    /// Only the erasure coding of an already sealed chunk.
    public func encode(_ sealed: [UInt8]) throws -> [[UInt8]] {
        try codec.encode(sealed, dataShards: dataShards, parityShards: parityShards)
    }
}
