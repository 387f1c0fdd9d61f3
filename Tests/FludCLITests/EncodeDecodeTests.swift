import Foundation
import Testing

/// `flud encode` and `flud decode` as a user runs them.
struct EncodeDecodeTests {
    /// Encodes `name` (of `size` bytes) with k + m into scratch/frags.
    func encoded(k: Int, m: Int, size: Int, stripeSize: Int = 4096) async throws -> (Scratch, Data, [String]) {
        let scratch = try Scratch()
        let original = try scratch.write("data.bin", bytes: size, seed: UInt64(size + k))
        try FileManager.default.createDirectory(atPath: scratch.file("frags"), withIntermediateDirectories: false)
        let run = try await Flud.run(["encode", "-k", "\(k)", "-m", "\(m)", "--stripe-size", "\(stripeSize)",
                                "-o", scratch.file("frags"), scratch.file("data.bin")])
        #expect(run.status == 0, "\(run.stderr)")
        let fragments = try scratch.fragments(of: "data.bin", in: "frags")
        #expect(fragments.count == k + m)
        return (scratch, original, fragments)
    }

    @Test(arguments: [0, 1, 4097, 100_003])
    func anyKFragmentsInAnyOrderRebuildTheFile(size: Int) async throws {
        let (scratch, original, fragments) = try await encoded(k: 6, m: 4, size: size)
        let chosen = Array(fragments.shuffled().prefix(6))
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + chosen)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.read("out.bin") == original)
        #expect(run.stderr.isEmpty)
    }

    @Test func defaultOutputIsTheOriginalNameInTheCurrentDirectory() async throws {
        let (scratch, original, fragments) = try await encoded(k: 3, m: 2, size: 5000)
        try FileManager.default.createDirectory(atPath: scratch.file("restore"), withIntermediateDirectories: false)
        let run = try await Flud.run(["decode"] + fragments, in: scratch.file("restore"))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.read("restore/data.bin") == original)
    }

    @Test func duplicatesAreIgnored() async throws {
        let (scratch, original, fragments) = try await encoded(k: 4, m: 2, size: 20_000)
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + fragments + fragments)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.read("out.bin") == original)
    }

    @Test func aCorruptFragmentIsReplacedByASpare() async throws {
        let (scratch, original, fragments) = try await encoded(k: 4, m: 2, size: 50_000)
        try scratch.corrupt(fragments[1], at: 5000)
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + fragments)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.read("out.bin") == original)
        #expect(run.stderr.contains("damaged"))
    }

    @Test func aCorruptHeaderSetsTheFragmentAside() async throws {
        let (scratch, original, fragments) = try await encoded(k: 4, m: 2, size: 50_000)
        try scratch.corrupt(fragments[0], at: 20)
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + fragments)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.read("out.bin") == original)
        #expect(run.stderr.contains("ignoring") && run.stderr.contains("corrupt"))
    }

    @Test func corruptionBeyondTheSparesFailsAndLeavesNoOutput() async throws {
        let (scratch, _, fragments) = try await encoded(k: 4, m: 2, size: 50_000)
        for fragment in fragments.prefix(3) { try scratch.corrupt(fragment, at: 9000) }
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + fragments)
        #expect(run.status == 1)
        #expect(run.stderr.contains("needed"))
        #expect(!scratch.exists("out.bin"))
        // No temporary file is left behind either.
        #expect(try scratch.listing() == ["data.bin", "frags"])
    }

    @Test func aTruncatedFragmentServesTheStripesItStillHas() async throws {
        let (scratch, original, fragments) = try await encoded(k: 4, m: 1, size: 50_000)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: fragments[2]))
        try handle.truncate(atOffset: 3000)
        try handle.close()
        // With m = 1 and one fragment cut short, stripes past the cut need the parity fragment.
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + fragments)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.read("out.bin") == original)
        #expect(run.stderr.contains("truncated"))
    }

    @Test func foreignFragmentsAreSetAside() async throws {
        let (scratch, original, fragments) = try await encoded(k: 3, m: 2, size: 30_000)
        _ = try scratch.write("other.bin", bytes: 30_000, seed: 99)
        let other = try await Flud.run(["encode", "-k", "3", "-m", "2", "-o", scratch.file("frags"), scratch.file("other.bin")])
        #expect(other.status == 0)
        let foreign = try scratch.fragments(of: "other.bin", in: "frags")
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + Array(fragments.prefix(3)) + Array(foreign.prefix(2)))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.read("out.bin") == original)
        #expect(run.stderr.contains("another file"))
    }

    @Test func tooFewFragmentsFailClearly() async throws {
        let (scratch, _, fragments) = try await encoded(k: 5, m: 3, size: 10_000)
        let run = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + Array(fragments.prefix(4)))
        #expect(run.status == 1)
        #expect(run.stderr == "flud: only 4 usable fragments of this file, but 5 are needed\n")
        #expect(!scratch.exists("out.bin"))
    }

    @Test func decodeRefusesToOverwriteWithoutForce() async throws {
        let (scratch, original, fragments) = try await encoded(k: 2, m: 1, size: 1000)
        _ = try scratch.write("out.bin", bytes: 10, seed: 1)
        let refused = try await Flud.run(["decode", "-o", scratch.file("out.bin")] + fragments)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("already exists"))
        #expect(try scratch.read("out.bin").count == 10)
        let forced = try await Flud.run(["decode", "--force", "-o", scratch.file("out.bin")] + fragments)
        #expect(forced.status == 0)
        #expect(try scratch.read("out.bin") == original)
    }

    @Test func fragmentsFromAnEarlierReleaseStillDecode() async throws {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let expected = try String(contentsOf: fixtures.appendingPathComponent("fixture.txt.sha256"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let scratch = try Scratch()
        let chosen = [1, 3, 4].map { fixtures.appendingPathComponent("fixture.txt.\($0)_5.flud").path }
        let run = try await Flud.run(["decode", "-o", scratch.file("fixture.txt")] + chosen)
        #expect(run.status == 0, "\(run.stderr)")
        let decoded = try scratch.read("fixture.txt")
        #expect(decoded.count == 5612)
        let hash = try await Flud.run(["decode", "-o", scratch.file("again.txt")] + chosen)
        #expect(hash.status == 0)
        #expect(run.stdout.contains("SHA-256 verified"))
        #expect(sha256Hex(of: scratch.file("fixture.txt")) == expected)
    }
}

/// SHA-256 of a file via coreutils, independent of flud's own hashing.
func sha256Hex(of path: String) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    process.arguments = [path]
    let out = Pipe()
    process.standardOutput = out
    guard (try? process.run()) != nil else { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self).split(separator: " ").first.map(String.init)
}
