internal import CBLAKE3

/// Fragment keys: the name a node stores a fragment under and checks it by.
///
/// A key is the BLAKE3 hash of the fragment's bytes (BLAKE3's own C
/// implementation, `blake3_hasher_*`): every backed-up byte is hashed twice as
/// fragments at 20 + 20, and BLAKE3 runs at 2.5–2.8 GB/s on a fragment here
/// against 1.35–1.41 for SHA-256 (`perf/hash/run-hash.sh`). Fragments stored
/// before were keyed by SHA-256 (``ContentHash/init(of:)-(UnsafeRawBufferPointer)``)
/// and still check out: finding bytes whose BLAKE3 is another fragment's
/// SHA-256 is as hard as inverting either hash.
extension ContentHash {
    /// The key of a fragment: BLAKE3 of its bytes.
    public init(fragment bytes: UnsafeRawBufferPointer) {
        var hasher = blake3_hasher()
        blake3_hasher_init(&hasher)
        blake3_hasher_update(&hasher, bytes.baseAddress, bytes.count)
        self = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Self.byteCount) { digest in
            blake3_hasher_finalize(&hasher, digest.baseAddress, Self.byteCount)
            return ContentHash(bytes: digest)!
        }
    }

    /// The key of a fragment held in an array.
    public init(fragment bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { ContentHash(fragment: $0) }
    }

    /// Whether `bytes` are the fragment this key names: their BLAKE3, or
    /// their SHA-256 for a fragment stored under a key of the earlier kind.
    public func identifies(_ bytes: UnsafeRawBufferPointer) -> Bool {
        ContentHash(fragment: bytes) == self || ContentHash(of: bytes) == self
    }

    /// ``identifies(_:)-(UnsafeRawBufferPointer)`` for bytes in an array.
    public func identifies(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { identifies($0) }
    }
}
