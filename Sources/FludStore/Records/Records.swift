import FludCodec

// Binary layouts of the store's records. All integers little-endian except the
// expiry prefix of lease-index keys, which is big-endian so keys sort by time.
//
// fragments: key = SHA-256 (32)           value = crc32c u32 | reserved u32 | payload
// claims:    key = SHA-256 (32) | owner (32)   value = lease expiry u64 | stored at u64
// leases:    key = expiry u64 BE | SHA-256 | owner  value = empty (index for GC)
// owners:    key = owner (32)             value = bytes u64 | fragments u64 | quota u64
//                                                 | puts u64 | deletes u64

enum Database {
    static let fragments = "fragments"
    static let claims = "claims"
    static let leases = "leases"
    static let owners = "owners"
    /// Prefix of the named tables of the layers above (DHT items, node state).
    static let tablePrefix = "table:"
    static let all = [fragments, claims, leases, owners]
}

/// Bytes before the payload in a fragment record.
let fragmentHeaderSize = 8

struct ClaimRecord: Equatable {
    var leaseExpiry: UInt64
    var storedAt: UInt64

    init(leaseExpiry: UInt64, storedAt: UInt64) {
        self.leaseExpiry = leaseExpiry
        self.storedAt = storedAt
    }

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        leaseExpiry = bytes.loadLittleEndian(at: 0)
        storedAt = bytes.loadLittleEndian(at: 8)
    }

    var encoded: [UInt8] { littleEndianBytes(leaseExpiry) + littleEndianBytes(storedAt) }
}

/// What one owner stores here.
public struct OwnerUsage: Equatable, Sendable {
    /// Bytes of the fragments this owner has claims on.
    public var bytes: Int = 0
    /// Number of claims.
    public var fragments: Int = 0
    /// Most bytes this owner may claim; 0 means no limit.
    public var quota: Int = 0
    /// Successful puts and claim deletions, lifetime.
    public var puts: Int = 0
    public var deletes: Int = 0

    public init() {}

    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 40 else { return nil }
        let fields = (0..<5).map { Int(truncatingIfNeeded: bytes.loadLittleEndian(at: $0 * 8) as UInt64) }
        (self.bytes, fragments, quota, puts, deletes) = (fields[0], fields[1], fields[2], fields[3], fields[4])
    }

    var encoded: [UInt8] {
        [bytes, fragments, quota, puts, deletes].flatMap { littleEndianBytes(UInt64($0)) }
    }
}

func claimKey(_ key: ContentHash, _ owner: OwnerID) -> [UInt8] {
    key.bytes + owner.bytes
}

func leaseKey(_ expiry: UInt64, _ key: ContentHash, _ owner: OwnerID) -> [UInt8] {
    withUnsafeBytes(of: expiry.bigEndian, Array.init) + key.bytes + owner.bytes
}

func littleEndianBytes<Integer: FixedWidthInteger>(_ value: Integer) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
}

extension UnsafeRawBufferPointer {
    func loadLittleEndian<Integer: FixedWidthInteger>(at offset: Int) -> Integer {
        Integer(littleEndian: loadUnaligned(fromByteOffset: offset, as: Integer.self))
    }
}
