import ArgumentParser
import FludBackup
import FludCodec
import Foundation

struct KeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Create, show, export or import your identity and its recovery phrase.",
        discussion: """
            All your keys derive from one secret kept in $FLUD_HOME/user.key (default \
            ~/.flud). Its recovery phrase is the one credential that restores your \
            backups on a new machine: write it down and keep it safe.
            """,
        subcommands: [KeyInitCommand.self, KeyShowCommand.self, KeyExportCommand.self, KeyImportCommand.self]
    )
}

struct KeyInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create your keys and print the recovery phrase (once) on standard output."
    )

    func run() throws {
        try reportingFailures {
            let keys = UserKeys.generate()
            try keys.save(in: FludHome.path)
            print(keys.recoveryPhrase)
            writeStandardError("flud: keys created in \(UserKeys.path(in: FludHome.path)); the line above is your recovery phrase: write it down, it is the only way to your backups if this machine is lost\n")
        }
    }
}

struct KeyShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print where your keys are and their public halves (no secrets)."
    )

    func run() throws {
        try reportingFailures {
            let keys = try UserKeys.load(from: FludHome.path)
            print("keys           \(UserKeys.path(in: FludHome.path))")
            print("snapshot key   \(ContentHash(bytes: keys.snapshotKey.publicKey)!.hex)")
            print("node identity  \(keys.wireIdentity.publicKey.hex)")
        }
    }
}

struct KeyExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Print your recovery phrase."
    )

    func run() throws {
        try reportingFailures {
            print(try UserKeys.load(from: FludHome.path).recoveryPhrase)
        }
    }
}

struct KeyImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Restore your keys from a recovery phrase (from a file, or standard input).",
        discussion: "Refuses to replace other keys already in $FLUD_HOME; nothing is written when the phrase is wrong."
    )

    @Option(help: ArgumentHelp("A file holding the phrase.", valueName: "file"))
    var phraseFile: String?

    func run() throws {
        try reportingFailures {
            let text: String
            if let phraseFile {
                guard let data = FileManager.default.contents(atPath: phraseFile) else {
                    throw Failure(kind: .runtime, description: "cannot read \(phraseFile)")
                }
                text = String(decoding: data, as: UTF8.self)
            } else {
                text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            }
            let keys = try UserKeys(recoveryPhrase: text)
            try keys.save(in: FludHome.path)
            writeStandardError("flud: keys imported into \(UserKeys.path(in: FludHome.path))\n")
        }
    }
}

