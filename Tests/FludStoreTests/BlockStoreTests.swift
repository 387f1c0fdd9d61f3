import FludCodec
import FludTestSupport
import Foundation
import Testing
@testable import FludStore

func makeOwner(_ byte: UInt8) -> OwnerID { OwnerID(bytes: [UInt8](repeating: byte, count: 32))! }

/// A store in a fresh directory, removed afterwards.
final class ScratchStore {
    private let scratch: TemporaryDirectory
    var directory: String { scratch.path }
    var store: BlockStore!

    init(options: BlockStore.Options = .init()) throws {
        scratch = try TemporaryDirectory(prefix: "flud-store")
        store = try BlockStore(directory: scratch.path, options: options)
    }

    /// A store whose map starts at 1 MiB and may grow to `capacity` bytes.
    static func growing(to capacity: Int) throws -> ScratchStore {
        var options = BlockStore.Options()
        options.initialMapSize = 1 << 20
        options.capacity = capacity
        return try ScratchStore(options: options)
    }

    func reopen(options: BlockStore.Options = .init()) throws {
        store.close()
        store = nil
        store = try BlockStore(directory: directory, options: options)
    }

    deinit {
        store?.close()
    }
}

struct BlockStoreTests {
    let alice = makeOwner(1)
    let bob = makeOwner(2)

    @Test func storesAndReadsBackByContentHash() async throws {
        let scratch = try ScratchStore()
        let bytes = deterministicBytes(70_000, seed: 1)
        let key = ContentHash(fragment: bytes)
        #expect(try await scratch.store.put(bytes, key: key, owner: alice, leaseExpiry: 100) == .stored)
        #expect(try scratch.store.fragment(key) == bytes)
        let zeroCopyCount = try scratch.store.withFragment(key) { $0.count }
        #expect(zeroCopyCount == 70_000)
        #expect(try scratch.store.contains(key))
        try scratch.reopen()
        #expect(try scratch.store.fragment(key) == bytes)
    }

