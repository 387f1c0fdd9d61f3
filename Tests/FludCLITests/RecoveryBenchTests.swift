import FludTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `flud bench recovery` end to end on a small network, and its refusals.
@Suite(.timeLimit(.minutes(3)))
struct RecoveryBenchTests {
    @Test func aRunReportsEveryFieldAndLeavesNothingBehind() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["bench", "recovery", "--nodes", "6", "-k", "2", "-m", "2", "--kill", "0.34", "--kill-model", "exact",
                                "--files", "6", "--file-size", "100000", "--lookups", "8", "--json",
                                "--plot", scratch.file("plot.svg"), "--data", scratch.file("")])
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(line["nodes"] as? Int == 6)
        #expect(line["k"] as? Int == 2 && line["m"] as? Int == 2)
        #expect(line["killed"] as? Double == 2)
        for field in ["kill", "loss", "restorable", "chunks_restorable", "predicted", "predicted_sd", "deviation",
                      "restore_s", "repair_s", "dht_success", "dht_lookup_ms", "dht_lookup_p95_ms"] {
            #expect(line[field] is Double, "\(field)")
        }
        #expect(line["bytes_fetched"] is Int)
        // 2 of 6 nodes dead: the repair fetches k fragments of each chunk that lost one and stores what it rebuilt.
        #expect(line["fragments_rebuilt"] as? Int ?? 0 > 0)
        #expect(line["repair_bytes"] as? Int ?? 0 > 0)
        #expect(line["draws"] as? Int == 1)
        #expect(line["dht_lookups"] as? Int == 8)
        #expect(line["matches_prediction"] is Bool)
        // 2 of 6 nodes dead, 4 distinct holders per chunk, 2 needed: at most 2 lost, so all survive.
        #expect(line["chunks_restorable"] as? Double == 1)
        #expect(line["restorable"] as? Double == 1)
        let predicted = try #require(line["predicted"] as? Double)
        #expect(abs(predicted - 0.889) < 0.01, "P(X ≥ 2), X ~ Bin(4, 2/3) = 0.889")
        #expect(try scratch.read("plot.svg").starts(with: Data("<svg".utf8)))
        // The saved JSON plots again without a run.
        try Data(run.stdout.utf8).write(to: URL(fileURLWithPath: scratch.file("runs.jsonl")))
        let replot = try await Flud.run(["bench", "recovery", "--replot", scratch.file("runs.jsonl"), "--plot", scratch.file("again.svg")])
        #expect(replot.status == 0, "\(replot.stderr)")
        // The same points (the JSON's rounding may move them by a fraction of a pixel).
        func points(_ name: String) throws -> Int { String(decoding: try scratch.read(name), as: UTF8.self).components(separatedBy: "<circle").count }
        #expect(try points("again.svg") == points("plot.svg") && points("plot.svg") == 2)
        #expect(try scratch.listing().filter { $0.hasPrefix("flud-bench-recovery") }.isEmpty, "its data is removed")
        let leftovers = processes(withArgumentContaining: scratch.file("flud-bench-recovery-"))
        #expect(leftovers.isEmpty, "no node process outlives the benchmark: \(leftovers)")
    }

    /// Each draw kills 2 of 8 nodes, at most m = 2 of a chunk's 4 holders, so
    /// every draw restores everything only if the nodes killed in the draw
    /// before came back.
    @Test func drawsBringTheKilledNodesBack() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["bench", "recovery", "--nodes", "8", "-k", "2", "-m", "2", "--kill", "0.25", "--kill-model", "exact",
                                "--draws", "3", "--files", "4", "--file-size", "100000", "--lookups", "4", "--json",
                                "--data", scratch.file("")])
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(line["draws"] as? Int == 3)
        #expect(line["killed"] as? Double == 2)
        #expect(line["restorable"] as? Double == 1)
        #expect(line["dht_lookups"] as? Int == 12)
        #expect(processes(withArgumentContaining: scratch.file("flud-bench-recovery-")).isEmpty)
    }

    /// Correlated failures: 6 nodes in 2 racks, so the dead are 0, 3 or 6 nodes, never another count.
    @Test func racksDieWhole() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["bench", "recovery", "--nodes", "6", "-k", "2", "-m", "2", "--kill", "0.5", "--kill-model", "rack",
                                "--racks", "2", "--files", "2", "--file-size", "50000", "--lookups", "0", "--json",
                                "--data", scratch.file("")])
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(line["racks"] as? Int == 2)
        #expect([0.0, 3.0, 6.0].contains(try #require(line["killed"] as? Double)))
    }

    /// Packet loss runs inside a network namespace of the benchmark's own, which only root can make.
    @Test func packetLossRunsInItsOwnNamespace() async throws {
        let scratch = try Scratch()
        let run = try await Flud.run(["bench", "recovery", "--nodes", "6", "-k", "2", "-m", "2", "--kill", "0", "--loss", "0.2",
                                "--files", "4", "--file-size", "100000", "--lookups", "8", "--json", "--data", scratch.file("")])
        guard geteuid() == 0 else {
            #expect(run.status == 64)
            #expect(run.stderr.contains("--loss: packet loss needs root"))
            return
        }
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(line["loss"] as? Double == 0.2)
        // No node died: every chunk has all its fragments, and lost packets are sent again.
        #expect(line["restorable"] as? Double == 1)
        #expect(line["dht_lookups"] as? Int == 8)
        #expect(try scratch.listing().filter { $0.hasPrefix("flud-bench-recovery") }.isEmpty, "its data is removed")
        #expect(processes(withArgumentContaining: scratch.file("flud-bench-recovery-")).isEmpty)
    }

    /// SIGINT in the middle of a run (with packet loss, as root, the run is
    /// a copy of flud inside a namespace): every node process and the run's
    /// data are gone when flud exits.
    @Test(arguments: [false, true])
    func anInterruptedRunLeavesNothingBehind(withLoss: Bool) async throws {
        guard !withLoss || geteuid() == 0 else { return }
        let scratch = try Scratch()
        let process = Process()
        process.executableURL = Flud.executable
        process.arguments = ["bench", "recovery", "--nodes", "6", "-k", "2", "-m", "2", "--kill", "0.34", "--kill-model", "exact",
                             "--draws", "50", "--files", "4", "--file-size", "100000", "--lookups", "8", "--json",
                             "--data", scratch.file("")] + (withLoss ? ["--loss", "0.1"] : [])
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let nodes = { processes(withArgumentContaining: scratch.file("flud-bench-recovery-")) }
        // Interrupted once its six nodes run (fifty draws take far longer than the wait).
        let started = Date()
        while nodes().count < 6, process.isRunning, Date().timeIntervalSince(started) < 60 {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(nodes().count >= 6, "the nodes started")
        kill(process.processIdentifier, SIGINT)
        while process.isRunning, Date().timeIntervalSince(started) < 90 { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "flud exits on SIGINT")
        #expect(process.terminationStatus == 130)
        #expect(nodes().isEmpty, "no node process outlives the interrupt: \(nodes())")
        #expect(try scratch.listing().filter { $0.hasPrefix("flud-bench-recovery") }.isEmpty, "its data is removed")
    }

    @Test func impossiblePlansGetAClearMessage() async throws {
        let tooWide = try await Flud.run(["bench", "recovery", "--nodes", "4", "-k", "4", "-m", "2"])
        #expect(tooWide.status == 64)
        #expect(tooWide.stderr.contains("need at least that many nodes"))
        let badKill = try await Flud.run(["bench", "recovery", "--kill", "1.5"])
        #expect(badKill.status == 64)
        #expect(badKill.stderr.contains("--kill must be between 0 and 1"))
        let loss = try await Flud.run(["bench", "recovery", "--loss", "1.5"])
        #expect(loss.status == 64)
        #expect(loss.stderr.contains("--loss must be between 0 and 1"))
        let model = try await Flud.run(["bench", "recovery", "--kill-model", "some"])
        #expect(model.status == 64)
        #expect(model.stderr.contains("independent, exact or rack"))
        #expect(try await Flud.run(["bench", "recovery", "--draws", "0"]).status == 64)
        #expect(try await Flud.run(["bench", "recovery", "--replot", "runs.jsonl"]).status == 64)
        #expect(try await Flud.run(["bench", "recovery", "--sweep", "--nodes", "12"]).status == 64)
    }
}

/// Command lines of the running processes with an argument containing
/// `text`, read from /proc (no procps needed on a fresh machine).
func processes(withArgumentContaining text: String) -> [String] {
    let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil } ?? []
    return pids.compactMap { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains { $0.contains(text) } ? arguments.joined(separator: " ") : nil
    }
}
