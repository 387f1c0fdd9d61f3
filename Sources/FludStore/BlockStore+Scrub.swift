import FludCodec

/// What a full check of the store found.
public struct ScrubReport: Sendable, Equatable {
    public var fragmentsChecked = 0
    public var bytesChecked = 0
    /// Fragments whose bytes fail their checksum (or, with `deep`, their hash).
    public var corruptFragments: [String] = []
    /// Fragments that no owner claims.
    public var unclaimedFragments: [String] = []
    /// Claims on fragments that are not stored.
    public var danglingClaims: [String] = []
    /// Claims whose record cannot be read.
    public var malformedClaims = 0
    /// Owners whose recorded usage differs from the sum of their claims.
    public var ownerAccountingErrors: [String] = []

    public var isClean: Bool {
        corruptFragments.isEmpty && unclaimedFragments.isEmpty && danglingClaims.isEmpty
            && malformedClaims == 0 && ownerAccountingErrors.isEmpty
    }
}

/// Sizes and counts, for operators.
public struct StoreStatistics: Sendable, Equatable {
    public var fragments = 0
    public var fragmentBytes = 0
    public var claims = 0
    public var owners = 0
    /// Bytes of the data file in use, and the current map size.
    public var usedBytes = 0
    public var mapSize = 0
    public var capacity = 0

    public init() {}
}

extension BlockStore {
    /// Reads every fragment and cross-checks every index. Runs in one read
    /// transaction, so it sees one consistent state while writes go on.
    ///
    /// - Parameter deep: also check each fragment against its key (a hash, slower than the CRC).
    public func scrub(deep: Bool = false) throws -> ScrubReport {
        try read { transaction in
            var report = ScrubReport()
            var claimedBytes: [OwnerID: (bytes: Int, fragments: Int)] = [:]
            var claimedKeys = Set<ContentHash>()
            try transaction.forEach(in: claims) { key, value in
                let fragmentKey = ContentHash(bytes: key[0..<32])!
                let owner = OwnerID(bytes: key[32..<64])!
                claimedKeys.insert(fragmentKey)
                let size = try fragmentKey.bytes.withUnsafeBytes { try transaction.get($0, in: fragments) }.map { $0.count - 8 }
                if let size {
                    claimedBytes[owner, default: (0, 0)].bytes += size
                    claimedBytes[owner, default: (0, 0)].fragments += 1
                } else {
                    report.danglingClaims.append("\(fragmentKey.hex) claimed by \(owner.hex)")
                }
                if ClaimRecord(value) == nil { report.malformedClaims += 1 }
                return true
            }
            try transaction.forEach(in: fragments) { key, record in
                let fragmentKey = ContentHash(bytes: key)!
                let payload = UnsafeRawBufferPointer(rebasing: record[min(8, record.count)...])
                report.fragmentsChecked += 1
                report.bytesChecked += payload.count
                let intact = record.count > 8 && CRC32C.checksum(payload) == record.loadLittleEndian(at: 0) as UInt32
                    && (!deep || fragmentKey.identifies(payload))
                if !intact { report.corruptFragments.append(fragmentKey.hex) }
                if !claimedKeys.contains(fragmentKey) { report.unclaimedFragments.append(fragmentKey.hex) }
                return true
            }
            try transaction.forEach(in: owners) { key, value in
                let owner = OwnerID(bytes: key)!
                let recorded = OwnerUsage(value) ?? OwnerUsage()
                let actual = claimedBytes.removeValue(forKey: owner) ?? (0, 0)
                if recorded.bytes != actual.bytes || recorded.fragments != actual.fragments {
                    report.ownerAccountingErrors.append(owner.hex)
                }
                return true
            }
            report.ownerAccountingErrors += claimedBytes.keys.map(\.hex)
            return report
        }
    }

    public func statistics() throws -> StoreStatistics {
        try read { transaction in
            var statistics = StoreStatistics()
            try transaction.forEach(in: fragments) { _, record in
                statistics.fragments += 1
                statistics.fragmentBytes += record.count - 8
                return true
            }
            statistics.claims = try transaction.count(in: claims)
            statistics.owners = try transaction.count(in: owners)
            statistics.usedBytes = try environment.usedBytes()
            statistics.mapSize = environment.mapSize
            statistics.capacity = options.capacity
            return statistics
        }
    }
}