/// `--bootstrap`, and the storage network reached through it as the user.
struct NetworkOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A node to join through (repeatable).", valueName: "host:port"))
    var bootstrap: [String] = []

    /// - Parameter discovering: find the storage nodes (to place fragments);
    ///   reading needs only the DHT and the locations in the snapshot.
    func join(_ keys: UserKeys, discovering: Bool = true) async throws -> FragmentNetwork {
        guard !bootstrap.isEmpty else { throw Failure.usage("give at least one --bootstrap HOST:PORT") }
        let network = try await FragmentNetwork.join(bootstrap: try bootstrap.map(parseAddress), identity: keys.wireIdentity,
                                                     discovering: discovering, ledgerDirectory: FludHome.ledgerDirectory())
        let found = await network.nodes.count
        guard !discovering || found > 0 else {
            await network.close()
            throw BackupError.notEnoughNodes(found: 0)
        }
        return network
    }

    /// Runs `body` on the network joined as `keys`, and leaves it afterwards.
    func withNetwork<Result>(_ keys: UserKeys, discovering: Bool = true,
                             _ body: (FragmentNetwork) async throws -> Result) async throws -> Result {
        try await using(try await join(keys, discovering: discovering), close: { await $0.close() }, body)
    }
}

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up files and directories to the flud network as a new snapshot.",
        discussion: """
            Files are cut into content-defined chunks, and files smaller than a chunk \
            are packed together into chunk-sized packs; chunks (and small files) \
            already stored are not uploaded again, and files unchanged since the last snapshot (size, time, \
            inode) are not read again. Each new chunk is compressed when that pays, \
            encrypted (AES-256-GCM, key from its content and your secret), coded into \
            k + m fragments and spread over the nodes found through --bootstrap. \
            Progress shows on a terminal; --json prints progress and a summary as JSON \
            lines (the summary with peak_memory_bytes, the most memory the run held). Exit status: 0 done, 3 snapshot saved but some paths could not be \
            read (listed on standard error), 1 failed, 64 invalid arguments.
            """
    )

    @Argument(help: ArgumentHelp("Files and directories to back up.", valueName: "path"))
    var paths: [String]

    @Option(name: .short, help: "Fragments that rebuild a chunk (k).")
    var k: Int = 20

    @Option(name: .short, help: "Extra fragments, any of which may be lost (m).")
    var m: Int = 20

    @Option(help: ArgumentHelp("Leave out paths matching this glob (repeatable).", valueName: "pattern"))
    var exclude: [String] = []

    @Option(help: ArgumentHelp("Average chunk size, a power of two; files smaller than this are packed together.", valueName: "bytes"))
    var chunkSize: Int = 1 << 20

    @OptionGroup var join: NetworkOptions

    @Flag(help: "Print progress and the summary as JSON lines.")
    var json = false

    /// Checked inside `reportingFailures`, so a bad argument gets flud's one-line
    /// message and exit status 64.
    func checkArguments() throws {
        guard k >= 1, m >= 1, k + m <= 255 else { throw Failure.usage("k and m must be at least 1 and k + m at most 255") }
        guard chunkSize >= 1 << 12, chunkSize <= 16 << 20, chunkSize & (chunkSize - 1) == 0 else {
            throw Failure.usage("--chunk-size must be a power of two from 4 KiB to 16 MiB")
        }
    }

    func run() async throws {
        try await reportingFailures {
            try checkArguments()
            let keys = try UserKeys.load(from: FludHome.path)
            var options = Backup.Options(paths: paths, dataShards: k, parityShards: m, averageChunkSize: chunkSize)
            options.excludes = exclude
            tuneAllocatorForFragmentTraffic()
            let progress = ProgressLine(label: "backup")
            defer { progress.finish() }
            let json = self.json
            let reporter = ThrottledReporter()
            let (summary, seconds) = try await join.withNetwork(keys) { network in
                let spread = await network.spread(dataShards: k, parityShards: m)
                if spread.fragmentsPerNode > 1 {
                    printError("flud: warning: \(await network.nodes.count) storage nodes for \(k + m) fragments per chunk: a node "
                               + "holds up to \(spread.fragmentsPerNode) fragments of a chunk, so this backup survives the loss "
                               + "of any \(spread.nodesThatMayFail) node\(spread.nodesThatMayFail == 1 ? "" : "s"), not \(m)")
                }
                let started = monotonicSeconds()
                let summary = try await Backup(keys: keys, network: network, home: FludHome.path, options: options).run { state in
                    guard reporter.due(final: state.filesDone == state.filesTotal) else { return }
                    if json {
                        printNow(JSONLine().field("event", "progress").field("files", state.filesDone).field("files_total", state.filesTotal)
                            .field("bytes", state.bytesDone).field("bytes_total", state.bytesTotal).text)
                    } else {
                        progress.update(done: state.bytesDone, total: state.bytesTotal, detail: "\(state.filesDone)/\(state.filesTotal) files,")
                    }
                }
                return (summary, monotonicSeconds() - started)
            }
            progress.finish()
            let state = summary.progress
            for (path, reason) in summary.skipped { printError("flud: skipped \(path): \(reason)") }
            if json {
                printNow(JSONLine().field("event", "summary").field("snapshot", summary.snapshot).field("files", state.filesDone)
                    .field("bytes", state.bytesDone).field("chunks_uploaded", state.chunksUploaded)
                    .field("chunks_reused", state.chunksReused).field("bytes_uploaded", state.bytesUploaded)
                    .field("leases_renewed", summary.leasesRenewed).field("leases_failed", summary.leasesFailed)
                    .field("skipped", summary.skipped.count).field("seconds", (seconds * 1000).rounded() / 1000)
                    .field("peak_memory_bytes", peakResidentBytes()).text)
            } else {
                printNow("snapshot \(summary.snapshot): \(state.filesDone) files, \(formatBytes(state.bytesDone)); \(state.chunksUploaded) chunks uploaded (\(formatBytes(state.bytesUploaded))), \(state.chunksReused) already stored; \(String(format2: seconds)) s")
            }
            if !summary.skipped.isEmpty { throw ExitCode(3) }
        }
    }
}

