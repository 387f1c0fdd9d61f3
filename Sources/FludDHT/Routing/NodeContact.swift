/// A DHT node as other nodes know it: ID, IPv4 address and UDP port.
public struct NodeContact: Hashable, Sendable, CustomStringConvertible {
    public let id: NodeID
    /// IPv4 address in network order, e.g. [127, 0, 0, 1].
    public let address: [UInt8]
    public let port: UInt16

    public init(id: NodeID, address: [UInt8], port: UInt16) {
        precondition(address.count == 4, "compact node info carries IPv4 addresses")
        self.id = id
        self.address = address
        self.port = port
    }

    public var host: String { address.map(String.init).joined(separator: ".") }
    public var description: String { "\(id.hex.prefix(8))…@\(host):\(port)" }

    /// BEP 5 compact node info: 20-byte ID, 4-byte IP, 2-byte port, big-endian.
    public var compact: [UInt8] {
        id.bytes + address + [UInt8(port >> 8), UInt8(port & 0xFF)]
    }

    public static let compactSize = 26

    /// Contacts from a `nodes` string; nil if its length is not a multiple of 26.
    public static func decodeCompact(_ bytes: [UInt8]) -> [NodeContact]? {
        guard bytes.count % compactSize == 0 else { return nil }
        return stride(from: 0, to: bytes.count, by: compactSize).map { start in
            let entry = bytes[start..<start + compactSize]
            let port = UInt16(entry[start + 24]) << 8 | UInt16(entry[start + 25])
            return NodeContact(id: NodeID(bytes: entry.prefix(20))!, address: Array(entry[start + 20..<start + 24]), port: port)
        }
    }
}
