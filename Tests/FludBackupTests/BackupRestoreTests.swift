import FludCodec
@testable import FludDHT
import FludNode
import FludStore
import FludTestSupport
import Foundation
import Logging
import NIOCore
import Testing
@testable import FludBackup
#if canImport(Glibc)
import Glibc
#endif

/// A local network of storage nodes in this process.
final class LocalNetwork: @unchecked Sendable {
    let directory: TemporaryDirectory
    var nodes: [StorageNode?] = []

    /// - Parameter defaultLease: the nodes' lease for stores that name none (seconds).
    init(nodes count: Int, defaultLease: UInt64 = 90 * 86_400) async throws {
        directory = try TemporaryDirectory(prefix: "flud-backup-net")
        for _ in 0..<count { try await addNode(defaultLease: defaultLease) }
        for node in nodes.dropFirst() { _ = await node!.dht.bootstrap(from: [bootstrap]) }
    }

    /// Starts one more node, which joins through the first.
    func addNode(defaultLease: UInt64 = 90 * 86_400) async throws {
        var logger = Logger(label: "flud.test-node")
        logger.logLevel = .error
        var configuration = StorageNode.Configuration(data: directory.path + "/node-\(nodes.count)")
        configuration.defaultLease = defaultLease
        if let first = nodes.first, let first { configuration.bootstrap = [try DHTNode.address("127.0.0.1:\(first.port)")] }
        nodes.append(try await StorageNode.start(configuration, logger: logger))
    }

    /// The first node still running.
    var bootstrap: SocketAddress { try! DHTNode.address("127.0.0.1:\(nodes.first { $0 != nil }!!.port)") }

    func join(_ keys: UserKeys) async throws -> FragmentNetwork {
        try await FragmentNetwork.join(bootstrap: [bootstrap], identity: keys.wireIdentity)
    }

    /// One backup by a client that joins for it and leaves after.
    func backUp(_ keys: UserKeys, home: String, options: Backup.Options) async throws {
        let client = try await join(keys)
        _ = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        await client.close()
    }

    /// Stops `indices` without a goodbye to the others.
    func kill(_ indices: [Int]) async {
        for index in indices {
            await nodes[index]?.stop()
            nodes[index] = nil
        }
    }

    func stop() async {
        for node in nodes { await node?.stop() }
    }
}

/// A directory tree with what a backup must keep: nested directories, random
/// and compressible files, a duplicate, an empty file, a symlink, modes, times.
func makeTree(at root: String) throws {
    let fm = FileManager.default
    try fm.createDirectory(atPath: root + "/docs/deep/er", withIntermediateDirectories: true)
    try Data(deterministicBytes(700_000, seed: 1)).write(to: URL(fileURLWithPath: root + "/random.bin"))
    try Data(deterministicBytes(700_000, seed: 1)).write(to: URL(fileURLWithPath: root + "/docs/duplicate.bin"))
    try Data(String(repeating: "flud keeps your files safe. ", count: 40_000).utf8).write(to: URL(fileURLWithPath: root + "/docs/text.txt"))
    try Data().write(to: URL(fileURLWithPath: root + "/docs/empty"))
    try Data(deterministicBytes(3000, seed: 2)).write(to: URL(fileURLWithPath: root + "/docs/deep/er/small"))
    try fm.createSymbolicLink(atPath: root + "/docs/link", withDestinationPath: "../random.bin")
    chmod(root + "/docs/deep/er/small", 0o640)
    var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789)]
    utimensat(AT_FDCWD, root + "/random.bin", &times, 0)
}

/// Every path under `root` with its kind, mode, time, size and content (or link target).
func describeTree(_ root: String) throws -> [String: String] {
    var result: [String: String] = [:]
    let enumerator = FileManager.default.enumerator(atPath: root)!
    while let relative = enumerator.nextObject() as? String {
        let path = root + "/" + relative
        var info = stat()
        lstat(path, &info)
        let kind = info.st_mode & S_IFMT
        var description = "mode \(info.st_mode & 0o7777)"
        if kind == S_IFLNK {
            description += " -> " + (try FileManager.default.destinationOfSymbolicLink(atPath: path))
        } else if kind == S_IFREG {
            description += " mtime \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec) sha \(ContentHash(of: Array(FileManager.default.contents(atPath: path)!)).hex)"
        } else {
            description += " dir"
        }
        result[relative] = description
    }
    return result
}

@Suite(.serialized, .timeLimit(.minutes(5)))
struct BackupRestoreTests {
    @Test func backUpRestoreAfterLosingAThirdOfTheNodesAndTheMachine() async throws {
        let network = try await LocalNetwork(nodes: 12)
        let scratch = try TemporaryDirectory(prefix: "flud-backup")
        let source = scratch.path + "/source"
        try makeTree(at: source)
        let home = scratch.path + "/home"
        let keys = UserKeys.generate()
        try keys.save(in: home)

        let options = Backup.Options(paths: [source], dataShards: 4, parityShards: 4, averageChunkSize: 64 << 10)
        let client = try await network.join(keys)
        let first = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(first.skipped.isEmpty)
        #expect(first.progress.filesDone == 5)
        #expect(first.progress.chunksUploaded > 10)
        #expect(first.progress.chunksReused > 0, "the duplicate file's chunks are stored once")

        // Incremental: one file changes, the rest is not read again.
        try Data(deterministicBytes(2000, seed: 9)).write(to: URL(fileURLWithPath: source + "/docs/deep/er/small"))
        chmod(source + "/docs/deep/er/small", 0o640)
        let second = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(second.progress.chunksUploaded == 1)
        #expect(second.snapshot != first.snapshot)
        let listed = try await snapshots(keys: keys, network: client)
        #expect(listed.map(\.id) == [second.snapshot, first.snapshot])
        await client.close()

        // A third of the nodes die; the machine is lost; the phrase alone restores.
        await network.kill([1, 4, 7, 10])
        let newHome = scratch.path + "/new-home"
        let recovered = try UserKeys(recoveryPhrase: keys.recoveryPhrase)
        try recovered.save(in: newHome)
        let restorer = try await network.join(recovered)
        let target = scratch.path + "/restored"
        let summary = try await Restore(keys: recovered, network: restorer, options: Restore.Options(target: target)).run { _ in }
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        #expect(summary.files == 5)
        #expect(try describeTree(target + source) == describeTree(source))

        // The older snapshot, by ID, and only one path of it.
        var older = Restore.Options(target: scratch.path + "/older")
        (older.snapshot, older.paths) = (String(first.snapshot.prefix(8)), [source + "/docs/deep"])
        let partial = try await Restore(keys: recovered, network: restorer, options: older).run { _ in }
        #expect(partial.files == 1)
        #expect(FileManager.default.contents(atPath: scratch.path + "/older" + source + "/docs/deep/er/small")
                == Data(deterministicBytes(3000, seed: 2)))

