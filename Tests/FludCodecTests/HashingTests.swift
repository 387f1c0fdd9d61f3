import Testing
@testable import FludCodec

struct HashingTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }

    @Test func crc32cContinuesAcrossPieces() {
        var random = SplitMix64(seed: 1)
        let bytes = random.bytes(10_000)
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 4999, 10_000] {
            let first = CRC32C.checksum(bytes[..<split])
            let both = bytes[split...].withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
            #expect(both == whole)
        }
    }

    struct SHAVectors: Decodable {
        struct Case: Decodable {
            let message_hex: String
            let sha256: String
        }
        let cases: [Case]
    }

    @Test func contentHashIsSHA256() throws {
        for vector in try loadVectors("sha256", as: SHAVectors.self).cases {
            let hash = ContentHash(of: [UInt8](hex: vector.message_hex))
            #expect(hash.hex == vector.sha256)
            #expect(ContentHash(hex: vector.sha256) == hash)
        }
    }

    struct BLAKE3Vectors: Decodable {
        struct Case: Decodable {
            let length: Int
            let blake3: String
        }
        let cases: [Case]
    }

    /// Lengths across BLAKE3's chunk and SIMD-batch boundaries, answers from
    /// b3sum (Vectors/generate-blake3.sh), each at two alignments; chunk names
    /// also from an array slice, as restore checks a packed file.
    @Test func fragmentKeysAndChunkNamesAreBLAKE3() throws {
        for vector in try loadVectors("blake3", as: BLAKE3Vectors.self).cases {
            let input = (0..<vector.length).map { UInt8($0 % 251) }
            #expect(ContentHash(fragment: input).hex == vector.blake3, "length \(vector.length)")
            #expect(ContentHash(chunk: input).hex == vector.blake3, "length \(vector.length)")
            let shifted = [0] + input
            #expect(shifted.withUnsafeBytes { ContentHash(fragment: UnsafeRawBufferPointer(rebasing: $0.dropFirst())) }.hex
                    == vector.blake3, "length \(vector.length), misaligned")
            #expect(ContentHash(chunk: shifted.dropFirst()).hex == vector.blake3, "length \(vector.length), slice")
        }
    }

    /// A key or chunk name identifies its bytes by BLAKE3, and by SHA-256 for
    /// data named before BLAKE3; no other bytes, whole or as a slice.
    @Test func aKeyIdentifiesItsBytesOnly() {
        var random = SplitMix64(seed: 3)
        let bytes = random.bytes(52_429)
        var other = bytes
        other[26_000] ^= 1
        let framed = [7] + bytes + [7]
        for key in [ContentHash(fragment: bytes), ContentHash(chunk: bytes), ContentHash(of: bytes)] {
            #expect(key.identifies(bytes))
            #expect(key.identifies(framed[1..<framed.count - 1]))
            #expect(!key.identifies(framed[0..<framed.count - 2]))
            #expect(!key.identifies(other))
            #expect(!key.identifies([UInt8]()))
        }
        #expect(ContentHash(fragment: bytes) != ContentHash(of: bytes))
    }

    @Test func incrementalHashingEqualsOneShot() {
        var random = SplitMix64(seed: 2)
        let bytes = random.bytes(100_000)
        var hasher = ContentHasher()
        for piece in stride(from: 0, to: bytes.count, by: 7777) {
            bytes[piece..<min(piece + 7777, bytes.count)].withUnsafeBytes { hasher.update($0) }
        }
        #expect(hasher.finalize() == ContentHash(of: bytes))
    }

    @Test func malformedHexIsRejected() {
        #expect(ContentHash(hex: "abc") == nil)
        #expect(ContentHash(hex: String(repeating: "zz", count: 32)) == nil)
        #expect(ContentHash(bytes: [UInt8](repeating: 0, count: 31)) == nil)
    }
}

extension HashingTests {
    @Test func rawBytesViewMatchesTheDigestOrder() {
        let hash = ContentHash(of: Array("abc".utf8))
        #expect(hash.withUnsafeBytes { Array($0) } == hash.bytes)
        #expect(hash.bytes.prefix(4) == [0xBA, 0x78, 0x16, 0xBF])
    }
}