/// Lets progress through at most five times a second (and always the last).
final class ThrottledReporter: @unchecked Sendable {
    private var last = 0.0
    private let lock = NSLock()

    func due(final: Bool) -> Bool {
        lock.withLock {
            let now = monotonicSeconds()
            guard final || now - last >= 0.2 else { return false }
            last = now
            return true
        }
    }
}

struct SnapshotsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshots",
        abstract: "List your snapshots, newest first."
    )

    @OptionGroup var join: NetworkOptions

    @Flag(help: "One JSON object per snapshot.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let keys = try UserKeys.load(from: FludHome.path)
            let snapshots = try await join.withNetwork(keys, discovering: false) { network in
                try await FludBackup.snapshots(keys: keys, network: network)
            }
            guard !snapshots.isEmpty else { throw BackupError.noSnapshots }
            for snapshot in snapshots {
                let date = Date(timeIntervalSince1970: snapshot.created)
                if json {
                    printNow(JSONLine().field("id", snapshot.id).field("created", ISO8601DateFormatter().string(from: date))
                        .field("files", snapshot.files).field("bytes", snapshot.bytes)
                        .field("paths", snapshot.roots.joined(separator: ":")).text)
                } else {
                    printNow("\(snapshot.id)  \(ISO8601DateFormatter().string(from: date))  \(snapshot.files) files  \(formatBytes(snapshot.bytes))  \(snapshot.roots.joined(separator: " "))")
                }
            }
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a snapshot (the newest by default) under a target directory.",
        discussion: """
            Paths are re-rooted under --target: a backed-up /home/a/x lands at \
            TARGET/home/a/x. Each chunk comes from any k of its fragments, fetched in \
            parallel: data fragments first, holders that answered far slower (4×) than \
            the others after them, holders that failed or lost trust last. Every fragment, chunk and file is checked against its hash, and a \
            file appears only once complete. Existing files, and the modes and times \
            of existing directories, are left alone unless --force. --json prints a summary, with peak_memory_bytes. Exit status: 0 everything restored, 1 some files could not be \
            restored or already existed (listed), 64 invalid arguments.
            """
    )

    @Argument(help: ArgumentHelp("A snapshot ID (or its first digits) from `flud snapshots`.", valueName: "snapshot"))
    var snapshot: String?

    @Option(help: ArgumentHelp("Directory to restore under.", valueName: "dir"))
    var target: String

    @Option(help: ArgumentHelp("Restore only this path and what is under it (repeatable).", valueName: "path"))
    var path: [String] = []

    @Flag(help: "Replace files that already exist (each in one rename), and reset existing directories' modes and times.")
    var force = false

    @OptionGroup var join: NetworkOptions

    @Flag(help: "Print the summary as JSON.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let keys = try UserKeys.load(from: FludHome.path)
            var options = Restore.Options(target: target)
            (options.snapshot, options.paths, options.force) = (snapshot, path, force)
            tuneAllocatorForFragmentTraffic()
            let (summary, seconds) = try await join.withNetwork(keys, discovering: false) { network in
                let started = monotonicSeconds()
                let summary = try await Restore(keys: keys, network: network, options: options).run { _ in }
                return (summary, monotonicSeconds() - started)
            }
            for path in summary.existing { printError("flud: \(path) exists under \(target); left alone (--force replaces it)") }
            for (path, reason) in summary.failed { printError("flud: cannot restore \(path): \(reason)") }
            if json {
                printNow(JSONLine().field("snapshot", summary.snapshot).field("files", summary.files).field("bytes", summary.bytes)
                    .field("directories", summary.directories).field("symlinks", summary.symlinks)
                    .field("existing", summary.existing.count).field("failed", summary.failed.count)
                    .field("seconds", (seconds * 1000).rounded() / 1000).field("peak_memory_bytes", peakResidentBytes()).text)
            } else {
                printNow("restored snapshot \(summary.snapshot): \(summary.files) files (\(formatBytes(summary.bytes))), \(summary.directories) directories, \(summary.symlinks) symlinks in \(String(format2: seconds)) s")
            }
            if !summary.failed.isEmpty || !summary.existing.isEmpty { throw ExitCode.failure }
        }
    }
}

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Audit the holders of your newest snapshot's fragments.",
        discussion: """
            For a random --sample of the chunks (and always the snapshot's manifest \
            and pages), every holder is audited: k holders per chunk, chosen at \
            random, return their fragments, checked against their keys; each other \
            holder answers a fresh proof-of-storage challenge (VERIFY) over its whole \
            fragment, checked against the fragment rebuilt from those k. \
            Also renews the leases of every kept snapshot's fragments once a third \
            of their 90-day term has passed (nodes drop claims nobody renews), so run \
            it at least monthly for snapshots no longer backed up. Puts the signed \
            snapshot root again, so it reaches the nodes now closest to it \
            (root_holders: how many took it). Prints how many \
            fragments are healthy and which nodes failed. Exit status: \
            0 all healthy, 1 some fragments missing or wrong (run `flud repair`), 64 \
            invalid arguments.
            """
    )

    @Option(help: ArgumentHelp("Fraction of the chunks to audit, 0 to 1.", valueName: "fraction"))
    var sample: Double = 0.1

    @OptionGroup var join: NetworkOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    /// Checked inside `reportingFailures`, so a bad argument gets flud's one-line
    /// message and exit status 64.
    func checkArguments() throws {
        guard (0...1).contains(sample) else { throw Failure.usage("--sample must be between 0 and 1") }
    }

    func run() async throws {
        try await reportingFailures {
            try checkArguments()
            let keys = try UserKeys.load(from: FludHome.path)
            let report = try await join.withNetwork(keys, discovering: false) { network in
                try await Maintenance(keys: keys, network: network).verify(sample: sample, renewingLeasesIn: FludHome.path)
            }
            printMaintenance(report, json: json, verb: "audited")
            if report.missing > 0 { throw ExitCode.failure }
        }
    }
}

