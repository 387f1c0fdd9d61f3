internal import CBLAKE3

/// Fragment keys and chunk names: the hashes flud computes on every backed-up
/// byte, so the fastest ones.
///
/// Both are BLAKE3 (BLAKE3's own C implementation, `blake3_hasher_*`): every
/// backed-up byte is hashed once as a chunk and twice as fragments at 20 + 20,
/// and BLAKE3 runs at 2.5–3.5 GB/s here against 1.35–1.41 for SHA-256
/// (`perf/hash/run-hash.sh`). Data stored before was named by SHA-256
/// (``ContentHash/init(of:)-(UnsafeRawBufferPointer)``): fragments before
/// 2026-12-02, chunks, packed files and snapshot pages before 2026-12-04. It
/// still checks out (``identifies(_:)-(UnsafeRawBufferPointer)``): finding bytes
/// whose BLAKE3 is other bytes' SHA-256 is as hard as inverting either hash.
extension ContentHash {
    /// The key of a fragment: BLAKE3 of its bytes.
    public init(fragment bytes: UnsafeRawBufferPointer) {
        self.init(blake3: bytes)
    }

    /// The key of a fragment held in an array.
    public init(fragment bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { ContentHash(blake3: $0) }
    }

    /// The name of a backed-up chunk, packed file or snapshot page: BLAKE3 of
    /// its plaintext. It derives the chunk's key and checks the restored bytes.
    public init(chunk bytes: UnsafeRawBufferPointer) {
        self.init(blake3: bytes)
    }

    /// The name of a chunk held in an array or a slice of one.
    public init(chunk bytes: some Collection<UInt8>) {
        self = bytes.withContiguousStorageIfAvailable { ContentHash(blake3: UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { ContentHash(blake3: $0) }
    }

    private init(blake3 bytes: UnsafeRawBufferPointer) {
        var hasher = blake3_hasher()
        blake3_hasher_init(&hasher)
        blake3_hasher_update(&hasher, bytes.baseAddress, bytes.count)
        self = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.byteCount) { digest in
            blake3_hasher_finalize(&hasher, digest.baseAddress, Self.byteCount)
            return ContentHash(bytes: digest)!
        }
    }

    /// Whether `bytes` are what this fragment key or chunk name names: their
    /// BLAKE3, or their SHA-256 for data named before BLAKE3.
    public func identifies(_ bytes: UnsafeRawBufferPointer) -> Bool {
        ContentHash(blake3: bytes) == self || ContentHash(of: bytes) == self
    }

    /// ``identifies(_:)-(UnsafeRawBufferPointer)`` for an array or a slice of one.
    public func identifies(_ bytes: some Collection<UInt8>) -> Bool {
        bytes.withContiguousStorageIfAvailable { identifies(UnsafeRawBufferPointer($0)) }
            ?? Array(bytes).withUnsafeBytes { identifies($0) }
    }
}
