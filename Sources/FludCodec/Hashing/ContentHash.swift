import Crypto

/// The 32-byte cryptographic hash that names data in flud. ``init(of:)-(UnsafeRawBufferPointer)``
/// is SHA-256 (swift-crypto, using the CPU's SHA extensions), which checks the
/// files of `flud encode`, keys the local index by path and names what flud
/// named before BLAKE3; backed-up chunks and fragments are named by BLAKE3
/// (``init(chunk:)-(UnsafeRawBufferPointer)``, ``init(fragment:)-(UnsafeRawBufferPointer)``,
/// in `ContentHash+BLAKE3.swift`), twice as fast here.
public struct ContentHash: Hashable, Sendable, CustomStringConvertible {
    /// Bytes in a hash.
    public static let byteCount = 32

    private let words: (UInt64, UInt64, UInt64, UInt64)

    /// Hashes a buffer in one call.
    public init(of bytes: UnsafeRawBufferPointer) {
        var hasher = ContentHasher()
        hasher.update(bytes)
        self = hasher.finalize()
    }

    /// Hashes a byte collection in one call.
    public init<Bytes: Sequence<UInt8>>(of bytes: Bytes) {
        self = Array(bytes).withUnsafeBytes { ContentHash(of: $0) }
    }

    /// Reads a hash from exactly 32 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var words: [UInt64] = []
        var iterator = bytes.makeIterator()
        for _ in 0..<4 {
            var word: UInt64 = 0
            for shift in stride(from: 56, through: 0, by: -8) {
                word |= UInt64(iterator.next()!) << UInt64(shift)
            }
            words.append(word)
        }
        self.words = (words[0], words[1], words[2], words[3])
    }

    /// Reads a hash from 64 hexadecimal digits.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.byteCount else { return nil }
        var bytes: [UInt8] = []
        for pair in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[pair]), let low = hexValue(digits[pair + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.init(bytes: bytes)
    }

    /// The 32 bytes, most significant first (the digest's own order).
    public var bytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// Runs `body` on the 32 bytes without allocating (for lookups on hot paths).
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        let bigEndianWords = (words.0.bigEndian, words.1.bigEndian, words.2.bigEndian, words.3.bigEndian)
        return try Swift.withUnsafeBytes(of: bigEndianWords, body)
    }

    /// Lower-case hexadecimal.
    public var hex: String {
        bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    public var description: String { hex }

    public static func == (lhs: ContentHash, rhs: ContentHash) -> Bool {
        lhs.words == rhs.words
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}

/// Hashes data that arrives in pieces.
public struct ContentHasher: Sendable {
    private var state = SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        state.update(bufferPointer: bytes)
    }

    public func finalize() -> ContentHash {
        state.finalize().withUnsafeBytes { ContentHash(bytes: $0)! }
    }
}

private func hexValue(_ digit: UInt8) -> UInt8? {
    switch digit {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
    default: nil
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
