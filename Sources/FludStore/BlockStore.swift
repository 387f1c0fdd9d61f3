import FludCodec
import Foundation

/// A node's fragment store: content-addressed fragments in one LMDB
/// environment, with the claims, leases and per-owner accounting around them.
///
/// - Writes go through a single group-commit writer; a write returns once its
///   transaction is durably committed (unless `durable` is off).
/// - Reads are zero-copy inside a read transaction (``withFragment(_:verify:_:)``)
///   and run concurrently with each other and with writes.
/// - The map grows by itself up to `capacity`; past it, puts fail with
///   ``StoreError/full(capacity:)`` and nothing stored is harmed.
/// - One process at a time: a second one gets ``StoreError/inUse(directory:byProcess:)``.
public final class BlockStore: Sendable {
    public struct Options: Sendable {
        /// Map size to start with; it doubles as needed.
        public var initialMapSize = 64 << 20
        /// The most bytes the store's data file may reach.
        public var capacity = 1 << 40
        /// Commit with fsync (the default). Off trades crash safety of the last
        /// commits for speed; LMDB's copy-on-write still keeps the file consistent.
        public var durable = true
        /// The largest fragment accepted.
        public var maximumFragmentSize = 64 << 20
        /// Named key-value tables to open beside the fragments (see ``table(_:)``).
        public var tables: [String] = []

        public init() {}
    }

    /// What a put did.
    public enum PutOutcome: Sendable, Equatable {
        /// The bytes were new here.
        case stored
        /// The bytes were already here; the owner's claim was added.
        case claimAdded
        /// The owner already had a claim; its lease was updated.
        case leaseRenewed
    }

    public let directory: String
    public let options: Options
    let environment: LMDBEnvironment
    let fragments: LMDBDatabase
    let claims: LMDBDatabase
    let owners: LMDBDatabase
    private let lock: DirectoryLock
    let writer: GroupCommitWriter

