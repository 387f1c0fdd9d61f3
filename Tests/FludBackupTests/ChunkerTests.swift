import FludCodec
import FludTestSupport
import Testing

struct ChunkerTests {
    private func chunks(_ bytes: [UInt8], _ chunker: ContentDefinedChunker) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            let length = bytes[offset...].withUnsafeBytes { chunker.chunkLength(in: $0, isEnd: true) }
            result.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        return result
    }

    @Test func chunksStayWithinBoundsAndAverageNearTheTarget() {
        let chunker = ContentDefinedChunker(averageSize: 64 << 10)
        let data = deterministicBytes(16 << 20, seed: 1)
        let pieces = chunks(data, chunker)
        #expect(pieces.flatMap { $0 } == data)
        #expect(pieces.dropLast().allSatisfy { (chunker.minimumSize...chunker.maximumSize).contains($0.count) })
        let average = data.count / pieces.count
        #expect((32 << 10...128 << 10).contains(average), "average \(average)")
    }

    @Test func anInsertionInTheMiddleMovesOnlyNearbyBoundaries() {
        let chunker = ContentDefinedChunker(averageSize: 64 << 10)
        let original = deterministicBytes(16 << 20, seed: 2)
        var edited = original
        edited.insert(contentsOf: deterministicBytes(100, seed: 3), at: 8 << 20)
        let before = Set(chunks(original, chunker).map { ContentHash(chunk: $0) })
        let after = chunks(edited, chunker).map { ContentHash(chunk: $0) }
        let kept = after.filter(before.contains).count
        #expect(Double(kept) / Double(after.count) > 0.95, "\(kept) of \(after.count) chunks unchanged")
    }

    @Test func boundariesAreAPureFunctionOfTheContent() {
        let chunker = ContentDefinedChunker(averageSize: 4096)
        let data = deterministicBytes(1 << 20, seed: 4)
        #expect(chunks(data, chunker) == chunks(data, chunker))
        // A stream handed over in pieces (at least maximumSize at a time) cuts the same way.
        let first = data.withUnsafeBytes { chunker.chunkLength(in: UnsafeRawBufferPointer(rebasing: $0[..<chunker.maximumSize]), isEnd: false) }
        #expect(first == chunks(data, chunker)[0].count)
    }

    /// The cut points are part of the backup format (equal data must cut the
    /// same way in every version, or it stops deduplicating): these lengths
    /// were recorded from the first release's chunker.
    @Test func cutPointsNeverChange() {
        let small = chunks(deterministicBytes(256 << 10, seed: 9), ContentDefinedChunker(averageSize: 4096)).map(\.count)
        #expect(small == [5763, 5813, 6520, 5157, 5563, 2530, 1403, 4298, 4261, 5927, 2510, 5592, 5691, 5293, 5414, 1553, 4108,
                          5709, 4251, 4265, 4493, 3326, 4480, 5718, 5058, 4612, 4488, 5338, 5827, 4473, 4298, 1939, 2752, 4127,
                          4893, 4248, 7002, 2518, 4579, 4763, 4873, 5745, 4279, 4966, 4280, 4202, 12708, 5282, 5096, 6453, 5084,
                          6483, 4330, 4203, 3607])
        let large = chunks(deterministicBytes(12 << 20, seed: 10), ContentDefinedChunker()).map(\.count)
        #expect(large == [1707776, 1552593, 998574, 717091, 1050109, 1286740, 1134945, 1203424, 1319824, 482604, 1129232])
    }
}

struct SealingTests {
    @Test func equalChunksSealEquallyAndOnlyForTheirOwner() throws {
        let plaintext = deterministicBytes(10_000, seed: 5)
        let hash = ContentHash(chunk: plaintext)
        let mine = ConvergentCipher(secret: deterministicBytes(32, seed: 6))
        let theirs = ConvergentCipher(secret: deterministicBytes(32, seed: 7))
        let sealed = mine.seal(plaintext, plaintextHash: hash)
        #expect(sealed == mine.seal(plaintext, plaintextHash: hash), "convergent: equal chunks dedupe")
        #expect(sealed != theirs.seal(plaintext, plaintextHash: hash), "another user's ciphertext differs")
        #expect(try mine.open(sealed, plaintextHash: hash) == plaintext)
        #expect(throws: (any Error).self) { try theirs.open(sealed, plaintextHash: hash) }
        var altered = sealed
        altered[100] ^= 1
        #expect(throws: (any Error).self) { try mine.open(altered, plaintextHash: hash) }
        #expect(throws: (any Error).self) { try mine.open(Array(sealed.prefix(8)), plaintextHash: hash) }
    }
}
