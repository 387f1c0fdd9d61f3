import Foundation
import Testing
@testable import FludCodec

/// Encode a file into fragment files and decode it back, at the library level.
/// (The `flud` command-line tests cover the same through the binary.)
struct FragmentFileTests {
    func roundTrip(length: Int, k: Int, m: Int, stripeSize: Int, keep: (Int) -> Bool) throws -> (warnings: [String], equal: Bool) {
        let directory = try TemporaryDirectory()
        var random = SplitMix64(seed: UInt64(length))
        let original = Data(random.bytes(length))
        try original.write(to: URL(fileURLWithPath: directory.file("input.bin")))
        let encoder = FragmentFileEncoder(code: try ReedSolomon(dataShards: k, parityShards: m), stripeSize: stripeSize)
        let paths = try encoder.encode(inputPath: directory.file("input.bin"), outputDirectory: directory.path)
        #expect(paths.count == k + m)
        var warnings: [String] = []
        let decoder = try FragmentFileDecoder(fragmentPaths: paths.indices.filter(keep).map { paths[$0] }.shuffled(),
                                              warn: { warnings.append($0) })
        try decoder.decode(to: directory.file("output.bin"))
        let decoded = try Data(contentsOf: URL(fileURLWithPath: directory.file("output.bin")))
        return (warnings, decoded == original)
    }

    @Test(arguments: [0, 1, 63, 1000, 12_345, 300_001])
    func anyKFragmentsRebuildTheFile(length: Int) throws {
        // stripeSize 64 · 5 · 10 = 3200 bytes, so the larger files span many stripes.
        let result = try roundTrip(length: length, k: 5, m: 3, stripeSize: 3200, keep: { $0 % 8 >= 3 })
        #expect(result.equal)
        #expect(result.warnings.isEmpty)
    }

    @Test func wideCodeAcrossStripes() throws {
        let result = try roundTrip(length: 1_000_003, k: 20, m: 20, stripeSize: 64 * 20 * 100, keep: { $0 % 2 == 1 })
        #expect(result.equal)
    }

    @Test func tooFewFragmentsFailAndLeaveNothing() throws {
        let directory = try TemporaryDirectory()
        try Data(repeating: 7, count: 5000).write(to: URL(fileURLWithPath: directory.file("input.bin")))
        let encoder = FragmentFileEncoder(code: try ReedSolomon(dataShards: 4, parityShards: 2))
        let paths = try encoder.encode(inputPath: directory.file("input.bin"), outputDirectory: directory.path)
        #expect(throws: FragmentFileError.notEnoughFragments(usable: 3, needed: 4)) {
            try FragmentFileDecoder(fragmentPaths: Array(paths.prefix(3)), warn: { _ in })
        }
    }

    @Test func encodingRefusesToOverwriteAndCleansUp() throws {
        let directory = try TemporaryDirectory()
        try Data(repeating: 1, count: 100).write(to: URL(fileURLWithPath: directory.file("a")))
        let encoder = FragmentFileEncoder(code: try ReedSolomon(dataShards: 2, parityShards: 1))
        _ = try encoder.encode(inputPath: directory.file("a"), outputDirectory: directory.path)
        let before = try directory.contents()
        #expect(throws: FragmentFileError.outputExists(directory.file("a.0_3.flud"))) {
            try encoder.encode(inputPath: directory.file("a"), outputDirectory: directory.path)
        }
        #expect(try directory.contents() == before)
        _ = try encoder.encode(inputPath: directory.file("a"), outputDirectory: directory.path, overwrite: true)
        #expect(try directory.contents() == before)
    }

    @Test func fragmentNamesSortByIndex() throws {
        let encoder = FragmentFileEncoder(code: try ReedSolomon(dataShards: 20, parityShards: 80))
        #expect(encoder.fragmentName(for: "f", index: 7) == "f.07_100.flud")
        #expect(encoder.fragmentName(for: "f", index: 99) == "f.99_100.flud")
        #expect(encoder.stripeSize % (64 * 20) == 0)
    }
}