    /// Opens (creating if needed) the store in `directory`.
    public init(directory: String, options: Options = Options()) throws(StoreError) {
        self.directory = directory
        self.options = options
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .cannotOpen(directory: directory, reason: (error as NSError).localizedDescription)
        }
        lock = try DirectoryLock(directory: directory)
        var environmentOptions = LMDBEnvironment.Options(mapSize: min(options.initialMapSize, options.capacity))
        environmentOptions.durable = options.durable
        environmentOptions.maxDatabases = UInt32(Database.all.count + options.tables.count + 8)
        do {
            let existing = (try? FileManager.default.attributesOfItem(atPath: directory + "/data.mdb")[.size] as? Int) ?? 0
            environmentOptions.mapSize = max(environmentOptions.mapSize, min(existing, options.capacity))
            environment = try LMDBEnvironment(path: directory, options: environmentOptions,
                                              databaseNames: Database.all + options.tables.map { Database.tablePrefix + $0 })
        } catch let error as LMDBError where error.code == LMDBError.invalid || error.code == LMDBError.versionMismatch {
            throw .notAStore(path: directory + "/data.mdb")
        } catch let error as LMDBError where [EACCES, EROFS, EPERM, ENOENT, ENOTDIR].contains(error.code) {
            throw .cannotOpen(directory: directory, reason: String(cString: strerror(error.code)))
        } catch {
            throw storeError(error, capacity: options.capacity)
        }
        fragments = environment.database(Database.fragments)
        claims = environment.database(Database.claims)
        owners = environment.database(Database.owners)
        writer = GroupCommitWriter(environment: environment, capacity: options.capacity)
        do {
            try environment.write { transaction in
                if let legacy = try transaction.existingDatabase(Database.legacyLeases) { try transaction.drop(legacy) }
            }
        } catch {
            throw storeError(error, capacity: options.capacity)
        }
    }

    deinit {
        close()
    }

    /// Finishes queued writes, waits for running reads, closes the environment
    /// and gives the directory up for other processes. Later calls fail with
    /// ``StoreError/closed``. Closing twice is harmless.
    public func close() {
        writer.stop()
        environment.close()
        lock.release()
    }

    // MARK: Writing

    /// Stores `bytes` under `key` for `owner` until `leaseExpiry` (Unix seconds).
    ///
    /// The bytes are checked against the key (``ContentHash/identifies(_:)-(UnsafeRawBufferPointer)``)
    /// and checksummed by the
    /// caller's task, in parallel with other puts; the writer only copies them
    /// into the map, once. Returns after the commit.
    ///
    /// - Parameter quota: the most bytes `owner` may claim, checked in the
    ///   same transaction; nil: the quota kept with ``setQuota(_:for:)``.
    public func put(_ bytes: [UInt8], key: ContentHash, owner: OwnerID, leaseExpiry: UInt64,
                    quota: Int? = nil) async throws -> PutOutcome {
        try await put(bytes[...], key: key, owner: owner, leaseExpiry: leaseExpiry, quota: quota)
    }

    /// ``put(_:key:owner:leaseExpiry:)`` for bytes that arrived inside a larger
    /// buffer (a network frame), so they are copied once: into the map.
    public func put(_ bytes: ArraySlice<UInt8>, key: ContentHash, owner: OwnerID, leaseExpiry: UInt64,
                    quota: Int? = nil) async throws -> PutOutcome {
        let checked = try check(bytes, key: key)
        return try await writer.perform(bytes: bytes.count + 256) { transaction in
            try self.applyPut(bytes, key: key, checksum: checked, owner: owner, leaseExpiry: leaseExpiry, quota: quota, in: transaction)
        }
    }

    /// The blocking form of ``put(_:key:owner:leaseExpiry:)``.
    public func putAndWait(_ bytes: [UInt8], key: ContentHash, owner: OwnerID, leaseExpiry: UInt64) throws -> PutOutcome {
        let checked = try check(bytes[...], key: key)
        return try writer.performAndWait(bytes: bytes.count + 256) { transaction in
            try self.applyPut(bytes[...], key: key, checksum: checked, owner: owner, leaseExpiry: leaseExpiry, quota: nil, in: transaction)
        }
    }

    /// Removes `owner`'s claim on `key`; the bytes go with the last claim.
    /// Returns false if the owner had no claim.
    @discardableResult
    public func deleteClaim(key: ContentHash, owner: OwnerID) async throws -> Bool {
        try await writer.perform { transaction in try self.applyDeleteClaim(key: key, owner: owner, in: transaction) }
    }

    /// Extends `owner`'s claim on `key` to at least `leaseExpiry` (Unix
    /// seconds; a lease is never shortened). Returns the lease now in force,
    /// or nil if the owner has no claim.
    public func renewClaim(key: ContentHash, owner: OwnerID, leaseExpiry: UInt64) async throws -> UInt64? {
        try await writer.perform { transaction in
            let claimKey = FludStore.claimKey(key, owner)
            guard let claim = try self.claim(at: claimKey, in: transaction) else { return nil }
            guard leaseExpiry > claim.leaseExpiry else { return claim.leaseExpiry }
            try self.putClaim(ClaimRecord(leaseExpiry: leaseExpiry, storedAt: claim.storedAt), at: claimKey, transaction)
            return leaseExpiry
        }
    }

    /// Sets the most bytes `owner` may claim (0: no limit).
    public func setQuota(_ bytes: Int, for owner: OwnerID) async throws {
        try await writer.perform { transaction in
            var usage = try self.usage(of: owner, in: transaction)
            usage.quota = bytes
            try self.write(usage, for: owner, in: transaction)
        }
    }

    /// Drops every claim whose lease expired at or before `now` (Unix seconds),
    /// and fragments left without claims. Returns the number of claims dropped.
    ///
    /// The claims are scanned in read transactions, so puts go on meanwhile,
    /// and dropped `batchSize` per write transaction, each checked again under the write.
    public func collectExpiredLeases(now: UInt64, batchSize: Int = 4096) async throws -> Int {
        var dropped = 0
        var scanFrom: [UInt8] = []
        while true {
            let (expired, next) = try expiredClaims(now: now, from: scanFrom, limit: max(1, batchSize))
            if !expired.isEmpty {
                dropped += try await writer.perform { transaction in
                    try expired.reduce(0) { dropped, claimKey in
                        guard let claim = try self.claim(at: claimKey, in: transaction), claim.leaseExpiry <= now else { return dropped }
                        try self.applyDeleteClaim(key: ContentHash(bytes: claimKey[..<ContentHash.byteCount])!,
                                                  owner: OwnerID(bytes: claimKey[ContentHash.byteCount...])!, in: transaction)
                        return dropped + 1
                    }
                }
            }
            guard let next else { return dropped }
            scanFrom = next
        }
    }

    /// Up to `limit` keys of claims expired at `now`, from the key `start` on,
    /// and where to go on when the limit cut the scan short.
    private func expiredClaims(now: UInt64, from start: [UInt8], limit: Int) throws -> (expired: [[UInt8]], next: [UInt8]?) {
        try read { transaction in
            var expired: [[UInt8]] = []
            var next: [UInt8]?
            try start.withUnsafeBytes { start in
                try transaction.forEach(in: claims, from: start.isEmpty ? nil : start) { key, value in
                    guard let claim = ClaimRecord(value), claim.leaseExpiry <= now else { return true }
                    guard expired.count < limit else {
                        next = Array(key)
                        return false
                    }
                    expired.append(Array(key))
                    return true
                }
            }
            return (expired, next)
        }
    }

    private func check(_ bytes: ArraySlice<UInt8>, key: ContentHash) throws(StoreError) -> UInt32 {
        guard !bytes.isEmpty else { throw .emptyFragment }
        guard bytes.count <= options.maximumFragmentSize else {
            throw .fragmentTooLarge(size: bytes.count, limit: options.maximumFragmentSize)
        }
        let (identified, checksum) = bytes.withUnsafeBytes { (key.identifies($0), CRC32C.checksum($0)) }
        guard identified else { throw .hashMismatch(key: key.hex, actual: ContentHash(fragment: Array(bytes)).hex) }
        return checksum
    }

    private func applyPut(_ bytes: ArraySlice<UInt8>, key: ContentHash, checksum: UInt32, owner: OwnerID,
                          leaseExpiry: UInt64, quota: Int?, in transaction: LMDBTransaction) throws -> PutOutcome {
        let claimKey = claimKey(key, owner)
        let existingClaim = try claim(at: claimKey, in: transaction)
        var usage = try usage(of: owner, in: transaction)
        let limit = quota ?? usage.quota
        if existingClaim == nil, limit > 0, usage.bytes + bytes.count > limit {
            throw StoreError.quotaExceeded(used: usage.bytes, requested: bytes.count, quota: limit)
        }
        let record = try key.withUnsafeBytes { try transaction.get($0, in: fragments) }
        let isNew = record == nil
        // New bytes, or a stored copy that rotted: the sent bytes (checked
        // against the key) take its place, so a STORE that succeeds always
        // leaves an intact copy.
        if !Self.holdsIntact(record, count: bytes.count, checksum: checksum) {
            try key.withUnsafeBytes { keyBuffer in
                let record = try transaction.reserve(keyBuffer, size: fragmentHeaderSize + bytes.count, in: fragments)
                record.storeBytes(of: checksum.littleEndian, toByteOffset: 0, as: UInt32.self)
                record.storeBytes(of: 0, toByteOffset: 4, as: UInt32.self)
                bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: record[fragmentHeaderSize...]).copyMemory(from: $0) }
            }
        }
        if let existingClaim {
            try putClaim(ClaimRecord(leaseExpiry: leaseExpiry, storedAt: existingClaim.storedAt), at: claimKey, transaction)
            return .leaseRenewed
        }
        try putClaim(ClaimRecord(leaseExpiry: leaseExpiry, storedAt: UInt64(Date().timeIntervalSince1970)), at: claimKey, transaction)
        usage.bytes += bytes.count
        usage.fragments += 1
        usage.puts += 1
        try write(usage, for: owner, in: transaction)
        return isNew ? .stored : .claimAdded
    }

    /// Whether a stored fragment record holds `count` bytes with this checksum, intact.
    private static func holdsIntact(_ record: UnsafeRawBufferPointer?, count: Int, checksum: UInt32) -> Bool {
        guard let record, record.count == fragmentHeaderSize + count,
              record.loadLittleEndian(at: 0) as UInt32 == checksum else { return false }
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[fragmentHeaderSize...])) == checksum
    }

    @discardableResult
    private func applyDeleteClaim(key: ContentHash, owner: OwnerID, in transaction: LMDBTransaction) throws -> Bool {
        guard try claimKey(key, owner).withUnsafeBytes({ try transaction.delete($0, in: claims) }) else { return false }
        let keyBytes = key.bytes
        let size = try keyBytes.withUnsafeBytes { try transaction.get($0, in: fragments) }.map { $0.count - fragmentHeaderSize } ?? 0
        var usage = try usage(of: owner, in: transaction)
        usage.bytes = max(0, usage.bytes - size)
        usage.fragments = max(0, usage.fragments - 1)
        usage.deletes += 1
        try write(usage, for: owner, in: transaction)
        if try !hasClaims(keyBytes, in: transaction) {
            try keyBytes.withUnsafeBytes { _ = try transaction.delete($0, in: fragments) }
        }
        return true
    }

    private func hasClaims(_ keyBytes: [UInt8], in transaction: LMDBTransaction) throws -> Bool {
        var found = false
        try keyBytes.withUnsafeBytes { prefix in
            try transaction.forEach(in: claims, from: prefix) { claim, _ in
                found = claim.starts(with: prefix)
                return false
            }
        }
        return found
    }

    private func claim(at claimKey: [UInt8], in transaction: LMDBTransaction) throws -> ClaimRecord? {
        try claimKey.withUnsafeBytes { try transaction.get($0, in: claims) }.flatMap(ClaimRecord.init)
    }

    private func putClaim(_ claim: ClaimRecord, at claimKey: [UInt8], _ transaction: LMDBTransaction) throws {
        try claimKey.withUnsafeBytes { key in try claim.encoded.withUnsafeBytes { try transaction.put(key, $0, in: claims) } }
    }

    func usage(of owner: OwnerID, in transaction: LMDBTransaction) throws -> OwnerUsage {
        try owner.value.withUnsafeBytes { try transaction.get($0, in: owners) }.flatMap(OwnerUsage.init) ?? OwnerUsage()
    }

    private func write(_ usage: OwnerUsage, for owner: OwnerID, in transaction: LMDBTransaction) throws {
        try owner.value.withUnsafeBytes { key in try usage.encoded.withUnsafeBytes { try transaction.put(key, $0, in: owners) } }
    }

    // MARK: Reading

    /// Runs `body` on the stored bytes of `key`, without copying them. The
    /// buffer is valid only inside `body`, which must not block for long (it
    /// holds a read transaction) and cannot `await`.
    ///
    /// - Parameter verify: check the CRC-32C first (ISA-L runs it at tens of GB/s).
    /// - Throws: ``StoreError/notFound(key:)``, ``StoreError/corrupt(key:)``.
    public func withFragment<Result>(_ key: ContentHash, verify: Bool = true,
                                     _ body: (UnsafeRawBufferPointer) throws -> Result) throws -> Result {
        try read { transaction in try body(payload(of: key, verify: verify, in: transaction)) }
    }

    /// Asks the kernel to start reading the pages of a large fragment that a
    /// get will want soon, without waiting for them. When its first and last
    /// pages are in memory it costs a lookup and two `mincore` calls.
    public func prefetch(_ key: ContentHash) {
        try? read { transaction in
            guard let record = try key.withUnsafeBytes({ try transaction.get($0, in: fragments) }),
                  record.count >= readAheadBytes, !environment.isInMemory(record) else { return }
            environment.willRead(record)
        }
    }

    /// A copy of the stored bytes of `key`, checksum verified.
    public func fragment(_ key: ContentHash) throws -> [UInt8] {
        try withFragment(key) { Array($0) }
    }

    public func contains(_ key: ContentHash) throws -> Bool {
        try read { transaction in try key.bytes.withUnsafeBytes { try transaction.get($0, in: fragments) } != nil }
    }

    /// The owners holding a claim on `key`, with their lease expiries.
    public func claims(on key: ContentHash) throws -> [(owner: OwnerID, leaseExpiry: UInt64)] {
        try read { transaction in
            var result: [(OwnerID, UInt64)] = []
            let prefix = key.bytes
            try prefix.withUnsafeBytes { prefix in
                try transaction.forEach(in: claims, from: prefix) { claimKey, value in
                    guard claimKey.starts(with: prefix), let claim = ClaimRecord(value) else { return false }
                    result.append((OwnerID(bytes: claimKey[32..<64])!, claim.leaseExpiry))
                    return true
                }
            }
            return result
        }
    }

    /// Up to `limit` of the fragments `owner` claims, in key order, starting
    /// after `after`: each with its size and lease expiry.
    ///
    /// Claims are keyed by fragment first, so this scans them all; fine for an
    /// operator's listing, not for a hot path.
    public func fragments(claimedBy owner: OwnerID, after: ContentHash? = nil, limit: Int)
        throws -> [(key: ContentHash, size: Int, leaseExpiry: UInt64)] {
        try read { transaction in
            var found: [(ContentHash, Int, UInt64)] = []
            let ownerBytes = owner.bytes
            let start = after.map { $0.bytes + [UInt8](repeating: 0xFF, count: OwnerID.byteCount) } ?? []
            try start.withUnsafeBytes { start in
                try transaction.forEach(in: claims, from: start.isEmpty ? nil : start) { claimKey, value in
                    guard found.count < limit else { return false }
                    guard claimKey.count == 64, claimKey[32..<64].elementsEqual(ownerBytes),
                          let claim = ClaimRecord(value), let key = ContentHash(bytes: claimKey[0..<32]) else { return true }
                    let record = try key.withUnsafeBytes { try transaction.get($0, in: fragments) }
                    found.append((key, max(0, (record?.count ?? 0) - fragmentHeaderSize), claim.leaseExpiry))
                    return true
                }
            }
            return found
        }
    }

    /// The size of the stored fragment `key`, or nil if it is not here.
    public func size(of key: ContentHash) throws -> Int? {
        try read { transaction in
            try key.withUnsafeBytes { try transaction.get($0, in: fragments) }.map { $0.count - fragmentHeaderSize }
        }
    }

    public func usage(of owner: OwnerID) throws -> OwnerUsage {
        try read { transaction in try usage(of: owner, in: transaction) }
    }

    /// Runs `body` in a read transaction, mapping LMDB errors for the caller.
    func read<Result>(_ body: (LMDBTransaction) throws -> Result) throws -> Result {
        do {
            return try environment.read(body)
        } catch let error as StoreError {
            throw error
        } catch {
            throw storeError(error, capacity: options.capacity)
        }
    }
}