        // Existing files are left alone unless forced.
        let again = try await Restore(keys: recovered, network: restorer, options: Restore.Options(target: target)).run { _ in }
        #expect(again.existing.count == 6)
        await restorer.close()
        await network.stop()
    }

    @Test func aWrongCredentialFindsNothingAndWritesNothing() async throws {
        let network = try await LocalNetwork(nodes: 6)
        let scratch = try TemporaryDirectory(prefix: "flud-backup")
        try makeTree(at: scratch.path + "/source")
        let keys = UserKeys.generate()
        let options = Backup.Options(paths: [scratch.path + "/source"], dataShards: 2, parityShards: 2)
        try await network.backUp(keys, home: scratch.path + "/home", options: options)

        let stranger = UserKeys.generate()
        let other = try await network.join(stranger)
        await #expect(throws: BackupError.noSnapshots) {
            _ = try await Restore(keys: stranger, network: other, options: Restore.Options(target: scratch.path + "/out")).run { _ in }
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path + "/out"))
        await other.close()
        await network.stop()
    }

    @Test func withTooFewNodesLeftTheRestoreSaysWhatIsLostAndRestoresTheRest() async throws {
        let network = try await LocalNetwork(nodes: 8)
        let scratch = try TemporaryDirectory(prefix: "flud-backup")
        let source = scratch.path + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for index in 0..<12 {
            try Data(deterministicBytes(5000, seed: UInt64(100 + index))).write(to: URL(fileURLWithPath: source + "/file-\(index)"))
        }
        let keys = UserKeys.generate()
        // Chunks smaller than the files, so each file has chunks of its own, placed independently.
        let options = Backup.Options(paths: [source], dataShards: 3, parityShards: 1, averageChunkSize: 4 << 10)
        try await network.backUp(keys, home: scratch.path + "/home", options: options)
        await network.kill([2, 5, 6])
        let restorer = try await network.join(keys)
        let target = scratch.path + "/restored"
        // A budget smaller than the files restored at once, so files wait on one another's chunks.
        var restoreOptions = Restore.Options(target: target)
        restoreOptions.parallelChunks = 2
        let restore = Restore(keys: keys, network: restorer, options: restoreOptions)
        let summary = try await restore.run { _ in }
        #expect(!summary.failed.isEmpty, "with 3 of 8 nodes gone, about half the 3+1 chunks lost 2 fragments or more")
        #expect(restore.chunkBudget.available == 2, "files that failed gave back the chunks they held")
        #expect(summary.files + summary.failed.count == 12)
        for index in 0..<12 {
            let path = source + "/file-\(index)"
            if let restored = FileManager.default.contents(atPath: target + path) {
                #expect(restored == Data(deterministicBytes(5000, seed: UInt64(100 + index))), "a restored file is whole")
            } else {
                #expect(summary.failed.contains { $0.path == path })
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: target + source).allSatisfy { !$0.contains(".flud-restore") })
        await restorer.close()
        await network.stop()
    }

    /// The user's machine is gone, and so, half at a time, is every node that
    /// held the snapshot root when it was published; in between, the nodes'
    /// upkeep passed the root on to the nodes now closest to it, so everything
    /// still restores from the keys alone.
    @Test func theSnapshotRootOutlivesEveryNodeThatFirstHeldIt() async throws {
        let network = try await LocalNetwork(nodes: 16)
        let scratch = try TemporaryDirectory(prefix: "flud-root")
        let source = scratch.path + "/source"
        try makeTree(at: source)
        let keys = UserKeys.generate()
        // 1 + 15: a copy of each chunk on every node. The root's holders are
        // the nodes nearest its target (here, half of the network), and so
        // are the holders of any chunk named near it: with fewer fragments,
        // killing the root's holders would take such chunks too.
        let options = Backup.Options(paths: [source], dataShards: 1, parityShards: 15, averageChunkSize: 256 << 10)
        try await network.backUp(keys, home: scratch.path + "/home", options: options)

        let probe = try await DHTNode.start(readOnly: true)
        let target = SnapshotRoot.target(for: keys)
        var holders: [Int] = []
        for (index, node) in network.nodes.enumerated() {
            let answer = try? await probe.query("get", ["target": .bytes(target.bytes)], to: DHTNode.address("127.0.0.1:\(node!.port)"))
            if answer?.values["v"] != nil { holders.append(index) }
        }
        await probe.close()
        #expect(holders.count >= 4, "\(holders)")
        await network.kill(Array(holders.prefix(holders.count / 2)))
        for node in network.nodes { await node?.maintain() }
        await network.kill(Array(holders.dropFirst(holders.count / 2)))

        let restorer = try await network.join(keys)
        let restored = scratch.path + "/restored"
        let summary = try await Restore(keys: keys, network: restorer, options: Restore.Options(target: restored)).run { _ in }
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        #expect(try describeTree(restored + source) == describeTree(source))
        await restorer.close()
        await network.stop()
    }

    @Test func repairRebuildsWhatDeadNodesTookSoTheDataOutlivesMoreDeaths() async throws {
        let network = try await LocalNetwork(nodes: 12)
        let scratch = try TemporaryDirectory(prefix: "flud-repair")
        let source = scratch.path + "/source"
        try makeTree(at: source)
        let keys = UserKeys.generate()
        let options = Backup.Options(paths: [source], dataShards: 4, parityShards: 4, averageChunkSize: 64 << 10)
        let home = scratch.path + "/home"
        try await network.backUp(keys, home: home, options: options)

        await network.kill([3, 6, 9])
        let maintainer = try await network.join(keys)
        let audit = try await Maintenance(keys: keys, network: maintainer).verify(sample: 1)
        #expect(audit.rootHolders >= 1, "verify puts the snapshot root again")
        #expect(audit.missing > 0)
        #expect(audit.healthy + audit.missing == audit.fragments)
        #expect(audit.unrecoverable.isEmpty)
        let repair = try await Maintenance(keys: keys, network: maintainer).repair(updatingIndexIn: home)
        #expect(repair.rebuilt == repair.missing)
        #expect(repair.rebuilt > 0)
        #expect(repair.newSnapshot != nil)
        let after = try await Maintenance(keys: keys, network: maintainer).verify(sample: 1)
        #expect(after.missing == 0, "every fragment is on a live node again")
        // The next backup reuses every chunk, where the repair put it.
        let next = try await Backup(keys: keys, network: maintainer, home: home, options: options).run { _ in }
        #expect(next.progress.chunksUploaded == 0)
        let afterBackup = try await Maintenance(keys: keys, network: maintainer).verify(sample: 1)
        #expect(afterBackup.missing == 0, "the new snapshot names the rebuilt fragments, not the lost ones")
        await maintainer.close()

        // Three more die: without the repair, chunks that had lost fragments on
        // the first three could now have lost more than m = 4.
        await network.kill([1, 5, 10])
        let restorer = try await network.join(keys)
        let target = scratch.path + "/restored"
        let summary = try await Restore(keys: keys, network: restorer, options: Restore.Options(target: target)).run { _ in }
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        #expect(try describeTree(target + source) == describeTree(source))
        await restorer.close()
        await network.stop()
    }

    /// Fetches go to the faster holders first: a node markedly slower than
    /// the median over its last retrieves is asked after the others, a
    /// failed one last; otherwise the order given (data shards first) stands.
    @Test func slowHoldersAreAskedAfterTheOthers() async throws {
        let network = try await LocalNetwork(nodes: 4)
        let client = try await network.join(UserKeys.generate())
        let holders = network.nodes.map { "127.0.0.1:\($0!.port)" }
        #expect(await client.fetchOrder(holders) == [0, 1, 2, 3])
        for _ in 0..<3 {
            for (index, holder) in holders.enumerated() {
                await client.noteRetrieve(at: holder, seconds: index == 1 ? 0.05 : 0.01, bytes: 50_000)
            }
        }
        #expect(await client.fetchOrder(holders) == [0, 2, 3, 1])
        // A node as fast as the rest again moves back to its place.
        for _ in 0..<16 { await client.noteRetrieve(at: holders[1], seconds: 0.01, bytes: 50_000) }
        #expect(await client.fetchOrder(holders) == [0, 1, 2, 3])
        await client.close()
        await network.stop()
    }

    /// Incremental backups trust size, mtime and inode: a file rewritten in
    /// place behind them keeps its old chunks (it was not read), and is read
    /// again once its mtime moves. Both a chunked and a packed file.
    @Test func anUnchangedFileIsNotReadAgain() async throws {
        let network = try await LocalNetwork(nodes: 4)
        let scratch = try TemporaryDirectory(prefix: "flud-unchanged")
        let (source, home) = (scratch.path + "/source", scratch.path + "/home")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let keys = UserKeys.generate()
        try keys.save(in: home)
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 16 << 10)
        let files = [(name: "chunked", size: 100_000), (name: "packed", size: 3000)]
        for (index, file) in files.enumerated() {
            try Data(deterministicBytes(file.size, seed: UInt64(30 + index))).write(to: URL(fileURLWithPath: source + "/" + file.name))
        }
        let client = try await network.join(keys)
        _ = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }

        /// Rewrites each file in place (same inode, same size), then puts its mtime back.
        func rewriteBehindTheBackup(seed: UInt64, keepingTime: Bool) throws {
            for file in files {
                let path = source + "/" + file.name
                var before = stat()
                #expect(stat(path, &before) == 0)
                let descriptor = open(path, O_WRONLY)
                let bytes = deterministicBytes(file.size, seed: seed)
                #expect(pwrite(descriptor, bytes, bytes.count, 0) == bytes.count)
                close(descriptor)
                if keepingTime {
                    var times = [before.st_atim, before.st_mtim]
                    #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
                }
            }
        }
        func restored(_ name: String) async throws -> [String: Data] {
            let target = scratch.path + "/" + name
            _ = try await Restore(keys: keys, network: client, options: Restore.Options(target: target)).run { _ in }
            return Dictionary(uniqueKeysWithValues: files.map { ($0.name, FileManager.default.contents(atPath: target + source + "/" + $0.name)!) })
        }

        try rewriteBehindTheBackup(seed: 90, keepingTime: true)
        let unchanged = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(unchanged.progress.chunksUploaded == 0)
        let kept = try await restored("unchanged")
        for (index, file) in files.enumerated() {
            #expect(kept[file.name] == Data(deterministicBytes(file.size, seed: UInt64(30 + index))),
                    "\(file.name): the old content, so the file was not read")
        }

        try rewriteBehindTheBackup(seed: 91, keepingTime: false)
        let changed = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(changed.progress.chunksUploaded > 0)
        let reread = try await restored("changed")
        for file in files {
            #expect(reread[file.name] == Data(deterministicBytes(file.size, seed: 91)), "\(file.name)")
        }
        await client.close()
        await network.stop()
    }

    /// The bytes the user's ledger says it keeps on each node (what the
    /// user's own node grants that node's user in return) are what each node
    /// counts for the user: after backups, and after a forget released some.
    @Test func theKeptBytesFileAgreesWithEveryNode() async throws {
        let network = try await LocalNetwork(nodes: 6)
        let scratch = try TemporaryDirectory(prefix: "flud-kept")
        let (source, home) = (scratch.path + "/source", scratch.path + "/home")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let keys = UserKeys.generate()
        try keys.save(in: home)
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 8 << 10)
        let ledger = home + "/trust"
        func join() async throws -> FragmentNetwork {
            try await FragmentNetwork.join(bootstrap: [network.bootstrap], identity: keys.wireIdentity, ledgerDirectory: ledger)
        }
        func expectAgreement(_ stage: String) throws {
            let kept = KeptBytesFile.read(FragmentNetwork.keptBytesFile(in: ledger))
            var total: UInt64 = 0
            for node in network.nodes.compactMap({ $0 }) {
                let counted = try node.store.usage(of: OwnerID(bytes: keys.wireIdentity.publicKey.bytes)!).bytes
                #expect(kept[node.identity.publicKey, default: 0] == UInt64(counted), "\(stage): node \(node.port)")
                total += UInt64(counted)
            }
            #expect(total > 0, "\(stage): the nodes hold something of ours")
        }
        for version in 0..<3 {
            try Data(deterministicBytes(20_000, seed: 1)).write(to: URL(fileURLWithPath: source + "/stays"))
            try Data(deterministicBytes(30_000 + version, seed: UInt64(10 + version))).write(to: URL(fileURLWithPath: source + "/changes"))
            let client = try await join()
            _ = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
            await client.close()
        }
        try expectAgreement("after three backups")
        let client = try await join()
        var policy = Forget.Policy()
        policy.keepLast = 1
        let report = try await Forget(keys: keys, network: client, home: home).run(policy)
        #expect(report.claimsDeleted > 0)
        await client.close()
        try expectAgreement("after forget")
        await network.stop()
    }

    /// The keep policy counts each set of backed-up paths apart.
    @Test func forgetKeepsTheNewestOfEachSetOfPaths() {
        var policy = Forget.Policy()
        policy.keepLast = 1
        let day = 86_400.0
        let alternating = [(4 * day, ["/docs"]), (3 * day, ["/photos"]), (2 * day, ["/docs"]), (day, ["/photos"])]
        #expect(Forget.selection(of: alternating, policy) == [0, 1])
        #expect(Forget.selection(of: alternating.map { ($0.0, ["/docs"]) }, policy) == [0])
        #expect(Forget.selection(of: [(2 * day, ["/b", "/a"]), (day, ["/a", "/b"])], policy) == [0], "the same set in any order")
        policy.keepDaily = 2
        #expect(Forget.selection(of: alternating, policy) == [0, 1, 2, 3])
    }

    @Test func forgetDropsOldSnapshotsAndReleasesOnlyTheirFragments() async throws {
        let network = try await LocalNetwork(nodes: 6)
        let scratch = try TemporaryDirectory(prefix: "flud-forget")
        let source = scratch.path + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let home = scratch.path + "/home"
        let keys = UserKeys.generate()
        try keys.save(in: home)
        // Chunks smaller than the files, so each file has chunks of its own (not a pack).
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 8 << 10)
        let client = try await network.join(keys)
        // Three snapshots: a file that stays, and one that changes each time.
        try Data(deterministicBytes(20_000, seed: 1)).write(to: URL(fileURLWithPath: source + "/stays"))
        var versions: [Backup.Summary] = []
        for version in 0..<3 {
            try Data(deterministicBytes(10_000 + version, seed: UInt64(10 + version))).write(to: URL(fileURLWithPath: source + "/changes"))
            versions.append(try await Backup(keys: keys, network: client, home: home, options: options).run { _ in })
        }
        func fragments(of summary: Backup.Summary, file: String) async throws -> [ObjectRef.FragmentLocation] {
            try await contents(of: summary.manifest, keys: keys, network: client).entries
                .first { $0.path == source + "/" + file }!.chunks!.flatMap(\.object.fragments)
        }
        func held(_ location: ObjectRef.FragmentLocation) throws -> Bool {
            let node = network.nodes.compactMap { $0 }.first { "127.0.0.1:\($0.port)" == location.node }!
            return try node.store.claims(on: ContentHash(hex: location.key)!).contains { $0.owner.bytes == keys.wireIdentity.publicKey.bytes }
        }
        // Where each version's files lie, read before forget deletes the old pages.
        let oldChanges = try await fragments(of: versions[0], file: "changes")
        let newChanges = try await fragments(of: versions[2], file: "changes")
        let stays = try await fragments(of: versions[2], file: "stays")
        #expect(try oldChanges.allSatisfy(held))

        var policy = Forget.Policy()
        policy.keepLast = 1
        let report = try await Forget(keys: keys, network: client, home: home).run(policy)
        #expect(report.kept == [versions[2].snapshot])
        #expect(report.dropped.count == 2)
        #expect(report.claimsDeleted > 0)
        #expect(report.claimsLeft == 0)
        #expect(try await snapshots(keys: keys, network: client).count == 1)
        // The old versions' own chunks are released; what the kept snapshot uses is not.
        #expect(try oldChanges.allSatisfy { try !held($0) })
        #expect(try newChanges.allSatisfy(held))
        #expect(try stays.allSatisfy(held))

        // Backing up the old content again uploads it again instead of reusing a released chunk.
        try Data(deterministicBytes(10_000, seed: 10)).write(to: URL(fileURLWithPath: source + "/changes"))
        let again = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(again.progress.chunksUploaded == oldChanges.count / 4,
                "that file's chunks again, no more")
        let target = scratch.path + "/restored"
        let restored = try await Restore(keys: keys, network: client, options: Restore.Options(target: target)).run { _ in }
        #expect(restored.failed.isEmpty)
        #expect(FileManager.default.contents(atPath: target + source + "/changes") == Data(deterministicBytes(10_000, seed: 10)))
        await client.close()
        await network.stop()
    }

    /// Files smaller than a chunk share packs: a few objects for many files,
    /// each file restored byte-exact from its pack; a small file with the
    /// content of one already stored (a copy, a rename) is not uploaded
    /// again; and `forget` keeps a pack while a kept snapshot uses any file in it.
    @Test func smallFilesArePackedAndDedupedByContent() async throws {
        let network = try await LocalNetwork(nodes: 6)
        let scratch = try TemporaryDirectory(prefix: "flud-packs")
        let source = scratch.path + "/source"
        try FileManager.default.createDirectory(atPath: source + "/sub", withIntermediateDirectories: true)
        var small: [String: Data] = [:]
        for index in 0..<40 {
            let name = (index % 2 == 0 ? "/" : "/sub/") + "small-\(index)"
            small[name] = Data(deterministicBytes(1000 + 997 * index, seed: UInt64(100 + index)))
            try small[name]!.write(to: URL(fileURLWithPath: source + name))
        }
        try small["/small-0"]!.write(to: URL(fileURLWithPath: source + "/sub/copy-of-small-0"))
        try Data(deterministicBytes(300_000, seed: 7)).write(to: URL(fileURLWithPath: source + "/large"))
        let home = scratch.path + "/home"
        let keys = UserKeys.generate()
        try keys.save(in: home)
        let client = try await network.join(keys)
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 64 << 10)
        let first = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        let manifest = try await contents(of: first.manifest, keys: keys, network: client)
        let entry = { (name: String) in manifest.entries.first { $0.path == source + name }! }
        let packs = manifest.packs
        let smallBytes = small.values.reduce(0) { $0 + $1.count }
        // About 818 KB of small files in packs of at least 64 KiB.
        #expect(packs.count >= 2 && packs.count <= smallBytes / (64 << 10) + 1, "\(packs.count) packs")
        for name in small.keys {
            #expect(entry(name).packed != nil && entry(name).chunks == nil, "\(name) is packed")
        }
        #expect(entry("/large").packed == nil && entry("/large").chunks!.count > 1)
        #expect(entry("/sub/copy-of-small-0").packed == entry("/small-0").packed, "the copy is stored once")
        #expect(first.progress.chunksUploaded == packs.count + Set(entry("/large").chunks!.map(\.hash)).count)
        #expect(Set(manifest.storedChunks.map(\.hash)) == Set(packs.map(\.hash) + entry("/large").chunks!.map(\.hash)))

        let target = scratch.path + "/restored"
        let restored = try await Restore(keys: keys, network: client, options: Restore.Options(target: target)).run { _ in }
        #expect(restored.failed.isEmpty, "\(restored.failed)")
        #expect(restored.files == 42)
        #expect(try describeTree(target + source) == describeTree(source))

        // Ten of the files under new names, the rest gone: found by content,
        // nothing uploaded.
        try FileManager.default.removeItem(atPath: source)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        for index in 0..<10 { try small["/small-\(2 * index)"]!.write(to: URL(fileURLWithPath: source + "/renamed-\(index)")) }
        let second = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(second.progress.chunksUploaded == 0)
        #expect(try await contents(of: second.manifest, keys: keys, network: client).packs.count < packs.count,
                "only the packs its files are in")

        // Only the second snapshot of these paths kept: the packs it uses
        // stay, the others go.
        var policy = Forget.Policy()
        policy.keepLast = 1
        let report = try await Forget(keys: keys, network: client, home: home).run(policy)
        #expect(report.claimsDeleted > 0 && report.claimsLeft == 0)
        let again = try await Restore(keys: keys, network: client, options: Restore.Options(target: scratch.path + "/again")).run { _ in }
        #expect(again.failed.isEmpty, "\(again.failed)")
        for index in 0..<10 {
            #expect(FileManager.default.contents(atPath: scratch.path + "/again" + source + "/renamed-\(index)") == small["/small-\(2 * index)"])
        }
        await client.close()
        await network.stop()
    }

    /// A snapshot's entries are stored a page at a time: many pages restore
    /// like one; the next backup finds the previous entries in the local
    /// index, or, on a machine that lost it, in the published pages; verify
    /// audits every page.
    @Test func manifestsArePagedAndEveryPageCounts() async throws {
        let network = try await LocalNetwork(nodes: 6)
        let scratch = try TemporaryDirectory(prefix: "flud-pages")
        let source = scratch.path + "/source"
        for directory in 0..<3 {
            try FileManager.default.createDirectory(atPath: source + "/dir-\(directory)", withIntermediateDirectories: true)
            for file in 0..<10 {
                try Data(deterministicBytes(2000 + file, seed: UInt64(1000 + 10 * directory + file)))
                    .write(to: URL(fileURLWithPath: source + "/dir-\(directory)/file-\(file)"))
            }
        }
        try Data(deterministicBytes(200_000, seed: 5)).write(to: URL(fileURLWithPath: source + "/large"))
        let home = scratch.path + "/home"
        let keys = UserKeys.generate()
        try keys.save(in: home)
        let client = try await network.join(keys)
        var options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 64 << 10)
        options.pageEntries = 4
        let first = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        // 35 entries: the source, 3 directories, 31 files.
        #expect(first.manifest.pages?.count == 9)
        #expect(first.manifest.files == 31 && first.manifest.entries == nil)
        let all = try await contents(of: first.manifest, keys: keys, network: client)
        #expect(all.entries.count == 35)
        #expect(all.entries.map(\.path) == all.entries.map(\.path).sorted(), "walk order, page after page")

        let target = scratch.path + "/restored"
        let restored = try await Restore(keys: keys, network: client, options: Restore.Options(target: target)).run { _ in }
        #expect(restored.failed.isEmpty, "\(restored.failed)")
        #expect(restored.files == 31)
        #expect(try describeTree(target + source) == describeTree(source))

        let second = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(second.progress.chunksUploaded == 0 && second.progress.chunksReused > 0)
        // The machine lost its index (not its keys): the published pages stand
        // in, for the chunks and for the files' sizes, times and inodes. A
        // file rewritten in place with its time put back is not read again.
        try FileManager.default.removeItem(atPath: home + "/index")
        var before = stat()
        #expect(stat(source + "/large", &before) == 0)
        let descriptor = open(source + "/large", O_WRONLY)
        let rewritten = deterministicBytes(200_000, seed: 6)
        #expect(pwrite(descriptor, rewritten, rewritten.count, 0) == rewritten.count)
        close(descriptor)
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, source + "/large", &times, 0) == 0)
        let third = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(third.progress.chunksUploaded == 0, "no file read again, every chunk known from the previous snapshot's pages")
        try Data(deterministicBytes(200_000, seed: 5)).write(to: URL(fileURLWithPath: source + "/large"))
        #expect(try await snapshots(keys: keys, network: client).map(\.files) == [31, 31, 31])

        let report = try await Maintenance(keys: keys, network: client).verify(sample: 1)
        #expect(report.chunks == 1 + 9 + all.storedChunks.count, "the manifest, its pages and every chunk")
        #expect(report.missing == 0 && report.healthy == report.fragments)

        // A page lost beyond repair (every fragment gone): the restore says
        // so and restores every file of the other pages.
        let owner = OwnerID(bytes: keys.wireIdentity.publicKey.bytes)!
        for location in try #require(third.manifest.pages?[1]).object.fragments {
            let node = network.nodes.compactMap { $0 }.first { "127.0.0.1:\($0.port)" == location.node }!
            try await node.store.deleteClaim(key: ContentHash(hex: location.key)!, owner: owner)
        }
        let partial = try await Restore(keys: keys, network: client, options: Restore.Options(target: scratch.path + "/partial"))
            .run { _ in }
        #expect(partial.failed.count == 1 && partial.failed[0].path.contains("page 2 of 9"), "\(partial.failed)")
        #expect(partial.files == 31 - 4, "page 2 held dir-0/file-2 to file-5")
        #expect(FileManager.default.contents(atPath: scratch.path + "/partial" + source + "/large")
                == FileManager.default.contents(atPath: source + "/large"))
        await client.close()
        await network.stop()
    }

    /// Leases: a fresh backup's fragments are not renewed again at once; a
    /// month later, verify renews every fragment of the kept snapshots, and the
    /// nodes hold our claims for another 90 days from then.
    @Test func leasesOfLiveFragmentsAreRenewedOnceDue() async throws {
        // Nodes that would keep an unnamed lease for one day only.
        let network = try await LocalNetwork(nodes: 6, defaultLease: 86_400)
        let scratch = try TemporaryDirectory(prefix: "flud-leases")
        let source = scratch.path + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data(deterministicBytes(300_000, seed: 3)).write(to: URL(fileURLWithPath: source + "/file"))
        let home = scratch.path + "/home"
        let keys = UserKeys.generate()
        try keys.save(in: home)
        let client = try await network.join(keys)
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 64 << 10)
        let first = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        let second = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(second.progress.chunksUploaded == 0)
        #expect(second.leasesRenewed == 0, "stored today: not due")
        // Stored with the client's own term, not the nodes' one-day default.
        let stored = UInt64(Date().timeIntervalSince1970)
        let chunks = try await contents(of: first.manifest, keys: keys, network: client).storedChunks
        for location in chunks.flatMap(\.object.fragments) {
            let node = network.nodes.compactMap { $0 }.first { "127.0.0.1:\($0.port)" == location.node }!
            let claim = try node.store.claims(on: ContentHash(hex: location.key)!).first { $0.owner.bytes == keys.wireIdentity.publicKey.bytes }
            #expect(claim.map { $0.leaseExpiry + 60 >= stored + Leases.term && $0.leaseExpiry <= stored + Leases.term } == true)
        }
        let report = try await Maintenance(keys: keys, network: client).verify(sample: 0, renewingLeasesIn: home)
        #expect(report.leasesRenewed == 0 && report.leasesFailed == 0)

        let later = UInt64(Date().timeIntervalSince1970) + Leases.renewAfter + 60
        let index = try LocalIndex(home: home)
        let renewal = try await Leases(network: client, index: index).renewDue(chunks, now: later)
        #expect(renewal.renewed == chunks.count * 4 && renewal.failed == 0)
        // Due no more: renewed "today" as far as the index knows.
        #expect(try await Leases(network: client, index: index).renewDue(chunks, now: later).renewed == 0)
        index.close()
        for location in chunks.flatMap(\.object.fragments) {
            let node = network.nodes.compactMap { $0 }.first { "127.0.0.1:\($0.port)" == location.node }!
            let claim = try node.store.claims(on: ContentHash(hex: location.key)!).first { $0.owner.bytes == keys.wireIdentity.publicKey.bytes }
            #expect(claim?.leaseExpiry == later + Leases.term)
        }
        await client.close()
        await network.stop()
    }

    /// A chunk whose leases may have run out (not renewed for a whole term)
    /// is not named by a new snapshot on the index's word: its holders renew
    /// it first, and if they no longer hold it, it is uploaded again. A clock
    /// that went back makes no renewal due and traps nothing.
    @Test func chunksWhoseLeasesMayHaveLapsedAreRenewedOrUploadedAgain() async throws {
        let network = try await LocalNetwork(nodes: 4)
        let scratch = try TemporaryDirectory(prefix: "flud-lapsed")
        let (source, home) = (scratch.path + "/source", scratch.path + "/home")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let original = deterministicBytes(150_000, seed: 40)
        try Data(original).write(to: URL(fileURLWithPath: source + "/file"))
        let keys = UserKeys.generate()
        try keys.save(in: home)
        let client = try await network.join(keys)
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 32 << 10)
        let first = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        let chunks = try await contents(of: first.manifest, keys: keys, network: client).entries.flatMap { $0.chunks ?? [] }
        #expect(chunks.count > 1)
        let now = UInt64(Date().timeIntervalSince1970)
        func lastRenewed(_ chunk: ChunkRef) throws -> UInt64? {
            let index = try LocalIndex(home: home)
            defer { index.close() }
            return index.renewed(chunk.hash)
        }
        func pretendRenewed(at time: UInt64) async throws {
            let index = try LocalIndex(home: home)
            try await index.markRenewed(chunks.map(\.hash), at: time)
            index.close()
        }

        // The clock went back a day: nothing is due, nothing traps.
        do {
            let index = try LocalIndex(home: home)
            let outcome = try await Leases(network: client, index: index).renewDue(chunks, now: now - 86_400)
            index.close()
            #expect(outcome.renewed == 0 && outcome.failed == 0)
        }

        // Last renewed a term ago, still held: renewed now, not uploaded.
        try await pretendRenewed(at: now - Leases.term)
        let touched = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(touched.progress.chunksUploaded == 0)
        #expect(try chunks.allSatisfy { try (lastRenewed($0) ?? 0) >= now }, "renewed by this backup")

        // Last renewed a term ago, and the nodes dropped our claims: uploaded again.
        try await pretendRenewed(at: now - Leases.term)
        let owner = OwnerID(bytes: keys.wireIdentity.publicKey.bytes)!
        for location in chunks.flatMap(\.object.fragments) {
            let node = network.nodes.compactMap { $0 }.first { "127.0.0.1:\($0.port)" == location.node }!
            _ = try await node.store.deleteClaim(key: ContentHash(hex: location.key)!, owner: owner)
        }
        let again = try await Backup(keys: keys, network: client, home: home, options: options).run { _ in }
        #expect(again.progress.chunksUploaded == chunks.count, "every lapsed chunk stored again")
        let target = scratch.path + "/restored"
        let restored = try await Restore(keys: keys, network: client, options: Restore.Options(target: target)).run { _ in }
        #expect(restored.failed.isEmpty, "\(restored.failed)")
        #expect(FileManager.default.contents(atPath: target + source + "/file") == Data(original))
        await client.close()
        await network.stop()
    }

    /// The snapshot root moves only from the version a run started from
    /// (BEP 44 `cas`), and is read back: a run working from an older root, or
    /// from a lookup that found none, fails, even where a node that never
    /// held the root takes it, and the newest snapshot stays named.
    @Test func aRootPublishedFromAnOlderVersionIsRefused() async throws {
        let network = try await LocalNetwork(nodes: 4)
        let scratch = try TemporaryDirectory(prefix: "flud-cas")
        let source = scratch.path + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data(deterministicBytes(5000, seed: 41)).write(to: URL(fileURLWithPath: source + "/file"))
        let keys = UserKeys.generate()
        let client = try await network.join(keys)
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2)
        let log = SnapshotLog(keys: keys, network: client, transfer: ObjectTransfer(network: client, codec: ObjectCodec(cipher: keys.cipher)))
        _ = try await Backup(keys: keys, network: client, home: scratch.path + "/home", options: options).run { _ in }
        let older = try #require(await log.root())
        let newer = try await Backup(keys: keys, network: client, home: scratch.path + "/home", options: options).run { _ in }
        #expect(await log.root()?.sequence == older.sequence + 1)
        try await network.addNode()
        _ = await client.dht.bootstrap(from: [network.bootstrap])
        await #expect(throws: BackupError.self) { try await log.point(to: older.chunk, replacing: older) }
        await #expect(throws: BackupError.self) { try await log.point(to: older.chunk, replacing: nil) }
        // The nodes that held the newest root hold it still.
        let probe = try await DHTNode.start(readOnly: true)
        for node in network.nodes.prefix(4) {
            let answer = try await probe.query("get", ["target": .bytes(SnapshotRoot.target(for: keys).bytes)],
                                               to: DHTNode.address("127.0.0.1:\(node!.port)"))
            #expect(answer.values["seq"]?.integerValue == older.sequence + 1)
        }
        await probe.close()
        #expect(newer.snapshot != SnapshotLog.id(of: older.chunk))
        await client.close()
        await network.stop()
    }

    /// A name near the 255-byte limit restores (the temporary file's name is
    /// short); a time before 1970 comes back; an existing directory keeps its
    /// mode without --force and gets the snapshot's with it.
    @Test func longNamesOldTimesAndExistingDirectories() async throws {
        let network = try await LocalNetwork(nodes: 4)
        let scratch = try TemporaryDirectory(prefix: "flud-names")
        let source = scratch.path + "/source"
        try FileManager.default.createDirectory(atPath: source + "/dir", withIntermediateDirectories: true)
        let long = String(repeating: "n", count: 250)
        try Data(deterministicBytes(70_000, seed: 42)).write(to: URL(fileURLWithPath: source + "/dir/" + long))
        try Data(deterministicBytes(500, seed: 43)).write(to: URL(fileURLWithPath: source + "/dir/old"))
        var times = [timespec(tv_sec: -2, tv_nsec: 500_000_000), timespec(tv_sec: -2, tv_nsec: 500_000_000)]
        #expect(utimensat(AT_FDCWD, source + "/dir/old", &times, 0) == 0)
        chmod(source + "/dir", 0o750)
        let keys = UserKeys.generate()
        let client = try await network.join(keys)
        _ = try await Backup(keys: keys, network: client, home: scratch.path + "/home",
                             options: Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 32 << 10)).run { _ in }
        let target = scratch.path + "/restored"
        let first = try await Restore(keys: keys, network: client, options: Restore.Options(target: target)).run { _ in }
        #expect(first.failed.isEmpty, "\(first.failed)")
        #expect(try describeTree(target + source) == describeTree(source))

        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
        }
        chmod(target + source + "/dir", 0o700)
        let again = try await Restore(keys: keys, network: client, options: Restore.Options(target: target)).run { _ in }
        #expect(again.existing.count == 2 && again.directories == 0)
        #expect(mode(target + source + "/dir") == 0o700, "an existing directory is left alone")
        var forced = Restore.Options(target: target)
        forced.force = true
        let replaced = try await Restore(keys: keys, network: client, options: forced).run { _ in }
        #expect(replaced.failed.isEmpty && replaced.files == 2, "\(replaced.failed)")
        #expect(mode(target + source + "/dir") == 0o750)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: target + source + "/dir").filter { $0.hasPrefix(".flud-restore") }
        #expect(leftovers.isEmpty)
        await client.close()
        await network.stop()
    }

    /// A node whose fragments rot on its disk: the restore notices (the node
    /// reports them corrupt), uses other fragments, and restores every byte;
    /// the node's trust falls until placement, in a later run with the same
    /// ledger, puts it last.
    /// Chunks are named by BLAKE3 now; a chunk that an earlier version named
    /// by its SHA-256 (and sealed under a key derived from it) still restores,
    /// and a name that fits neither hash of the bytes is refused.
    @Test func chunksNamedBySHA256BeforeBLAKE3StillRestore() async throws {
        let network = try await LocalNetwork(nodes: 4)
        let keys = UserKeys.generate()
        let client = try await network.join(keys)
        let transfer = ObjectTransfer(network: client, codec: ObjectCodec(cipher: keys.cipher))
        let plaintext = deterministicBytes(300_000, seed: 21)
        let current = try await transfer.upload(plaintext, hash: ContentHash(chunk: plaintext), dataShards: 2, parityShards: 2)
        let earlier = try await transfer.upload(plaintext, hash: ContentHash(of: plaintext), dataShards: 2, parityShards: 2)
        #expect(current.hash == ContentHash(chunk: plaintext).hex)
        #expect(current.object.fragments.map(\.key) != earlier.object.fragments.map(\.key), "another name seals another key")
        #expect(try await transfer.download(current) == plaintext)
        #expect(try await transfer.download(earlier) == plaintext)
        // The earlier chunk's fragments under a name that is neither hash of its bytes.
        var misnamed = earlier
        misnamed.hash = ContentHash(of: plaintext + [0]).hex
        await #expect(throws: BackupError.self) { try await transfer.download(misnamed) }
        await client.close()
        await network.stop()
    }

    /// With `forgingChecksums`, the node's own checksums are rewritten to
    /// match the rotten bytes: the node serves them as good, and only the
    /// client's hash check stands between them and the restore.
    @Test(arguments: [false, true])
    func aNodeServingCorruptFragmentsLosesTrustAndNothingElse(forgingChecksums: Bool) async throws {
        let network = try await LocalNetwork(nodes: 6)
        let scratch = try TemporaryDirectory(prefix: "flud-trust")
        let source = scratch.path + "/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        let original = Data(deterministicBytes(400_000, seed: 8))
        try original.write(to: URL(fileURLWithPath: source + "/file"))
        let (home, ledger) = (scratch.path + "/home", scratch.path + "/trust")
        let keys = UserKeys.generate()
        try keys.save(in: home)
        func join(discovering: Bool = true) async throws -> FragmentNetwork {
            try await FragmentNetwork.join(bootstrap: [network.bootstrap], identity: keys.wireIdentity, discovering: discovering,
                                           ledgerDirectory: ledger)
        }
        let writer = try await join()
        let options = Backup.Options(paths: [source], dataShards: 2, parityShards: 2, averageChunkSize: 64 << 10)
        let backup = try await Backup(keys: keys, network: writer, home: home, options: options).run { _ in }
        await writer.close()

        // The holder of the first chunk's first data fragment: a restore asks it first.
        let first = try await contents(of: backup.manifest, keys: keys, network: writer).entries
            .first { $0.path == source + "/file" }!.chunks![0].object.fragments[0]
        let victimIndex = network.nodes.firstIndex { $0.map { "127.0.0.1:\($0.port)" == first.node } ?? false }!
        let victim = network.nodes[victimIndex]!
        let ours = OwnerID(bytes: keys.wireIdentity.publicKey.bytes)!
        let held = try victim.store.fragments(claimedBy: ours, limit: 1000).map(\.key)
        #expect(!held.isEmpty)
        try corruptOnDisk(held, of: victim.store, file: network.directory.path + "/node-\(victimIndex)/data.mdb",
                          forgingChecksums: forgingChecksums)
        if forgingChecksums {
            #expect(try held.allSatisfy { try !$0.identifies(victim.store.fragment($0)) }, "the node reads them as good")
        }

        let reader = try await join(discovering: false)
        let target = scratch.path + "/restored"
        let restored = try await Restore(keys: keys, network: reader, options: Restore.Options(target: target)).run { _ in }
        #expect(restored.failed.isEmpty)
        #expect(FileManager.default.contents(atPath: target + source + "/file") == original)
        let report = try await Maintenance(keys: keys, network: reader).verify(sample: 1)
        #expect(report.failuresByNode[first.node] == held.count, "every rotten fragment is caught")
        // Per object, k fragments were fetched and every other holder was
        // challenged (VERIFY): data chunks are 2 + 2, the manifest and its one
        // page 4 + 12.
        #expect(report.fragments - report.challenged == (report.chunks - 2) * 2 + 2 * 4)
        let trust = try #require(reader.ledger)
        #expect(trust.peers.values.reduce(0) { $0 + $1.auditsPassed + $1.auditsFailed } == report.challenged,
                "each challenge is in the ledger")
        // The restore asked the victim first for the first chunk, and how many
        // more it asked before that failure came back depends on timing; the
        // verify's failures are counted exactly. Every one is in the ledger.
        let record = trust[victim.identity.publicKey]
        #expect(record.retrievesFailed >= 1)
        #expect(record.retrievesFailed + record.auditsFailed >= UInt64(held.count) + 1)
        #expect(FragmentNetwork.isDistrusted(record))
        await reader.close()

        // Next run, same ledger: the distrusted node is placed last, so with
        // five others for four fragments it gets none.
        let next = try await join()
        for seed in 0..<8 {
            #expect(!(await next.placement(for: ContentHash(of: [UInt8(seed)]), count: 4)).contains(first.node))
        }
        await next.close()
        await network.stop()
    }
}

