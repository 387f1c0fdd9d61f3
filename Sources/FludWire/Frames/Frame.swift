/// One message on a flud wire connection.
///
/// Layout (all integers big-endian, see docs/PROTOCOL.md):
///
///     0  u32  length of what follows this field (6 + body)
///     4  u8   kind: the request type; responses set bit 7
///     5  u8   status: 0 in requests; a ``WireStatus`` in responses
///     6  u32  request ID, echoed by the response
///     10 ...  body
public struct Frame: Sendable, Equatable {
    /// Bytes before the body.
    public static let headerSize = 10
    /// Bytes counted by the length field besides the body.
    static let lengthCovered = 6

    public var kind: UInt8
    public var status: UInt8
    public var requestID: UInt32
    public var body: [UInt8]

    public init(kind: UInt8, status: UInt8 = 0, requestID: UInt32, body: [UInt8] = []) {
        self.kind = kind
        self.status = status
        self.requestID = requestID
        self.body = body
    }

    public var isResponse: Bool { kind & 0x80 != 0 }

    /// The header's bytes for a body of `bodyCount` bytes.
    public static func header(kind: UInt8, status: UInt8, requestID: UInt32, bodyCount: Int) -> [UInt8] {
        var header = [UInt8]()
        header.reserveCapacity(headerSize)
        header.appendBigEndian(UInt32(lengthCovered + bodyCount))
        header.append(kind)
        header.append(status)
        header.appendBigEndian(requestID)
        return header
    }

    /// The whole frame as bytes.
    public var encoded: [UInt8] {
        Self.header(kind: kind, status: status, requestID: requestID, bodyCount: body.count) + body
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<Integer: FixedWidthInteger>(_ value: Integer) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}

/// Reads big-endian integers and fixed fields from a body, failing with
/// ``WireError/malformed(_:)`` instead of trapping on short input.
struct BodyReader {
    private let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func integer<Integer: FixedWidthInteger>(_: Integer.Type, _ field: String) throws(WireError) -> Integer {
        let size = MemoryLayout<Integer>.size
        guard remaining >= size else { throw .malformed("\(field) is cut short") }
        var value: Integer = 0
        for byte in bytes[offset..<offset + size] { value = value << 8 | Integer(byte) }
        offset += size
        return value
    }

    mutating func bytes(_ count: Int, _ field: String) throws(WireError) -> ArraySlice<UInt8> {
        guard remaining >= count else { throw .malformed("\(field) is cut short") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// The unread rest, without copying.
    mutating func rest() -> ArraySlice<UInt8> {
        defer { offset = bytes.count }
        return bytes[offset...]
    }

    func expectEnd(_ message: String) throws(WireError) {
        guard remaining == 0 else { throw .malformed("\(message) has \(remaining) trailing bytes") }
    }
}
