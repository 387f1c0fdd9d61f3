import Testing
@testable import FludCodec

struct FragmentHeaderTests {
    let header = FragmentHeader(dataShards: 20, parityShards: 20, index: 7, fileLength: 10_000_123,
                                stripeSize: 4_193_280, fileHash: ContentHash(of: Array("flud".utf8)),
                                fileName: "photos-2007.tar")

    @Test func roundTrips() throws {
        let bytes = header.encoded()
        #expect(bytes.count == header.size)
        #expect(try FragmentHeader(decoding: bytes) == header)
        // Trailing payload bytes are not part of the header.
        #expect(try FragmentHeader(decoding: bytes + [1, 2, 3]) == header)
    }

    @Test func layoutIsStable() {
        let bytes = header.encoded()
        #expect(Array(bytes[0..<8]) == Array("FLUDFRAG".utf8))
        #expect(bytes[8] == 1 && bytes[9] == 0)
        #expect(Array(bytes[10..<14]) == [20, 20, 7, 15])
        #expect(Array(bytes[16..<24]) == [0xFB, 0x96, 0x98, 0, 0, 0, 0, 0])
    }

    @Test func stripeGeometry() {
        #expect(header.stripeCount == 3)
        #expect(header.dataBytes(inStripe: 2) == 10_000_123 - 2 * 4_193_280)
        #expect(header.shardLength(inStripe: 0) == 209_664)
        #expect(header.shardLength(inStripe: 2) == 80_679)
        #expect(header.segmentOffset(ofStripe: 1) == header.size + 209_668)
        #expect(header.fragmentFileSize == header.size + 2 * 209_668 + 80_683)
    }

    @Test func everySingleByteCorruptionIsDetected() {
        let bytes = header.encoded()
        for offset in bytes.indices {
            var damaged = bytes
            damaged[offset] ^= 0x40
            #expect(throws: FragmentError.self) { try FragmentHeader(decoding: damaged) }
        }
    }

    @Test func namesTheProblem() {
        var bytes = header.encoded()
        #expect(throws: FragmentError.truncatedHeader) { try FragmentHeader(decoding: Array(bytes.prefix(70))) }
        #expect(throws: FragmentError.notAFragment) { try FragmentHeader(decoding: Array("hello".utf8)) }
        bytes[8] = 9
        #expect(throws: FragmentError.unsupportedVersion(9)) { try FragmentHeader(decoding: bytes) }
    }

    @Test func refusesImpossibleValuesEvenWithAValidChecksum() {
        for mutate in [{ (h: inout FragmentHeader) in h.index = 40 },
                       { h in h.stripeSize = 4_193_281 },
                       { h in h.fileName = "../etc" }] {
            var bad = header
            mutate(&bad)
            #expect(throws: FragmentError.corruptHeader) { try FragmentHeader(decoding: bad.encoded()) }
        }
    }

    /// Random garbage never crashes the parser.
    @Test func randomInputIsRejectedCleanly() {
        var random = SplitMix64(seed: 3)
        let valid = header.encoded()
        for round in 0..<2000 {
            var bytes = round % 2 == 0 ? random.bytes(Int.random(in: 0...400, using: &random)) : valid
            if round % 2 == 1 {
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                }
            }
            _ = try? FragmentHeader(decoding: bytes)
        }
    }
}
