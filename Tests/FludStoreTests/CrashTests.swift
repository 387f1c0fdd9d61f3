import FludCodec
import FludTestSupport
import Foundation
import Testing
@testable import FludStore

/// A process storing fragments is SIGKILLed at random moments; every fragment
/// whose put had returned must survive, byte-exact, with a clean scrub.
struct CrashTests {
    @Test(.timeLimit(.minutes(5)))
    func acknowledgedPutsSurviveSIGKILL() throws {
        let scratch = try TemporaryDirectory(prefix: "flud-crash")
        let directory = scratch.path
        var random = SystemRandomNumberGenerator()
        var acknowledged: [Int] = []
        var killedMidWrite = 0
        for round in 0..<24 {
            let process = Process()
            process.executableURL = builtExecutable(named: "flud-store-crash-child")
            process.arguments = [directory, String(round * 100_000), "100000"]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            usleep(UInt32.random(in: 30_000...400_000, using: &random))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the child was killed, not finished")
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let indices = printed.split(separator: "\n").compactMap { Int($0) }
            if !indices.isEmpty { killedMidWrite += 1 }
            acknowledged += indices

            let store = try BlockStore(directory: directory)
            for index in indices {
                let bytes = crashTestFragment(index)
                #expect(try store.fragment(ContentHash(of: bytes)) == bytes, "round \(round): fragment \(index) lost")
            }
            let report = try store.scrub()
            #expect(report.isClean, "round \(round): \(report)")
            store.close()
        }
        #expect(killedMidWrite >= 20, "most rounds were killed while storing")
        // A final reopen sees everything acknowledged in every round.
        let store = try BlockStore(directory: directory)
        defer { store.close() }
        for index in acknowledged {
            #expect(try store.contains(ContentHash(of: crashTestFragment(index))))
        }
    }
}
