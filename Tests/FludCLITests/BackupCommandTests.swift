import FludTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `flud key`, `flud backup`, `flud snapshots` and `flud restore` as a user
/// runs them, against 12 `flud node` processes, 4 of which are SIGKILLed.
@Suite(.timeLimit(.minutes(5)))
struct BackupCommandTests {
    @Test func backUpLoseAThirdOfTheNodesAndTheMachineRestoreFromThePhrase() async throws {
        let scratch = try Scratch()
        let nodes = try await NodeProcess.network(12, in: scratch)
        defer { nodes.forEach { $0.stop() } }
        let bootstrap = ["--bootstrap", nodes[0].address]
        let home = ["FLUD_HOME": scratch.file("home")]

        let initialized = try await Flud.run(["key", "init"], environment: home)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let phrase = initialized.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(phrase.count == 68)
        #expect(try await Flud.run(["key", "init"], environment: home).status == 1, "never replaces existing keys")

        let source = scratch.file("data")
        try FileManager.default.createDirectory(atPath: source + "/sub", withIntermediateDirectories: true)
        _ = try scratch.write("data/a.bin", bytes: 300_000, seed: 1)
        _ = try scratch.write("data/sub/b.bin", bytes: 50_000, seed: 2)
        try FileManager.default.createSymbolicLink(atPath: source + "/sub/link", withDestinationPath: "../a.bin")
        mkfifo(source + "/pipe", 0o600)

        let backup = try await Flud.run(["backup", source, "-k", "4", "-m", "4", "--chunk-size", "65536", "--json"] + bootstrap,
                                  environment: home)
        #expect(backup.status == 3, "a snapshot, but one path (the FIFO) skipped: \(backup.stderr)")
        #expect(backup.stderr.contains("skipped \(source)/pipe"))
        #expect(!backup.stderr.contains("warning"), "8 fragments on 12 nodes: one each")
        let fields = try backup.lastJSONObject()
        #expect(fields["event"] as? String == "summary")
        #expect(fields["files"] as? Int == 2)
        let snapshot = try #require(fields["snapshot"] as? String)

        let listed = try await Flud.run(["snapshots"] + bootstrap, environment: home)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.hasPrefix(snapshot))

        for index in [2, 5, 8, 11] { try await nodes[index].kill(SIGKILL) }