    @Test func refusesBytesThatDoNotHashToTheKey() async throws {
        let scratch = try ScratchStore()
        let bytes = deterministicBytes(100, seed: 2)
        let wrongKey = ContentHash(fragment: deterministicBytes(100, seed: 3))
        await #expect(throws: StoreError.hashMismatch(key: wrongKey.hex, actual: ContentHash(fragment: bytes).hex)) {
            try await scratch.store.put(bytes, key: wrongKey, owner: alice, leaseExpiry: 100)
        }
        #expect(try !scratch.store.contains(wrongKey))
    }

    /// Fragments are keyed by BLAKE3; a store still takes and serves one keyed
    /// by SHA-256, as every fragment was before, and scrub finds both intact.
    @Test func storesFragmentsUnderBothKindsOfKey() async throws {
        let scratch = try ScratchStore()
        let current = deterministicBytes(5000, seed: 4)
        let earlier = deterministicBytes(5000, seed: 5)
        #expect(try await scratch.store.put(current, key: ContentHash(fragment: current), owner: alice, leaseExpiry: 100) == .stored)
        #expect(try await scratch.store.put(earlier, key: ContentHash(of: earlier), owner: alice, leaseExpiry: 100) == .stored)
        #expect(try scratch.store.fragment(ContentHash(fragment: current)) == current)
        #expect(try scratch.store.fragment(ContentHash(of: earlier)) == earlier)
        let report = try scratch.store.scrub(deep: true)
        #expect(report.corruptFragments.isEmpty)
        #expect(report.fragmentsChecked == 2)
    }

    @Test func refusesEmptyAndOversizedFragments() async throws {
        var options = BlockStore.Options()
        options.maximumFragmentSize = 1000
        let scratch = try ScratchStore(options: options)
        await #expect(throws: StoreError.emptyFragment) {
            try await scratch.store.put([], key: ContentHash(fragment: []), owner: alice, leaseExpiry: 1)
        }
        let big = deterministicBytes(1001, seed: 4)
        await #expect(throws: StoreError.fragmentTooLarge(size: 1001, limit: 1000)) {
            try await scratch.store.put(big, key: ContentHash(fragment: big), owner: alice, leaseExpiry: 1)
        }
    }

    @Test func claimsFollowFludSemantics() async throws {
        let scratch = try ScratchStore()
        let store = scratch.store!
        let bytes = deterministicBytes(5000, seed: 5)
        let key = ContentHash(fragment: bytes)
        #expect(try await store.put(bytes, key: key, owner: alice, leaseExpiry: 100) == .stored)
        #expect(try await store.put(bytes, key: key, owner: bob, leaseExpiry: 200) == .claimAdded)
        #expect(try await store.put(bytes, key: key, owner: bob, leaseExpiry: 300) == .leaseRenewed)
        #expect(try store.claims(on: key).map(\.leaseExpiry).sorted() == [100, 300])
        #expect(try store.usage(of: alice).bytes == 5000)
        #expect(try store.usage(of: bob).fragments == 1)

        #expect(try await store.deleteClaim(key: key, owner: alice))
        #expect(try await !store.deleteClaim(key: key, owner: alice))
        #expect(try store.contains(key), "bob's claim keeps the bytes")
        #expect(try store.usage(of: alice).bytes == 0)
        #expect(try await store.deleteClaim(key: key, owner: bob))
        #expect(try !store.contains(key), "the bytes go with the last claim")
        #expect(try store.scrub().isClean)
    }

    @Test func expiredLeasesAreCollected() async throws {
        let scratch = try ScratchStore()
        let store = scratch.store!
        var keys: [ContentHash] = []
        for index in 0..<10 {
            let bytes = deterministicBytes(100 + index, seed: UInt64(index))
            keys.append(ContentHash(fragment: bytes))
            _ = try await store.put(bytes, key: keys.last!, owner: alice, leaseExpiry: UInt64(index < 6 ? 1000 : 5000))
        }
        #expect(try await store.collectExpiredLeases(now: 999) == 0)
        #expect(try await store.collectExpiredLeases(now: 1000) == 6)
        #expect(try keys.filter { try store.contains($0) }.count == 4)
        #expect(try store.usage(of: alice).fragments == 4)
        #expect(try store.scrub().isClean)
    }

    @Test func expiredLeasesAreCollectedInBatches() async throws {
        let scratch = try ScratchStore()
        let store = scratch.store!
        var keys: [ContentHash] = []
        for index in 0..<10 {
            let bytes = deterministicBytes(200 + index, seed: UInt64(100 + index))
            keys.append(ContentHash(fragment: bytes))
            _ = try await store.put(bytes, key: keys.last!, owner: alice, leaseExpiry: UInt64(index % 3 == 0 ? 5000 : 1000))
            _ = try await store.put(bytes, key: keys.last!, owner: bob, leaseExpiry: 1000)
        }
        // 16 of Alice's and Bob's 20 claims lapse at 1000, 3 per write transaction.
        #expect(try await store.collectExpiredLeases(now: 1000, batchSize: 3) == 16)
        #expect(try keys.filter { try store.contains($0) }.count == 4)
        #expect(try store.usage(of: bob).fragments == 0)
        #expect(try store.statistics().claims == 4)
        #expect(try store.scrub().isClean)
    }

    @Test func theLeaseIndexOfAnEarlierLayoutIsDroppedOnOpen() async throws {
        let scratch = try ScratchStore()
        let bytes = deterministicBytes(3000, seed: 31)
        let key = ContentHash(fragment: bytes)
        _ = try await scratch.store.put(bytes, key: key, owner: alice, leaseExpiry: 7000)
        scratch.store.close()
        // Stores written before the index by expiry was dropped have one.
        let environment = try LMDBEnvironment(path: scratch.directory, options: .init(mapSize: 64 << 20),
                                              databaseNames: [Database.legacyLeases])
        try environment.write { transaction in
            let indexKey = [UInt8](repeating: 0, count: 8) + claimKey(key, alice)
            try indexKey.withUnsafeBytes { try transaction.put($0, UnsafeRawBufferPointer(start: nil, count: 0),
                                                              in: environment.database(Database.legacyLeases)) }
        }
        environment.close()

        try scratch.reopen()
        let store = scratch.store!
        #expect(try store.environment.read { try $0.existingDatabase(Database.legacyLeases) } == nil)
        #expect(try store.claims(on: key).map(\.leaseExpiry) == [7000])
        #expect(try store.scrub().isClean)
        #expect(try await store.collectExpiredLeases(now: 7000) == 1)
        #expect(try !store.contains(key))
    }

    @Test func renewingExtendsOnlyTheOwnersClaimAndNeverShortensIt() async throws {
        let scratch = try ScratchStore()
        let store = scratch.store!
        let bytes = deterministicBytes(5000, seed: 21)
        let key = ContentHash(fragment: bytes)
        _ = try await store.put(bytes, key: key, owner: alice, leaseExpiry: 1000)
        _ = try await store.put(bytes, key: key, owner: bob, leaseExpiry: 1000)
        #expect(try await store.renewClaim(key: key, owner: alice, leaseExpiry: 5000) == 5000)
        #expect(try await store.renewClaim(key: key, owner: alice, leaseExpiry: 3000) == 5000, "a lease is never shortened")
        #expect(try await store.renewClaim(key: key, owner: makeOwner(9), leaseExpiry: 5000) == nil, "no claim, nothing to renew")
        // Bob's claim lapses at 1000; Alice's renewed one keeps the bytes.
        #expect(try await store.collectExpiredLeases(now: 1000) == 1)
        #expect(try store.claims(on: key).map(\.owner) == [alice])
        #expect(try store.claims(on: key).first?.leaseExpiry == 5000)
        #expect(try store.contains(key))
        #expect(try await store.collectExpiredLeases(now: 5000) == 1)
        #expect(try !store.contains(key))
        #expect(try store.scrub().isClean)
    }

    @Test func quotaIsEnforced() async throws {
        let scratch = try ScratchStore()
        let store = scratch.store!
        try await store.setQuota(10_000, for: alice)
        let first = deterministicBytes(6000, seed: 6), second = deterministicBytes(6000, seed: 7)
        _ = try await store.put(first, key: ContentHash(fragment: first), owner: alice, leaseExpiry: 9)
        await #expect(throws: StoreError.quotaExceeded(used: 6000, requested: 6000, quota: 10_000)) {
            try await store.put(second, key: ContentHash(fragment: second), owner: alice, leaseExpiry: 9)
        }
        // The refused put left nothing behind: no claim, no bytes, no usage.
        #expect(try store.claims(on: ContentHash(fragment: second)).isEmpty)
        #expect(try !store.contains(ContentHash(fragment: second)))
        #expect(try store.usage(of: alice).bytes == 6000)
        #expect(try await store.put(second, key: ContentHash(fragment: second), owner: bob, leaseExpiry: 9) == .stored)
        #expect(try store.scrub().isClean)
    }

    @Test func concurrentPutsAreGroupCommittedAndAllLand() async throws {
        let scratch = try ScratchStore()
        let store = scratch.store!
        let fragments = (0..<300).map { deterministicBytes(1 + $0 * 97, seed: UInt64($0)) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for bytes in fragments {
                group.addTask { _ = try await store.put(bytes, key: ContentHash(fragment: bytes), owner: makeOwner(3), leaseExpiry: 1) }
            }
            try await group.waitForAll()
        }
        for bytes in fragments { #expect(try store.fragment(ContentHash(fragment: bytes)) == bytes) }
        let statistics = try store.statistics()
        #expect(statistics.fragments == 300)
        #expect(statistics.fragmentBytes == fragments.reduce(0) { $0 + $1.count })
    }

    @Test func theMapGrowsByItselfThenStopsAtCapacity() async throws {
        let scratch = try ScratchStore.growing(to: 8 << 20)
        let store = scratch.store!
        var stored: [[UInt8]] = []
        var full = false
        for index in 0..<40 {
            let bytes = deterministicBytes(512 << 10, seed: UInt64(100 + index))
            do {
                _ = try await store.put(bytes, key: ContentHash(fragment: bytes), owner: alice, leaseExpiry: 1)
                stored.append(bytes)
            } catch StoreError.full(let capacity) {
                #expect(capacity == 8 << 20)
                full = true
                break
            }
        }
        #expect(full)
        #expect(stored.count >= 8, "the map grew past its initial 1 MiB")
        for bytes in stored { #expect(try store.fragment(ContentHash(fragment: bytes)) == bytes) }
        #expect(try store.scrub().isClean)
    }

    /// Reads reuse reset LMDB read transactions: each renewed one must see
    /// every commit made before it, also after the map grew under it.
    @Test func eachReadSeesEveryEarlierCommitAlsoAfterTheMapGrew() async throws {
        let scratch = try ScratchStore.growing(to: 64 << 20)
        let store = scratch.store!
        var keys: [ContentHash] = []
        for index in 0..<24 {
            let bytes = deterministicBytes(256 << 10, seed: UInt64(500 + index))
            let key = ContentHash(fragment: bytes)
            #expect(try !store.contains(key), "fragment \(index) before its put")
            _ = try await store.put(bytes, key: key, owner: alice, leaseExpiry: 1)
            #expect(try store.fragment(key) == bytes, "fragment \(index) after its put")
            keys.append(key)
        }
        // Many readers at once, each transaction given back and taken again.
        let stored = keys
        try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<16 {
                group.addTask { try (0..<50).reduce(0) { sum, round in try sum + store.withFragment(stored[(task + round) % stored.count]) { $0.count } } }
            }
            for try await total in group { #expect(total == 50 * (256 << 10)) }
        }
        #expect(try store.scrub().isClean)
    }

    /// A prefetch brings a fragment that is not in memory into the page cache
    /// without a get; an unknown key is no error.
    @Test func prefetchReadsAFragmentIntoThePageCache() async throws {
        let scratch = try ScratchStore()
        let bytes = deterministicBytes(1 << 20, seed: 13)
        let key = ContentHash(fragment: bytes)
        #expect(try await scratch.store.put(bytes, key: key, owner: alice, leaseExpiry: 100) == .stored)
        // As after a restart: closed (nothing mapped), the file dropped from the cache.
        scratch.store.close()
        let file = open(scratch.directory + "/data.mdb", O_RDONLY)
        try #require(file >= 0)
        #expect(posix_fadvise(file, 0, 0, POSIX_FADV_DONTNEED) == 0)
        close(file)
        try scratch.reopen()
        func resident() throws -> (resident: Int, pages: Int) {
            try scratch.store.read { transaction in
                residentPages(of: try #require(try key.withUnsafeBytes { try transaction.get($0, in: scratch.store.fragments) }))
            }
        }
        let before = try resident()
        #expect(before.resident < before.pages / 4, "\(before.resident) of \(before.pages) pages still cached (is \(scratch.directory) on tmpfs?)")
        scratch.store.prefetch(key)
        scratch.store.prefetch(ContentHash(fragment: [1, 2, 3]))
        // The reads run in the background; give them up to 5 s.
        var after = try resident()
        for _ in 0..<500 where after.resident < after.pages {
            try await Task.sleep(for: .milliseconds(10))
            after = try resident()
        }
        #expect(after.resident == after.pages)
        #expect(try scratch.store.fragment(key) == bytes)
    }

    /// Bytes 1,000 and 4,100 lie on either side of the end of the payload's
    /// first page, which a read checks on its own to see whether to read
    /// ahead; 40,000 lies far behind it.
    @Test(arguments: [1_000, 4_100, 40_000])
    func corruptionIsDetectedOnReadAndByScrub(at offset: Int) async throws {
        let scratch = try ScratchStore(options: { var o = BlockStore.Options(); o.durable = true; return o }())
        let bytes = deterministicBytes(50_000, seed: 9)
        let key = ContentHash(fragment: bytes)
        _ = try await scratch.store.put(bytes, key: key, owner: alice, leaseExpiry: 1)
        scratch.store.close()
        scratch.store = nil
        // Flip a byte of the payload inside data.mdb.
        let path = scratch.directory + "/data.mdb"
        var file = try Data(contentsOf: URL(fileURLWithPath: path))
        let needle = Data(bytes[offset..<offset + 32])
        let position = try #require(file.range(of: needle)).lowerBound
        file[position] ^= 0xFF
        try file.write(to: URL(fileURLWithPath: path))
        scratch.store = try BlockStore(directory: scratch.directory)
        #expect(throws: StoreError.corrupt(key: key.hex)) { try scratch.store.fragment(key) }
        #expect(try scratch.store.scrub().corruptFragments == [key.hex])
        // The right bytes sent again (a repair) replace the rotten copy,
        // whether the sender holds a claim already or not.
        for owner in [alice, bob] {
            _ = try await scratch.store.put(bytes, key: key, owner: owner, leaseExpiry: 2)
            #expect(try scratch.store.fragment(key) == bytes)
            file = try Data(contentsOf: URL(fileURLWithPath: path))
            scratch.store.close()
            file[try #require(file.range(of: needle)).lowerBound] ^= 0xFF
            try file.write(to: URL(fileURLWithPath: path))
            scratch.store = try BlockStore(directory: scratch.directory)
            #expect(throws: StoreError.corrupt(key: key.hex)) { try scratch.store.fragment(key) }
        }
    }

    @Test func aSecondOpenerIsRefused() throws {
        let scratch = try ScratchStore()
        #expect(throws: StoreError.self) { try BlockStore(directory: scratch.directory) }
        do {
            _ = try BlockStore(directory: scratch.directory)
        } catch {
            #expect("\(error)".contains("in use by another process (pid \(getpid()))"))
        }
    }

    /// What a child this process is spawning does: it holds a copy of the
    /// lock until its exec. The store waits for it instead of refusing.
    @Test func aLockThisProcessHoldsForAMomentIsWaitedFor() throws {
        let scratch = try TemporaryDirectory()
        let copy = open(scratch.file("flud-store.lock"), O_RDWR | O_CREAT, 0o644)
        #expect(flock(copy, LOCK_EX) == 0)
        let pid = Array("\(getpid())\n".utf8)
        #expect(pwrite(copy, pid, pid.count, 0) == pid.count)
        Thread { usleep(100_000); close(copy) }.start()
        let store = try BlockStore(directory: scratch.path)
        store.close()
    }

    @Test func aDataFileThatIsNotLMDBIsRefused() throws {
        let scratch = try TemporaryDirectory()
        let directory = scratch.path
        let junk = Data(deterministicBytes(64 << 10, seed: 11))
        try junk.write(to: URL(fileURLWithPath: directory + "/data.mdb"))
        #expect(throws: StoreError.notAStore(path: directory + "/data.mdb")) {
            try BlockStore(directory: directory)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: directory + "/data.mdb")) == junk, "the file is left alone")
    }

    @Test func aDirectoryThatCannotBeCreatedIsReported() throws {
        let scratch = try TemporaryDirectory()
        let file = scratch.file("plain-file")
        try Data([1]).write(to: URL(fileURLWithPath: file))
        #expect(throws: StoreError.self) { try BlockStore(directory: file + "/sub") }
    }

    @Test func missingFragmentsAreNotFound() throws {
        let scratch = try ScratchStore()
        let key = ContentHash(fragment: [1, 2, 3])
        #expect(throws: StoreError.notFound(key: key.hex)) { try scratch.store.fragment(key) }
    }
}

