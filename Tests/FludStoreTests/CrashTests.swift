import FludCodec
import FludTestSupport
import Foundation
import Testing
@testable import FludStore

/// A process storing fragments is SIGKILLed at random moments; every fragment
/// whose put had returned must survive, byte-exact, with a clean scrub.
struct CrashTests {
    @Test(.timeLimit(.minutes(5)))
    func acknowledgedPutsSurviveSIGKILL() async throws {
        let scratch = try TemporaryDirectory(prefix: "flud-crash")
        let directory = scratch.path
        var random = SystemRandomNumberGenerator()
        var acknowledged: [Int] = []
        for round in 0..<24 {
            let process = Process()
            process.executableURL = builtExecutable(named: "flud-store-crash-child")
            process.arguments = [directory, String(round * 100_000), "100000"]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            // The kill lands a random moment after the first put was acknowledged,
            // so every round dies mid-write however slowly a busy machine starts
            // the child.
            let descriptor = output.fileHandleForReading.fileDescriptor
            let firstLine = try await onOwnThread { readLine(from: descriptor, within: 60) }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...300_000, using: &random)))
            kill(process.processIdentifier, SIGKILL)
            try await process.exited()
            try #require(firstLine != nil, "round \(round): the child acknowledged no put within 60 s")
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the child was killed, not finished")
            let printed = firstLine! + String(decoding: try await output.fileHandleForReading.remainingData(), as: UTF8.self)
            let indices = printed.split(separator: "\n").compactMap { Int($0) }
            acknowledged += indices

            let store = try BlockStore(directory: directory)
            for index in indices {
                let bytes = crashTestFragment(index)
                #expect(try store.fragment(ContentHash(fragment: bytes)) == bytes, "round \(round): fragment \(index) lost")
            }
            let report = try store.scrub()
            #expect(report.isClean, "round \(round): \(report)")
            store.close()
        }
        // A final reopen sees everything acknowledged in every round.
        let store = try BlockStore(directory: directory)
        defer { store.close() }
        for index in acknowledged {
            #expect(try store.contains(ContentHash(fragment: crashTestFragment(index))))
        }
    }
}

/// The first line `fd` delivers, newline included, or nil if none arrives
/// within `seconds` or the writer closes first.
private func readLine(from fd: Int32, within seconds: Double) -> String? {
    let deadline = Date().addingTimeInterval(seconds)
    var line: [UInt8] = []
    while line.last != UInt8(ascii: "\n") {
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return nil }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(remaining * 1000) + 1) > 0 else { continue }
        var byte: UInt8 = 0
        guard read(fd, &byte, 1) == 1 else { return nil }
        line.append(byte)
    }
    return String(decoding: line, as: UTF8.self)
}
