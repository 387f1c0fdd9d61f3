/// A 160-bit Kademlia node ID or lookup target (BEP 5), compared by XOR distance.
public struct NodeID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let byteCount = 20
    /// Big-endian: bytes[0] is the most significant.
    public let bytes: [UInt8]

    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        self.bytes = Array(bytes)
    }

    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * Self.byteCount else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        self.bytes = bytes
    }

    /// A uniformly random ID.
    public static func random<Generator: RandomNumberGenerator>(using generator: inout Generator) -> NodeID {
        NodeID(bytes: (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) })!
    }

    public static func random() -> NodeID {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    /// XOR distance to `other`, as an ID-sized number.
    public func distance(to other: NodeID) -> NodeID {
        NodeID(bytes: zip(bytes, other.bytes).map { $0 ^ $1 })!
    }

    /// Number of leading bits shared with `other` (160 when equal).
    public func commonPrefixLength(with other: NodeID) -> Int {
        for index in 0..<Self.byteCount {
            let difference = bytes[index] ^ other.bytes[index]
            if difference != 0 { return index * 8 + difference.leadingZeroBitCount }
        }
        return 8 * Self.byteCount
    }

    /// Bit `index` counted from the most significant (0).
    public func bit(_ index: Int) -> Bool {
        bytes[index / 8] & (0x80 >> UInt8(index % 8)) != 0
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

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    public var hex: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    public var description: String { hex }
}
