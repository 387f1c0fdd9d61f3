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
        let before = Set(chunks(original, chunker).map { ContentHash(of: $0) })
        let after = chunks(edited, chunker).map { ContentHash(of: $0) }
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
}

struct SealingTests {
    @Test func equalChunksSealEquallyAndOnlyForTheirOwner() throws {
        let plaintext = deterministicBytes(10_000, seed: 5)
        let hash = ContentHash(of: plaintext)
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
