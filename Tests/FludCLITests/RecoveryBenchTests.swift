import FludTestSupport
import Foundation
import Testing

/// `flud bench recovery` end to end on a small network, and its refusals.
@Suite(.timeLimit(.minutes(3)))
struct RecoveryBenchTests {
    @Test func aRunReportsEveryFieldAndLeavesNothingBehind() throws {
        let scratch = try Scratch()
        let run = try Flud.run(["bench", "recovery", "--nodes", "6", "-k", "2", "-m", "2", "--kill", "0.34", "--files", "6",
                                "--file-size", "100000", "--json", "--plot", scratch.file("plot.svg"), "--data", scratch.file("")])
        #expect(run.status == 0, "\(run.stderr)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(line["nodes"] as? Int == 6)
        #expect(line["k"] as? Int == 2 && line["m"] as? Int == 2)
        #expect(line["killed"] as? Int == 2)
        for field in ["kill", "loss", "restorable", "chunks_restorable", "predicted", "restore_s", "repair_s"] {
            #expect(line[field] is Double, "\(field)")
        }
        #expect(line["bytes_fetched"] is Int)
        // 2 of 6 nodes dead, 4 distinct holders per chunk, 2 needed: at most 2 lost, so all survive.
        #expect(line["chunks_restorable"] as? Double == 1)
        #expect(line["restorable"] as? Double == 1)
        let predicted = try #require(line["predicted"] as? Double)
        #expect(abs(predicted - 0.889) < 0.01, "P(X ≥ 2), X ~ Bin(4, 2/3) = 0.889")
        #expect(try scratch.read("plot.svg").starts(with: Data("<svg".utf8)))
        #expect(try scratch.listing().filter { $0.hasPrefix("flud-bench-recovery") }.isEmpty, "its data is removed")
        let leftovers = try Flud.runShell("pgrep -f '[f]lud-bench-recovery-' || true")
        #expect(leftovers.isEmpty, "no node process outlives the benchmark: \(leftovers)")
    }

    @Test func impossiblePlansGetAClearMessage() throws {
        let tooWide = try Flud.run(["bench", "recovery", "--nodes", "4", "-k", "4", "-m", "2"])
        #expect(tooWide.status == 64)
        #expect(tooWide.stderr.contains("need at least that many nodes"))
        let badKill = try Flud.run(["bench", "recovery", "--kill", "1.5"])
        #expect(badKill.status == 64)
        #expect(badKill.stderr.contains("--kill must be between 0 and 1"))
        let loss = try Flud.run(["bench", "recovery", "--loss", "0.1"])
        #expect(loss.status == 64)
        #expect(loss.stderr.contains("network namespaces"))
        #expect(try Flud.run(["bench", "recovery", "--sweep", "--nodes", "12"]).status == 64)
    }
}

extension Flud {
    /// Runs a shell command line and returns its standard output.
    static func runShell(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
