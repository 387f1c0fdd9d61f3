import Foundation
import Testing
@testable import FludBackup

/// The local index's binary records: every field comes back, records written
/// as JSON by older versions still read, and damaged ones read as nothing.
struct IndexRecordTests {
    private let hashA = String(repeating: "0123456789abcdef", count: 4)
    private let hashB = String(repeating: "fedcba9876543210", count: 4)

    private var chunk: ChunkRef {
        ChunkRef(hash: hashA, length: 1_048_576, compressed: true,
                 object: ObjectRef(dataShards: 20, parityShards: 20, sealedLength: 700_012,
                                   fragments: (0..<40).map { .init(key: $0.isMultiple(of: 2) ? hashA : hashB, node: "127.0.0.1:\(21_000 + $0)") }))
    }

    private var entries: [Manifest.Entry] {
        [
            Manifest.Entry(path: "/home/a/big.iso", kind: .file, mode: 0o100644, modified: 1_764_000_000_123_456_789, size: 3 << 20,
                           inode: .max, device: 2049, target: nil, chunks: [chunk, chunk], packed: nil),
            Manifest.Entry(path: "/home/a/notes/ä.txt", kind: .file, mode: 0o100600, modified: -5, size: 17, inode: 12, device: 2049,
                           target: nil, chunks: nil, packed: .init(pack: hashB, offset: 4096, hash: hashA)),
            Manifest.Entry(path: "/home/a/link", kind: .symlink, mode: 0o120777, modified: 0, size: 0, inode: 13, device: 2049,
                           target: "../somewhere else", chunks: nil, packed: nil),
            Manifest.Entry(path: "/home/a", kind: .directory, mode: 0o40755, modified: 1, size: 0, inode: 2, device: 2049,
                           target: nil, chunks: nil, packed: nil),
            // Not hex hashes (uppercase, short): kept as strings.
            Manifest.Entry(path: "/odd", kind: .file, mode: 0o100644, modified: 1, size: 3, inode: 3, device: 1, target: nil,
                           chunks: nil, packed: .init(pack: hashA.uppercased(), offset: 0, hash: "abc")),
        ]
    }

    @Test func everyFieldComesBack() {
        for entry in entries { #expect(Manifest.Entry(indexRecord: entry.indexRecord) == entry) }
        #expect(ChunkRef(indexRecord: chunk.indexRecord) == chunk)
        let file = Manifest.PackedFile(pack: hashA, offset: 1 << 40, hash: hashB)
        #expect(Manifest.PackedFile(indexRecord: file.indexRecord) == file)
    }

    @Test func recordsWrittenAsJSONStillRead() throws {
        for entry in entries {
            #expect(Manifest.Entry(indexRecord: Array(try JSONEncoder().encode(entry))) == entry)
        }
        #expect(ChunkRef(indexRecord: Array(try JSONEncoder().encode(chunk))) == chunk)
    }

    @Test func damagedRecordsReadAsNothing() {
        let record = entries[0].indexRecord
        for length in 0..<record.count {
            #expect(Manifest.Entry(indexRecord: Array(record.prefix(length))) == nil, "cut to \(length) bytes")
        }
        #expect(Manifest.Entry(indexRecord: record + [0]) == nil, "trailing byte")
        #expect(Manifest.Entry(indexRecord: [9] + record.dropFirst()) == nil, "unknown format")
        var huge = [UInt8(1)]
        huge += [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]  // a path "longer" than the record
        #expect(Manifest.Entry(indexRecord: huge) == nil)
    }

    @Test func binaryRecordsAreAFractionOfJSON() throws {
        for entry in entries.prefix(2) {
            let json = try JSONEncoder().encode(entry).count
            #expect(entry.indexRecord.count * 2 < json, "\(entry.indexRecord.count) bytes against \(json) as JSON")
        }
    }
}