struct RepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Rebuild missing fragments of your newest snapshot from any k survivors.",
        discussion: """
            Asks every holder whether it still has its fragment; each missing one is \
            rebuilt from any k of its chunk's fragments (byte-identical to the lost \
            one), stored on a node that holds no other fragment of that chunk, and the \
            snapshot is published again with the new locations. Exit status: 0 nothing \
            missing or everything rebuilt, 1 some chunks have fewer than k fragments \
            left (listed), 64 invalid arguments.
            """
    )

    @OptionGroup var join: NetworkOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let keys = try UserKeys.load(from: FludHome.path)
            let report = try await join.withNetwork(keys) { network in
                try await Maintenance(keys: keys, network: network).repair(updatingIndexIn: FludHome.path)
            }
            printMaintenance(report, json: json, verb: "checked")
            for chunk in report.unrecoverable { printError("flud: chunk \(chunk.prefix(16)) has fewer than k fragments left") }
            if !report.unrecoverable.isEmpty { throw ExitCode.failure }
        }
    }
}

private func printMaintenance(_ report: Maintenance.Report, json: Bool, verb: String) {
    if json {
        var line = JSONLine().field("chunks", report.chunks).field("fragments", report.fragments)
            .field("healthy", report.healthy).field("missing", report.missing).field("challenged", report.challenged)
            .field("rebuilt", report.rebuilt)
            .field("unrecoverable", report.unrecoverable.count)
            .field("leases_renewed", report.leasesRenewed).field("leases_failed", report.leasesFailed)
            .field("root_holders", report.rootHolders)
        if let snapshot = report.newSnapshot { line = line.field("snapshot", snapshot) }
        printNow(line.text)
        return
    }
    printNow("\(verb) \(report.fragments) fragments of \(report.chunks) chunks: \(report.healthy) healthy, \(report.missing) missing"
             + (report.challenged > 0 ? " (\(report.challenged) proved by VERIFY challenges, the rest fetched)" : "")
             + (report.rebuilt > 0 ? ", \(report.rebuilt) rebuilt" : "")
             + (report.newSnapshot.map { "; published snapshot \($0)" } ?? "")
             + (report.leasesRenewed + report.leasesFailed > 0
                ? "; leases renewed on \(report.leasesRenewed) fragments" + (report.leasesFailed > 0 ? ", \(report.leasesFailed) could not be" : "")
                : ""))
    for (node, count) in report.failuresByNode.sorted(by: { $0.key < $1.key }) {
        printNow("  \(node): \(count) fragments missing or unreachable")
    }
}