struct StoreTableTests {
    @Test func namedTablesKeepSmallRecordsAcrossReopen() async throws {
        var options = BlockStore.Options()
        options.tables = ["dht", "node"]
        let scratch = try ScratchStore(options: options)
        let dht = scratch.store.table("dht")
        try await dht.set([1, 2, 3], for: Array("item-b".utf8))
        try await dht.set([4], for: Array("item-a".utf8))
        try await scratch.store.table("node").set(Array("me".utf8), for: Array("identity".utf8))
        #expect(try dht.value(for: Array("item-b".utf8)) == [1, 2, 3])
        #expect(try dht.entries().map(\.key) == [Array("item-a".utf8), Array("item-b".utf8)])
        try scratch.reopen(options: options)
        let reopened = scratch.store.table("dht")
        #expect(try reopened.value(for: Array("item-a".utf8)) == [4])
        #expect(try await reopened.remove(Array("item-a".utf8)))
        #expect(try reopened.value(for: Array("item-a".utf8)) == nil)
        #expect(try scratch.store.table("node").entries().count == 1)
        await #expect(throws: StoreError.self) { try await reopened.set([1], for: []) }
    }
}

/// How many of the pages under `bytes` (inside a file mapping) are in the page
/// cache, without touching them.
private func residentPages(of bytes: UnsafeRawBufferPointer) -> (resident: Int, pages: Int) {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let start = Int(bitPattern: bytes.baseAddress!) & ~(page - 1)
    let length = Int(bitPattern: bytes.baseAddress!) + bytes.count - start
    let pages = (length + page - 1) / page
    var vector = [UInt8](repeating: 0, count: pages)
    guard mincore(UnsafeMutableRawPointer(bitPattern: start), length, &vector) == 0 else { return (-1, pages) }
    return (vector.filter { $0 & 1 != 0 }.count, pages)
}
