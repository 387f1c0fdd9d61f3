import FludCodec

/// Where one stored object (a sealed chunk or manifest) lives: its code and,
/// for each of its n = k + m fragments in shard order, the fragment's key and
/// the node holding it.
public struct ObjectRef: Codable, Sendable, Equatable {
    public var dataShards: Int
    public var parityShards: Int
    /// Bytes of the sealed object before it was cut into shards.
    public var sealedLength: Int
    public var fragments: [FragmentLocation]

    public struct FragmentLocation: Codable, Sendable, Equatable {
        /// The fragment's key (``ContentHash/init(fragment:)-(UnsafeRawBufferPointer)``), hex.
        public var key: String
        /// "host:port" of its node.
        public var node: String
    }
}

/// One chunk of a file (or a manifest): how to get its bytes back and check them.
public struct ChunkRef: Codable, Sendable, Equatable {
    /// The plaintext's name (``ContentHash/init(chunk:)-(UnsafeRawBufferPointer)``; SHA-256 in
    /// backups before 2026-12-04), hex: names the chunk, derives its key, checks the result.
    public var hash: String
    public var length: Int
    /// Stored zstd-compressed.
    public var compressed: Bool
    public var object: ObjectRef

    var plaintextHash: ContentHash { ContentHash(hex: hash)! }
}