struct ForgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forget",
        abstract: "Drop old snapshots and release the fragments only they used.",
        discussion: """
            Keeps the snapshots any --keep option selects (the last N; the newest of \
            each of the last N days; of each of the last N weeks), counted for each set \
            of backed-up paths apart, re-links them, and \
            deletes your claims on every fragment no kept snapshot needs, so the nodes \
            reclaim the space. Claims on nodes that cannot be reached now lapse when \
            their leases expire. Exit status: 0 done, 1 failed, 64 invalid arguments \
            (a policy must keep at least one snapshot).
            """
    )

    @Option(help: ArgumentHelp("Keep the newest N snapshots.", valueName: "n"))
    var keepLast: Int = 0

    @Option(help: ArgumentHelp("Keep the newest snapshot of each of the last N days.", valueName: "n"))
    var keepDaily: Int = 0

    @Option(help: ArgumentHelp("Keep the newest snapshot of each of the last N weeks.", valueName: "n"))
    var keepWeekly: Int = 0

    @OptionGroup var join: NetworkOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        try await reportingFailures {
            var policy = Forget.Policy()
            (policy.keepLast, policy.keepDaily, policy.keepWeekly) = (keepLast, keepDaily, keepWeekly)
            guard [keepLast, keepDaily, keepWeekly].allSatisfy({ $0 >= 0 }), policy.keepsSomething else {
                throw Failure.usage("give at least one of --keep-last, --keep-daily, --keep-weekly (a policy must keep a snapshot)")
            }
            let keys = try UserKeys.load(from: FludHome.path)
            let report = try await join.withNetwork(keys) { network in
                try await Forget(keys: keys, network: network, home: FludHome.path).run(policy)
            }
            if json {
                printNow(JSONLine().field("kept", report.kept.count).field("dropped", report.dropped.count)
                    .field("claims_deleted", report.claimsDeleted).field("claims_left", report.claimsLeft).text)
            } else {
                printNow("kept \(report.kept.count) snapshots, dropped \(report.dropped.count); deleted \(report.claimsDeleted) fragment claims"
                         + (report.claimsLeft > 0 ? ", \(report.claimsLeft) on unreachable nodes will lapse with their leases" : ""))
            }
        }
    }
}
