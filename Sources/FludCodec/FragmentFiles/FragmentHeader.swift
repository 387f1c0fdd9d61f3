/// The self-describing header at the start of every fragment file, so that any
/// k fragments rebuild the file with nothing else at hand.
///
/// Layout (version 1, integers little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `FLUDFRAG` |
/// | 8 | 2 | format version (1) |
/// | 10 | 1 | k, data shards |
/// | 11 | 1 | m, parity shards |
/// | 12 | 1 | this fragment's index, 0 ..< k + m |
/// | 13 | 1 | L, length of the file name |
/// | 14 | 2 | reserved, 0 |
/// | 16 | 8 | length of the original file |
/// | 24 | 4 | stripe size: file bytes per full stripe (a multiple of k) |
/// | 28 | 4 | reserved, 0 |
/// | 32 | 32 | SHA-256 of the original file |
/// | 64 | L | the original file's name (UTF-8, no directory) |
/// | 64 + L | 4 | CRC-32C of bytes 0 ..< 64 + L |
///
/// The payload follows: one segment per stripe, each this fragment's shard of
/// the stripe followed by the CRC-32C of that shard. Checksumming the payload per
/// segment locates corruption to one stripe, so a spare fragment replaces the bad
/// one for that stripe only.
public struct FragmentHeader: Equatable, Sendable {
    public static let magic = Array("FLUDFRAG".utf8)
    public static let version: UInt16 = 1
    /// Bytes before the file name.
    static let fixedSize = 64
    /// Large enough for any header: the fixed part, a 255-byte name and the CRC.
    public static let maximumSize = fixedSize + 255 + 4

    public var dataShards: Int
    public var parityShards: Int
    public var index: Int
    public var fileLength: Int
    public var stripeSize: Int
    public var fileHash: ContentHash
    public var fileName: String

    public init(dataShards: Int, parityShards: Int, index: Int, fileLength: Int,
                stripeSize: Int, fileHash: ContentHash, fileName: String) {
        self.dataShards = dataShards
        self.parityShards = parityShards
        self.index = index
        self.fileLength = fileLength
        self.stripeSize = stripeSize
        self.fileHash = fileHash
        self.fileName = fileName
    }

    /// Bytes of the encoded header.
    public var size: Int { Self.fixedSize + fileName.utf8.count + 4 }

    /// Number of stripes the file is cut into.
    public var stripeCount: Int { (fileLength + stripeSize - 1) / stripeSize }

    /// Bytes of the file in stripe `stripe`.
    public func dataBytes(inStripe stripe: Int) -> Int {
        min(stripeSize, fileLength - stripe * stripeSize)
    }

    /// Bytes of one shard of stripe `stripe`.
    public func shardLength(inStripe stripe: Int) -> Int {
        StripeBuffer.shardLength(dataBytes: dataBytes(inStripe: stripe), dataShards: dataShards)
    }

    /// Where stripe `stripe`'s segment starts in the fragment file.
    public func segmentOffset(ofStripe stripe: Int) -> Int {
        size + stripe * (stripeSize / dataShards + 4)
    }

    /// The exact size of a complete fragment file.
    public var fragmentFileSize: Int {
        guard stripeCount > 0 else { return size }
        return segmentOffset(ofStripe: stripeCount - 1) + shardLength(inStripe: stripeCount - 1) + 4
    }

    /// Whether `other` is a fragment of the same encoding of the same file.
    public func belongsWith(_ other: FragmentHeader) -> Bool {
        var mine = self
        mine.index = other.index
        return mine == other
    }

    /// The header as stored.
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.appendLittleEndian(Self.version)
        bytes += [UInt8(dataShards), UInt8(parityShards), UInt8(index), UInt8(fileName.utf8.count), 0, 0]
        bytes.appendLittleEndian(UInt64(fileLength))
        bytes.appendLittleEndian(UInt32(stripeSize))
        bytes.appendLittleEndian(UInt32(0))
        bytes += fileHash.bytes
        bytes += fileName.utf8
        bytes.appendLittleEndian(CRC32C.checksum(bytes))
        return bytes
    }

    /// Parses and checks a header from the start of a fragment file.
    ///
    /// - Parameter bytes: the file's first bytes (up to ``maximumSize``).
    /// - Throws: ``FragmentError`` naming what is wrong.
    public init(decoding bytes: [UInt8]) throws(FragmentError) {
        guard bytes.count >= Self.fixedSize + 4, Array(bytes[0..<8]) == Self.magic else { throw .notAFragment }
        let version = bytes.littleEndian(UInt16.self, at: 8)
        guard version == Self.version else { throw .unsupportedVersion(Int(version)) }
        let nameLength = Int(bytes[13])
        let crcOffset = Self.fixedSize + nameLength
        guard bytes.count >= crcOffset + 4 else { throw .truncatedHeader }
        guard CRC32C.checksum(bytes[0..<crcOffset]) == bytes.littleEndian(UInt32.self, at: crcOffset) else {
            throw .corruptHeader
        }
        dataShards = Int(bytes[10])
        parityShards = Int(bytes[11])
        index = Int(bytes[12])
        fileLength = Int(truncatingIfNeeded: bytes.littleEndian(UInt64.self, at: 16))
        stripeSize = Int(bytes.littleEndian(UInt32.self, at: 24))
        fileHash = ContentHash(bytes: bytes[32..<64])!
        guard let name = String(validating: bytes[64..<crcOffset], as: UTF8.self) else { throw .corruptHeader }
        fileName = name
        // A valid CRC over impossible values means a bug or a crafted file: refuse it.
        guard dataShards >= 1, parityShards >= 1, dataShards + parityShards <= 255,
              index < dataShards + parityShards, fileLength >= 0,
              stripeSize > 0, stripeSize % dataShards == 0,
              !fileName.contains("/"), fileName != ".", fileName != ".." else {
            throw .corruptHeader
        }
    }
}

/// What is wrong with a fragment file.
public enum FragmentError: Error, Equatable, Sendable, CustomStringConvertible {
    case notAFragment
    case unsupportedVersion(Int)
    case truncatedHeader
    case corruptHeader

    public var description: String {
        switch self {
        case .notAFragment: "not a flud fragment (bad magic)"
        case let .unsupportedVersion(version): "fragment format version \(version) is not supported"
        case .truncatedHeader: "the fragment header is truncated"
        case .corruptHeader: "the fragment header is corrupt (checksum mismatch)"
        }
    }
}

extension [UInt8] {
    mutating func appendLittleEndian<Integer: FixedWidthInteger>(_ value: Integer) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    func littleEndian<Integer: FixedWidthInteger>(_ type: Integer.Type, at offset: Int) -> Integer {
        var value: Integer = 0
        for byte in self[offset..<offset + MemoryLayout<Integer>.size].reversed() {
            value = value << 8 | Integer(byte)
        }
        return value
    }
}
