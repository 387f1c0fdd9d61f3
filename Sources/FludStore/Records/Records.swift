import FludCodec

// Binary layouts of the store's records. All integers little-endian.
//
// fragments: key = fragment key (32)      value = crc32c u32 | reserved u32 | payload
// claims:    key = fragment key (32) | owner (32)   value = lease expiry u64 | stored at u64
// owners:    key = owner (32)             value = bytes u64 | fragments u64 | quota u64
//                                                 | puts u64 | deletes u64
//
// Expired leases are found by scanning the claims (rarely: on the node's
// maintenance timer), not through an index by expiry: every put would write
// that index too, and with random keys each write dirties a page of its own
// (4 KiB puts ran a third slower with one; perf/store/README.md).

enum Database {
    static let fragments = "fragments"
    static let claims = "claims"
    static let owners = "owners"
    /// Prefix of the named tables of the layers above (DHT items, node state).
    static let tablePrefix = "table:"
    static let all = [fragments, claims, owners]
    /// The lease index of stores written before it was dropped; removed on open.
    static let legacyLeases = "leases"
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

    var encoded: [UInt8] { packedLittleEndian([leaseExpiry, storedAt]) }
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
        func field(_ index: Int) -> Int { Int(truncatingIfNeeded: bytes.loadLittleEndian(at: index * 8) as UInt64) }
        (self.bytes, fragments, quota, puts, deletes) = (field(0), field(1), field(2), field(3), field(4))
    }

    var encoded: [UInt8] {
        packedLittleEndian([bytes, fragments, quota, puts, deletes].map { UInt64(truncatingIfNeeded: $0) })
    }
}

func claimKey(_ key: ContentHash, _ owner: OwnerID) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: 64) { buffer, count in
        key.withUnsafeBytes { UnsafeMutableRawBufferPointer(buffer).copyMemory(from: $0) }
        owner.value.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[32...]).copyMemory(from: $0) }
        count = 64
    }
}

/// 64-bit fields, little-endian, back to back, in one allocation.
func packedLittleEndian(_ fields: [UInt64]) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: fields.count * 8) { buffer, count in
        for (index, field) in fields.enumerated() {
            UnsafeMutableRawBufferPointer(buffer).storeBytes(of: field.littleEndian, toByteOffset: index * 8, as: UInt64.self)
        }
        count = fields.count * 8
    }
}

extension UnsafeRawBufferPointer {
    func loadLittleEndian<Integer: FixedWidthInteger>(at offset: Int) -> Integer {
        Integer(littleEndian: loadUnaligned(fromByteOffset: offset, as: Integer.self))
    }
}