        let newHome = ["FLUD_HOME": scratch.file("new-home")]
        let wrong = try await Flud.run(["key", "import"], environment: newHome, input: "aaaa-bbbb-cccc")
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("not a flud recovery phrase"))
        #expect(!scratch.exists("new-home/user.key"), "nothing written for a wrong phrase")
        let imported = try await Flud.run(["key", "import"], environment: newHome, input: phrase + "\n")
        #expect(imported.status == 0, "\(imported.stderr)")

        let restore = try await Flud.run(["restore", "--target", scratch.file("restored")] + bootstrap, environment: newHome)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try scratch.read("restored" + source + "/a.bin") == scratch.read("data/a.bin"))
        #expect(try scratch.read("restored" + source + "/sub/b.bin") == scratch.read("data/sub/b.bin"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: scratch.file("restored" + source + "/sub/link")) == "../a.bin")

        let again = try await Flud.run(["restore", "--target", scratch.file("restored")] + bootstrap, environment: newHome)
        #expect(again.status == 1, "existing files are not overwritten")
        #expect(again.stderr.contains("exists"))
        #expect(try await Flud.run(["restore", "--force", "--target", scratch.file("restored")] + bootstrap, environment: newHome).status == 0)

        let noPolicy = try await Flud.run(["forget"] + bootstrap, environment: newHome)
        #expect(noPolicy.status == 64)
        #expect(noPolicy.stderr.contains("a policy must keep a snapshot"))
        let forget = try await Flud.run(["forget", "--keep-last", "1", "--json"] + bootstrap, environment: newHome)
        #expect(forget.status == 0, "\(forget.stderr)")
        #expect(forget.stdout.contains("\"kept\":1,\"dropped\":0"))

        let stranger = ["FLUD_HOME": scratch.file("stranger")]
        _ = try await Flud.run(["key", "init"], environment: stranger)
        let nothing = try await Flud.run(["restore", "--target", scratch.file("nothing")] + bootstrap, environment: stranger)
        #expect(nothing.status == 1)
        #expect(nothing.stderr.contains("no snapshots"))
        #expect(!scratch.exists("nothing"))
    }

    /// More fragments per chunk than nodes: the backup goes on, and says how
    /// many lost nodes it can then survive.
    @Test func aBackupWiderThanTheNetworkSaysWhatItSurvives() async throws {
        let scratch = try Scratch()
        let nodes = try await NodeProcess.network(3, in: scratch)
        defer { nodes.forEach { $0.stop() } }
        let home = ["FLUD_HOME": scratch.file("home")]
        #expect(try await Flud.run(["key", "init"], environment: home).status == 0)
        _ = try scratch.write("file", bytes: 100_000, seed: 3)
        let backup = try await Flud.run(["backup", scratch.file("file"), "-k", "2", "-m", "2", "--bootstrap", nodes[0].address],
                                        environment: home)
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stderr.contains("warning: 3 storage nodes for 4 fragments per chunk: a node holds up to 2 fragments "
                                       + "of a chunk, so this backup survives the loss of any 1 node, not 2"), "\(backup.stderr)")
    }

    /// A file the user may not read is reported and skipped, and the rest is
    /// backed up and restores. Everything runs as `nobody` when the tests run
    /// as root (root reads every file), the nodes too: an unprivileged user's
    /// sockets must work (a socket option that needs CAP_NET_ADMIN once made
    /// every connection of a non-root node or client fail).
    @Test func aFileTheUserCannotReadIsSkippedAndTheRestIsSaved() async throws {
        let scratch = try Scratch()
        #expect(chmod(scratch.path, 0o755) == 0)
        let directories = ["home", "data", "restored"] + (0..<4).map { "node-\($0)" }
        for directory in directories {
            try FileManager.default.createDirectory(atPath: scratch.file(directory), withIntermediateDirectories: true)
            if getuid() == 0 { #expect(chown(scratch.file(directory), Flud.unprivilegedID, Flud.unprivilegedID) == 0) }
        }
        let nodes = try await NodeProcess.network(4, in: scratch, unprivileged: true)
        defer { nodes.forEach { $0.stop() } }
        let bootstrap = ["--bootstrap", nodes[0].address]
        let readable = try scratch.write("data/readable.bin", bytes: 200_000, seed: 6)
        _ = try scratch.write("data/secret.bin", bytes: 1000, seed: 7)
        #expect(chmod(scratch.file("data/secret.bin"), 0o000) == 0)
        let home = ["FLUD_HOME": scratch.file("home")]

        let initialized = try await Flud.runUnprivileged(["key", "init"], environment: home)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let backup = try await Flud.runUnprivileged(["backup", scratch.file("data"), "-k", "2", "-m", "2", "--json"] + bootstrap,
                                                    environment: home)
        #expect(backup.status == 3, "a snapshot, with one file skipped: \(backup.stderr)")
        #expect(backup.stderr.contains("skipped \(scratch.file("data/secret.bin"))"), "\(backup.stderr)")
        let fields = try backup.lastJSONObject()
        #expect(fields["files"] as? Int == 1)

        let restore = try await Flud.runUnprivileged(["restore", "--target", scratch.file("restored")] + bootstrap, environment: home)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try scratch.read("restored" + scratch.file("data/readable.bin")) == readable)
        #expect(!scratch.exists("restored" + scratch.file("data/secret.bin")))
    }

    /// A file four times larger than the memory allowed is backed up and
    /// restored without ever sitting in memory whole (the summaries' peak
    /// memory, getrusage's). The file is sparse, so its chunks are all alike:
    /// the backup stores one of them; the restore fetches and writes all 1 GiB.
    @Test func aGigabyteFileIsBackedUpAndRestoredInBoundedMemory() async throws {
        let scratch = try Scratch()
        let nodes = try await NodeProcess.network(3, in: scratch)
        defer { nodes.forEach { $0.stop() } }
        let bootstrap = ["--bootstrap", nodes[0].address]
        let home = ["FLUD_HOME": scratch.file("home")]
        #expect(try await Flud.run(["key", "init"], environment: home).status == 0)
        try FileManager.default.createDirectory(atPath: scratch.file("data"), withIntermediateDirectories: true)
        let size = 1 << 30, allowed = 256 << 20
        #expect(FileManager.default.createFile(atPath: scratch.file("data/big.img"), contents: nil))
        #expect(truncate(scratch.file("data/big.img"), off_t(size)) == 0)

        let backup = try await Flud.run(["backup", scratch.file("data"), "-k", "2", "-m", "1", "--json"] + bootstrap, environment: home)
        #expect(backup.status == 0, "\(backup.stderr)")
        let backedUp = try backup.lastJSONObject()
        #expect(backedUp["bytes"] as? Int == size)
        let backupPeak = try #require(backedUp["peak_memory_bytes"] as? Int)
        #expect((1..<allowed).contains(backupPeak), "backup peak \(backupPeak) bytes")

        let restore = try await Flud.run(["restore", "--target", scratch.file("restored"), "--json"] + bootstrap, environment: home)
        #expect(restore.status == 0, "\(restore.stderr)")
        let restorePeak = try #require(try restore.lastJSONObject()["peak_memory_bytes"] as? Int)
        #expect((1..<allowed).contains(restorePeak), "restore peak \(restorePeak) bytes")
        let restored = scratch.file("restored" + scratch.file("data/big.img"))
        let attributes = try FileManager.default.attributesOfItem(atPath: restored)
        #expect(attributes[.size] as? Int == size)
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: restored))
        defer { try? handle.close() }
        for offset in [0, size / 2 - 7, size - (1 << 20)] {
            try handle.seek(toOffset: UInt64(offset))
            #expect(try handle.read(upToCount: 1 << 20)?.allSatisfy { $0 == 0 } == true)
        }
    }

    /// verify, repair and --exclude from the shell, against node processes:
    /// a SIGKILLed holder makes verify fail (exit 1), repair rebuilds its
    /// fragments elsewhere, verify passes again, and an excluded file was
    /// never stored.
    @Test func verifyRepairAndExcludeFromTheShell() async throws {
        let scratch = try Scratch()
        let nodes = try await NodeProcess.network(6, in: scratch)
        defer { nodes.forEach { $0.stop() } }
        let bootstrap = ["--bootstrap", nodes[0].address]
        let home = ["FLUD_HOME": scratch.file("home")]
        #expect(try await Flud.run(["key", "init"], environment: home).status == 0)
        try FileManager.default.createDirectory(atPath: scratch.file("data"), withIntermediateDirectories: true)
        let kept = try scratch.write("data/kept.bin", bytes: 300_000, seed: 4)
        _ = try scratch.write("data/scratch.tmp", bytes: 5000, seed: 5)
        let backup = try await Flud.run(["backup", scratch.file("data"), "-k", "2", "-m", "2", "--chunk-size", "65536",
                                         "--exclude", "*.tmp"] + bootstrap, environment: home)
        #expect(backup.status == 0, "\(backup.stderr)")
        func report(_ arguments: [String], status: Int32) async throws -> [String: Any] {
            let run = try await Flud.run(arguments + ["--json"] + bootstrap, environment: home)
            #expect(run.status == status, "\(arguments): \(run.stderr)")
            return try run.lastJSONObject()
        }
        let healthy = try await report(["verify", "--sample", "1"], status: 0)
        #expect(healthy["missing"] as? Int == 0)

        // A node other than the bootstrap that holds some of our fragments.
        var victim: NodeProcess?
        for node in nodes.dropFirst() where victim == nil {
            let listed = try await Flud.run(["fragment", "list", "--node", node.address], environment: home)
            if !listed.stdout.isEmpty { victim = node }
        }
        let lost = try #require(victim)
        try await lost.kill(SIGKILL)
        let damaged = try await report(["verify", "--sample", "1"], status: 1)
        let missing = try #require(damaged["missing"] as? Int)
        #expect(missing > 0)
        // (A snapshot page whose chunks moved is stored anew, not rebuilt:
        // its fragments are not among the repair's missing ones.)
        let repaired = try await report(["repair"], status: 0)
        #expect((1...missing).contains(repaired["rebuilt"] as? Int ?? 0))
        #expect(repaired["rebuilt"] as? Int == repaired["missing"] as? Int)
        #expect(repaired["unrecoverable"] as? Int == 0)
        let again = try await report(["verify", "--sample", "1"], status: 0)
        #expect(again["missing"] as? Int == 0)

        let restore = try await Flud.run(["restore", "--target", scratch.file("restored")] + bootstrap, environment: home)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try scratch.read("restored" + scratch.file("data/kept.bin")) == kept)
        #expect(!scratch.exists("restored" + scratch.file("data/scratch.tmp")), "excluded")
    }

    /// A backup SIGKILLed halfway resumes without uploading again what landed.
    @Test func aKilledBackupResumesWithoutUploadingAgain() async throws {
        let scratch = try Scratch()
        let nodes = try await NodeProcess.network(6, in: scratch)
        defer { nodes.forEach { $0.stop() } }
        let bootstrap = ["--bootstrap", nodes[0].address]
        let home = ["FLUD_HOME": scratch.file("home")]
        #expect(try await Flud.run(["key", "init"], environment: home).status == 0)
        try FileManager.default.createDirectory(atPath: scratch.file("data"), withIntermediateDirectories: true)
        // Small files first in walk order (they go into packs), then large ones (chunks).
        for index in 0..<100 { _ = try scratch.write("data/a-small-\(index)", bytes: 3000 + index, seed: UInt64(2000 + index)) }
        for index in 0..<48 { _ = try scratch.write("data/file-\(index)", bytes: 1_000_000, seed: UInt64(500 + index)) }
        let arguments = ["backup", scratch.file("data"), "-k", "2", "-m", "2", "--chunk-size", "65536", "--json"] + bootstrap

        // The first run dies once some files are done.
        let process = Process()
        process.executableURL = Flud.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(home) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Killed at the first progress line with the small files and at least
        // 4 of the 48 large ones done (lines come at most five times a second,
        // so not every count shows).
        var printed = ""
        var landed = false
        while !landed {
            let chunk = try await output.fileHandleForReading.nextData()
            if chunk.isEmpty { break }
            printed += String(decoding: chunk, as: UTF8.self)
            landed = printed.split(separator: "\n").contains { line in
                guard let event = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return false }
                return event["event"] as? String == "progress" && (event["files"] as? Int ?? 0) >= 104
            }
        }
        kill(process.processIdentifier, SIGKILL)
        try await process.exited()
        #expect(process.terminationReason == .uncaughtSignal, "killed mid-backup: \(printed)")

        let resumed = try await Flud.run(arguments, environment: home)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let summary = try resumed.lastJSONObject()
        let reused = try #require(summary["chunks_reused"] as? Int)
        let uploaded = try #require(summary["chunks_uploaded"] as? Int)
        #expect(reused > 0, "chunks that landed before the kill are not sent again")
        #expect(uploaded > 0, "the rest is")
        #expect(summary["files"] as? Int == 148)
        // What the killed run reported stored (small files count once their
        // pack has landed) is not sent again.
        let storedBeforeKill = printed.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["bytes"] as? Int
        }.max() ?? 0
        let total = 48_000_000 + (0..<100).reduce(0) { $0 + 3000 + $1 }
        #expect(try #require(summary["bytes_uploaded"] as? Int) <= total - storedBeforeKill)

        let restore = try await Flud.run(["restore", "--target", scratch.file("restored")] + bootstrap, environment: home)
        #expect(restore.status == 0, "\(restore.stderr)")
        for index in [0, 23, 47] {
            #expect(try scratch.read("restored" + scratch.file("data/file-\(index)")) == scratch.read("data/file-\(index)"))
        }
        for index in [0, 50, 99] {
            #expect(try scratch.read("restored" + scratch.file("data/a-small-\(index)")) == scratch.read("data/a-small-\(index)"))
        }
    }
}
