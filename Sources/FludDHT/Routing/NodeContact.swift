/// A DHT node as other nodes know it: ID, IPv4 address and UDP port.
public struct NodeContact: Hashable, Sendable, CustomStringConvertible {
    public let id: NodeID
    /// The IPv4 address as a number: 127.0.0.1 is 0x7F00_0001.
    public let ipv4: UInt32
    public let port: UInt16

    public init(id: NodeID, ipv4: UInt32, port: UInt16) {
        self.id = id
        self.ipv4 = ipv4
        self.port = port
    }

    public init(id: NodeID, address: [UInt8], port: UInt16) {
        precondition(address.count == 4, "compact node info carries IPv4 addresses")
        self.init(id: id, ipv4: address.reduce(0) { $0 << 8 | UInt32($1) }, port: port)
    }

    /// IPv4 address in network order, e.g. [127, 0, 0, 1].
    public var address: [UInt8] { withUnsafeBytes(of: ipv4.bigEndian, Array.init) }
    public var host: String { address.map(String.init).joined(separator: ".") }
    public var description: String { "\(id.hex.prefix(8))…@\(host):\(port)" }

    /// BEP 5 compact node info: 20-byte ID, 4-byte IP, 2-byte port, big-endian.
    public var compact: [UInt8] { Self.compact([self]) }

    /// Writes the compact form at `offset` of `buffer` (which must have room).
    private func writeCompact(into buffer: inout [UInt8], at offset: Int) {
        id.write(into: &buffer, at: offset)
        withUnsafeBytes(of: ipv4.bigEndian) { buffer.replaceSubrange(offset + 20..<offset + 24, with: $0) }
        buffer[offset + 24] = UInt8(port >> 8)
        buffer[offset + 25] = UInt8(port & 0xFF)
    }

    /// The compact forms of `contacts`, one after the other (a `nodes` string).
    public static func compact(_ contacts: [NodeContact]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: contacts.count * compactSize)
        for (index, contact) in contacts.enumerated() { contact.writeCompact(into: &bytes, at: index * compactSize) }
        return bytes
    }

    public static let compactSize = 26

    /// Contacts from a `nodes` string; nil if its length is not a multiple of 26.
    public static func decodeCompact(_ bytes: [UInt8]) -> [NodeContact]? {
        guard bytes.count % compactSize == 0 else { return nil }
        return bytes.withUnsafeBytes { raw in
            stride(from: 0, to: raw.count, by: compactSize).map { start in
                func word<Word: FixedWidthInteger>(at offset: Int, as: Word.Type) -> Word {
                    Word(bigEndian: raw.loadUnaligned(fromByteOffset: start + offset, as: Word.self))
                }
                let id = NodeID(high: word(at: 0, as: UInt64.self), middle: word(at: 8, as: UInt64.self), low: word(at: 16, as: UInt32.self))
                return NodeContact(id: id, ipv4: word(at: 20, as: UInt32.self), port: word(at: 24, as: UInt16.self))
            }
        }
    }
}