extension BlockStore {
    /// Runs `body` on each fragment of `keys` in one read transaction, zero-copy
    /// and checksum-verified: the batched form of ``withFragment(_:verify:_:)``.
    public func withFragments(_ keys: [ContentHash], verify: Bool = true,
                              _ body: (ContentHash, UnsafeRawBufferPointer) throws -> Void) throws {
        try read { transaction in
            for key in keys { try body(key, payload(of: key, verify: verify, in: transaction)) }
        }
    }

    /// The stored bytes of `key`, valid until `transaction` ends.
    private func payload(of key: ContentHash, verify: Bool, in transaction: LMDBTransaction) throws -> UnsafeRawBufferPointer {
        let record = try key.withUnsafeBytes { try transaction.get($0, in: fragments) }
        guard let record, record.count > fragmentHeaderSize else { throw StoreError.notFound(key: key.hex) }
        let payload = UnsafeRawBufferPointer(rebasing: record[fragmentHeaderSize...])
        if verify, checksumReadingAhead(payload) != record.loadLittleEndian(at: 0) as UInt32 {
            throw StoreError.corrupt(key: key.hex)
        }
        return payload
    }

    /// The CRC-32C of `payload`; if it is large and its first page had to be
    /// read from the disk, the rest of its pages are asked for at once
    /// (``LMDBEnvironment/willRead(_:)``) instead of one per fault.
    private func checksumReadingAhead(_ payload: UnsafeRawBufferPointer) -> UInt32 {
        guard payload.count >= readAheadBytes else { return CRC32C.checksum(payload) }
        let firstPage = 4096 - Int(bitPattern: payload.baseAddress!) & 4095
        let started = monotonicNanoseconds()
        let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: payload.prefix(firstPage)))
        if monotonicNanoseconds() - started > diskReadNanoseconds { environment.willRead(payload) }
        return CRC32C.checksum(UnsafeRawBufferPointer(rebasing: payload.dropFirst(firstPage)), continuing: head)
    }
}

/// Fragments of at least this many bytes are read ahead when they turn out
/// not to be in memory.
private let readAheadBytes = 16 << 10

/// Longer than a minor page fault (~1 µs), shorter than a read from an SSD.
private let diskReadNanoseconds: UInt64 = 20_000

private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}
