/// A 160-bit Kademlia node ID or lookup target (BEP 5), compared by XOR distance.
///
/// Held inline as three big-endian words rather than a byte array: a lookup
/// compares, hashes and copies IDs millions of times a second, and words need
/// no heap allocation or reference counting.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let byteCount = 20
    /// Bytes 0–7, 8–15 and 16–19, each read big-endian, so comparing the words
    /// in order compares the bytes in order.
    @usableFromInline let high: UInt64
    @usableFromInline let middle: UInt64
    @usableFromInline let low: UInt32

    @usableFromInline init(high: UInt64, middle: UInt64, low: UInt32) {
        self.high = high
        self.middle = middle
        self.low = low
    }

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        var high: UInt64 = 0, middle: UInt64 = 0, low: UInt32 = 0
        for (index, byte) in bytes.enumerated() {
            switch index {
            case 0..<8: high = high << 8 | UInt64(byte)
            case 8..<16: middle = middle << 8 | UInt64(byte)
            default: low = low << 8 | UInt32(byte)
            }
        }
        self.init(high: high, middle: middle, low: low)
    }

    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.byteCount else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.init(bytes: bytes)
    }

    /// Big-endian: bytes[0] is the most significant.
    public var bytes: [UInt8] {
        var result = [UInt8](repeating: 0, count: Self.byteCount)
        write(into: &result, at: 0)
        return result
    }

    /// Writes the 20 bytes at `offset` of `buffer` (which must have room).
    func write(into buffer: inout [UInt8], at offset: Int) {
        withUnsafeBytes(of: high.bigEndian) { buffer.replaceSubrange(offset..<offset + 8, with: $0) }
        withUnsafeBytes(of: middle.bigEndian) { buffer.replaceSubrange(offset + 8..<offset + 16, with: $0) }
        withUnsafeBytes(of: low.bigEndian) { buffer.replaceSubrange(offset + 16..<offset + 20, with: $0) }
    }

    /// A uniformly random ID.
    public static func random<Generator: RandomNumberGenerator>(using generator: inout Generator) -> NodeID {
        NodeID(high: generator.next(), middle: generator.next(), low: UInt32(truncatingIfNeeded: generator.next() as UInt64))
    }

    public static func random() -> NodeID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// XOR distance to `other`, as an ID-sized number.
    @inlinable
    public func distance(to other: NodeID) -> NodeID {
        NodeID(high: high ^ other.high, middle: middle ^ other.middle, low: low ^ other.low)
    }

    /// Whether `self` is closer than `other` to `target` by XOR distance.
    @inlinable
    public func isCloser(than other: NodeID, to target: NodeID) -> Bool {
        distance(to: target) < other.distance(to: target)
    }

    /// Number of leading bits shared with `other` (160 when equal).
    public func commonPrefixLength(with other: NodeID) -> Int {
        let difference = distance(to: other)
        if difference.high != 0 { return difference.high.leadingZeroBitCount }
        if difference.middle != 0 { return 64 + difference.middle.leadingZeroBitCount }
        return 128 + (difference.low == 0 ? 32 : difference.low.leadingZeroBitCount)
    }

    /// Bit `index` counted from the most significant (0).
    public func bit(_ index: Int) -> Bool {
        switch index {
        case 0..<64: return high >> (63 - index) & 1 == 1
        case 64..<128: return middle >> (127 - index) & 1 == 1
        default: return low >> (159 - index) & 1 == 1
        }
    }

    /// A random ID that shares exactly the first `prefixLength` bits with `self`
    /// and differs in the next one: a target inside one bucket's range.
    public func randomID<Generator: RandomNumberGenerator>(sharingPrefix prefixLength: Int, using generator: inout Generator) -> NodeID {
        precondition((0..<160).contains(prefixLength))
        var result = NodeID.random(using: &generator).bytes
        for index in 0...prefixLength {
            let mask: UInt8 = 0x80 >> UInt8(index % 8)
            let wanted = index == prefixLength ? !bit(index) : bit(index)
            if wanted { result[index / 8] |= mask } else { result[index / 8] &= ~mask }
        }
        return NodeID(bytes: result)!
    }

    @inlinable
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool {
        (lhs.high, lhs.middle, lhs.low) < (rhs.high, rhs.middle, rhs.low)
    }

    public var hex: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    public var description: String { hex }
}