/// Flips a byte inside each of `keys`' fragments in the node's LMDB file, as a
/// failing disk would: the node's checksum check catches it on read, unless
/// `forgingChecksums` rewrites each record's checksum (its first 4 bytes,
/// before the payload) to match, as a node that lies would.
private func corruptOnDisk(_ keys: [ContentHash], of store: BlockStore, file path: String, forgingChecksums: Bool = false) throws {
    let file = try #require(FileManager.default.contents(atPath: path))
    let descriptor = open(path, O_RDWR)
    #expect(descriptor >= 0)
    defer { close(descriptor) }
    for key in keys {
        let bytes = try store.fragment(key)
        // Every copy: LMDB writes pages anew, so a stale copy may sit in a free page too.
        let copies = file.ranges(of: Data(bytes.prefix(64)))
        #expect(!copies.isEmpty)
        for copy in copies {
            var flipped = ~bytes[100]
            #expect(pwrite(descriptor, &flipped, 1, off_t(copy.lowerBound + 100)) == 1)
            if forgingChecksums {
                var rotten = bytes
                rotten[100] = flipped
                var checksum = rotten.withUnsafeBytes { CRC32C.checksum($0) }.littleEndian
                #expect(pwrite(descriptor, &checksum, 4, off_t(copy.lowerBound - 8)) == 4)
            }
        }
    }
}
