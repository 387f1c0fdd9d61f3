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
    @Test func backUpLoseAThirdOfTheNodesAndTheMachineRestoreFromThePhrase() throws {
        let scratch = try Scratch()
        var nodes: [NodeProcess] = []
        for index in 0..<12 {
            nodes.append(try NodeProcess(data: scratch.file("node-\(index)"), port: LoopbackSocket.freePort(),
                                         bootstrap: nodes.first.map { $0.address }))
        }
        let bootstrap = ["--bootstrap", nodes[0].address]
        let home = ["FLUD_HOME": scratch.file("home")]

        let initialized = try Flud.run(["key", "init"], environment: home)
        #expect(initialized.status == 0, "\(initialized.stderr)")
        let phrase = initialized.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(phrase.count == 68)
        #expect(try Flud.run(["key", "init"], environment: home).status == 1, "never replaces existing keys")

        let source = scratch.file("data")
        try FileManager.default.createDirectory(atPath: source + "/sub", withIntermediateDirectories: true)
        _ = try scratch.write("data/a.bin", bytes: 300_000, seed: 1)
        _ = try scratch.write("data/sub/b.bin", bytes: 50_000, seed: 2)
        try FileManager.default.createSymbolicLink(atPath: source + "/sub/link", withDestinationPath: "../a.bin")
        mkfifo(source + "/pipe", 0o600)

        let backup = try Flud.run(["backup", source, "-k", "4", "-m", "4", "--chunk-size", "65536", "--json"] + bootstrap,
                                  environment: home)
        #expect(backup.status == 3, "a snapshot, but one path (the FIFO) skipped: \(backup.stderr)")
        #expect(backup.stderr.contains("skipped \(source)/pipe"))
        let summary = try #require(backup.stdout.split(separator: "\n").last)
        let fields = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        #expect(fields["event"] as? String == "summary")
        #expect(fields["files"] as? Int == 2)
        let snapshot = try #require(fields["snapshot"] as? String)

        let listed = try Flud.run(["snapshots"] + bootstrap, environment: home)
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.hasPrefix(snapshot))

        for index in [2, 5, 8, 11] { nodes[index].kill(SIGKILL) }

        let newHome = ["FLUD_HOME": scratch.file("new-home")]
        let wrong = try Flud.run(["key", "import"], environment: newHome, input: "aaaa-bbbb-cccc")
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("not a flud recovery phrase"))
        #expect(!scratch.exists("new-home/user.key"), "nothing written for a wrong phrase")
        let imported = try Flud.run(["key", "import"], environment: newHome, input: phrase + "\n")
        #expect(imported.status == 0, "\(imported.stderr)")

        let restore = try Flud.run(["restore", "--target", scratch.file("restored")] + bootstrap, environment: newHome)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try scratch.read("restored" + source + "/a.bin") == scratch.read("data/a.bin"))
        #expect(try scratch.read("restored" + source + "/sub/b.bin") == scratch.read("data/sub/b.bin"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: scratch.file("restored" + source + "/sub/link")) == "../a.bin")

        let again = try Flud.run(["restore", "--target", scratch.file("restored")] + bootstrap, environment: newHome)
        #expect(again.status == 1, "existing files are not overwritten")
        #expect(again.stderr.contains("exists"))
        #expect(try Flud.run(["restore", "--force", "--target", scratch.file("restored")] + bootstrap, environment: newHome).status == 0)

        let stranger = ["FLUD_HOME": scratch.file("stranger")]
        _ = try Flud.run(["key", "init"], environment: stranger)
        let nothing = try Flud.run(["restore", "--target", scratch.file("nothing")] + bootstrap, environment: stranger)
        #expect(nothing.status == 1)
        #expect(nothing.stderr.contains("no snapshots"))
        #expect(!scratch.exists("nothing"))
    }
}
