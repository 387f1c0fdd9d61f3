import Foundation

/// The local index's records in a compact binary form: varints, strings with
/// their length, and 64-character hex hashes as their 32 bytes. JSON took
/// about four times the room (540 bytes per small file's entry, 355 per
/// packed file), and the index holds two snapshots' entries at once.
///
/// A record starts with a format byte; JSON, which older versions wrote,
/// starts with `{` and is still read.
protocol IndexRecord: Codable {
    func write(to writer: inout RecordWriter)
    init(from reader: inout RecordReader) throws
}

extension IndexRecord {
    private static var binaryFormat: UInt8 { 1 }

    var indexRecord: [UInt8] {
        var writer = RecordWriter()
        writer.bytes.append(Self.binaryFormat)
        write(to: &writer)
        return writer.bytes
    }

    /// The record in `bytes`, or nil if it is neither form (a damaged index
    /// loses only what it remembered: the next backup uploads or reads again).
    init?(indexRecord bytes: [UInt8]) {
        switch bytes.first {
        case Self.binaryFormat:
            var reader = RecordReader(bytes: bytes, position: 1)
            guard let record = try? Self(from: &reader), reader.isAtEnd else { return nil }
            self = record
        case UInt8(ascii: "{"):
            guard let record = try? JSONDecoder().decode(Self.self, from: Data(bytes)) else { return nil }
            self = record
        default:
            return nil
        }
    }
}

struct RecordWriter {
    var bytes: [UInt8] = []

    mutating func write(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func write(_ value: Int) { write(UInt64(bitPattern: Int64(value))) }
    mutating func write(_ value: Int64) { write(UInt64(bitPattern: (value << 1) ^ (value >> 63))) }

    mutating func write(_ string: String) {
        let utf8 = Array(string.utf8)
        write(utf8.count)
        bytes += utf8
    }

    /// A lowercase hex hash as its 32 bytes; anything else as a string.
    mutating func write(hash: String) {
        if let raw = Self.hashBytes(hash) {
            bytes.append(0)
            bytes += raw
        } else {
            bytes.append(1)
            write(hash)
        }
    }

    private static func hashBytes(_ hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var raw = [UInt8](repeating: 0, count: 32)
        for index in 0..<32 {
            guard let high = nibble(digits[2 * index]), let low = nibble(digits[2 * index + 1]) else { return nil }
            raw[index] = high << 4 | low
        }
        return raw
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

struct RecordReader {
    struct Malformed: Error {}

    let bytes: [UInt8]
    var position: Int

    var isAtEnd: Bool { position == bytes.count }

    mutating func byte() throws -> UInt8 {
        guard position < bytes.count else { throw Malformed() }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func unsigned() throws -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            let next = try byte()
            value |= UInt64(next & 0x7F) << shift
            if next < 0x80 { return value }
        }
        throw Malformed()
    }

    mutating func integer() throws -> Int { Int(truncatingIfNeeded: Int64(bitPattern: try unsigned())) }

    mutating func signed() throws -> Int64 {
        let zigzag = try unsigned()
        return Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
    }

    /// A count of items still to come, each at least one byte long: bounded by what is left.
    mutating func count() throws -> Int {
        let count = try unsigned()
        guard count <= UInt64(bytes.count - position) else { throw Malformed() }
        return Int(count)
    }

    mutating func string() throws -> String {
        let length = try count()
        defer { position += length }
        return String(decoding: bytes[position..<position + length], as: UTF8.self)
    }

    mutating func hash() throws -> String {
        guard try byte() == 0 else { return try string() }
        guard bytes.count - position >= 32 else { throw Malformed() }
        defer { position += 32 }
        let hexDigits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for value in bytes[position..<position + 32] {
            hex.append(hexDigits[Int(value >> 4)])
            hex.append(hexDigits[Int(value & 0xF)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}

extension Manifest.Entry: IndexRecord {
    private static let kinds: [Kind] = [.file, .directory, .symlink]

    func write(to writer: inout RecordWriter) {
        writer.write(path)
        writer.bytes.append(UInt8(Self.kinds.firstIndex(of: kind)!))
        writer.write(UInt64(mode))
        writer.write(modified)
        writer.write(size)
        writer.write(inode)
        writer.write(device)
        writer.bytes.append((target == nil ? 0 : 1) | (chunks == nil ? 0 : 2) | (packed == nil ? 0 : 4))
        if let target { writer.write(target) }
        if let chunks {
            writer.write(chunks.count)
            for chunk in chunks { chunk.write(to: &writer) }
        }
        packed?.write(to: &writer)
    }

    init(from reader: inout RecordReader) throws {
        path = try reader.string()
        let kind = Int(try reader.byte())
        guard kind < Self.kinds.count else { throw RecordReader.Malformed() }
        self.kind = Self.kinds[kind]
        guard let mode = UInt32(exactly: try reader.unsigned()) else { throw RecordReader.Malformed() }
        self.mode = mode
        modified = try reader.signed()
        size = try reader.integer()
        inode = try reader.unsigned()
        device = try reader.unsigned()
        let present = try reader.byte()
        target = present & 1 != 0 ? try reader.string() : nil
        chunks = present & 2 != 0 ? try (0..<reader.count()).map { _ in try ChunkRef(from: &reader) } : nil
        packed = present & 4 != 0 ? try Manifest.PackedFile(from: &reader) : nil
    }
}

extension Manifest.PackedFile: IndexRecord {
    func write(to writer: inout RecordWriter) {
        writer.write(hash: pack)
        writer.write(offset)
        writer.write(hash: hash)
    }

    init(from reader: inout RecordReader) throws {
        pack = try reader.hash()
        offset = try reader.integer()
        hash = try reader.hash()
    }
}

extension ChunkRef: IndexRecord {
    func write(to writer: inout RecordWriter) {
        writer.write(hash: hash)
        writer.write(length)
        writer.bytes.append(compressed ? 1 : 0)
        writer.write(object.dataShards)
        writer.write(object.parityShards)
        writer.write(object.sealedLength)
        writer.write(object.fragments.count)
        for fragment in object.fragments {
            writer.write(hash: fragment.key)
            writer.write(fragment.node)
        }
    }

    init(from reader: inout RecordReader) throws {
        hash = try reader.hash()
        length = try reader.integer()
        compressed = try reader.byte() != 0
        let dataShards = try reader.integer()
        let parityShards = try reader.integer()
        let sealedLength = try reader.integer()
        let fragments = try (0..<reader.count()).map { _ in
            ObjectRef.FragmentLocation(key: try reader.hash(), node: try reader.string())
        }
        object = ObjectRef(dataShards: dataShards, parityShards: parityShards, sealedLength: sealedLength, fragments: fragments)
    }
}
