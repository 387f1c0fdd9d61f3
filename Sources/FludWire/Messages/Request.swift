import FludCodec

/// The request types; a response's kind is the request's with bit 7 set.
public enum RequestKind: UInt8, Sendable, CaseIterable {
    case hello = 1
    case authenticate = 2
    case store = 3
    case retrieve = 4
    case verify = 5
    case delete = 6
    case stat = 7
    case list = 8
    case status = 9
    case renew = 10

    public var responseKind: UInt8 { rawValue | 0x80 }
}

/// A fragment request, after the handshake. Body layouts are in docs/PROTOCOL.md.
public enum Request: Sendable, Equatable {
    /// Store `bytes` under `key`, claimed by the caller until `leaseExpiry`
    /// (Unix seconds; 0 lets the node choose its default lease).
    case store(key: ContentHash, leaseExpiry: UInt64, bytes: ArraySlice<UInt8>)
    case retrieve(key: ContentHash)
    /// Prove possession: answer SHA-256(nonce ‖ bytes[offset ..< offset + length]).
    case verify(key: ContentHash, challenge: AuditChallenge)
    /// Drop the caller's claim.
    case delete(key: ContentHash)
    /// Size and lease of a fragment the caller claims.
    case stat(key: ContentHash)
    /// The caller's fragments in key order after `after`, at most `limit`.
    case list(after: ContentHash?, limit: UInt32)
    /// The node's identity and load (JSON).
    case status
    /// Extend the caller's claim on `key` to at least `leaseExpiry` (Unix seconds), without sending the bytes again.
    case renew(key: ContentHash, leaseExpiry: UInt64)

    public var kind: RequestKind {
        switch self {
        case .store: .store
        case .retrieve: .retrieve
        case .verify: .verify
        case .delete: .delete
        case .stat: .stat
        case .list: .list
        case .status: .status
        case .renew: .renew
        }
    }

    /// The body, except a store's fragment bytes, which follow it (so they are
    /// written from the caller's buffer without a copy).
    public var encodedHead: [UInt8] {
        var body: [UInt8] = []
        switch self {
        case let .store(key, leaseExpiry, _), let .renew(key, leaseExpiry):
            body = key.bytes
            body.appendBigEndian(leaseExpiry)
        case let .retrieve(key), let .delete(key), let .stat(key):
            body = key.bytes
        case let .verify(key, challenge):
            body = key.bytes + challenge.nonce
            body.appendBigEndian(challenge.offset)
            body.appendBigEndian(challenge.length)
        case let .list(after, limit):
            body = after?.bytes ?? [UInt8](repeating: 0, count: ContentHash.byteCount)
            body.appendBigEndian(limit)
        case .status:
            break
        }
        return body
    }

    /// Parses a request body of `kind`.
    public init(kind: RequestKind, body: [UInt8]) throws(WireError) {
        var reader = BodyReader(body)
        func key(_ field: String = "key") throws(WireError) -> ContentHash {
            ContentHash(bytes: try reader.bytes(ContentHash.byteCount, field))!
        }
        switch kind {
        case .store:
            let key = try key()
            let leaseExpiry = try reader.integer(UInt64.self, "lease expiry")
            self = .store(key: key, leaseExpiry: leaseExpiry, bytes: reader.rest())
            return
        case .retrieve: self = .retrieve(key: try key())
        case .delete: self = .delete(key: try key())
        case .stat: self = .stat(key: try key())
        case .verify:
            let key = try key()
            let nonce = Array(try reader.bytes(AuditChallenge.nonceSize, "nonce"))
            let offset = try reader.integer(UInt64.self, "offset")
            let length = try reader.integer(UInt64.self, "length")
            self = .verify(key: key, challenge: AuditChallenge(nonce: nonce, offset: offset, length: length))
        case .list:
            let after = try key("after")
            let limit = try reader.integer(UInt32.self, "limit")
            self = .list(after: after.bytes.allSatisfy { $0 == 0 } ? nil : after, limit: limit)
        case .status: self = .status
        case .renew: self = .renew(key: try key(), leaseExpiry: try reader.integer(UInt64.self, "lease expiry"))
        case .hello, .authenticate: throw .malformed("a handshake message after the handshake")
        }
        try reader.expectEnd("the \(kind) request")
    }
}

/// A fragment's entry in a STAT or LIST answer.
public struct FragmentInfo: Sendable, Equatable {
    public var key: ContentHash
    public var size: UInt64
    public var leaseExpiry: UInt64

    public init(key: ContentHash, size: UInt64, leaseExpiry: UInt64) {
        self.key = key
        self.size = size
        self.leaseExpiry = leaseExpiry
    }

    static let encodedSize = ContentHash.byteCount + 16

    func encode(into body: inout [UInt8]) {
        body += key.bytes
        body.appendBigEndian(size)
        body.appendBigEndian(leaseExpiry)
    }

    init(reading reader: inout BodyReader) throws(WireError) {
        key = ContentHash(bytes: try reader.bytes(ContentHash.byteCount, "key"))!
        size = try reader.integer(UInt64.self, "size")
        leaseExpiry = try reader.integer(UInt64.self, "lease expiry")
    }

    /// A LIST answer: a count, then that many entries.
    public static func encodeList(_ entries: [FragmentInfo]) -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(4 + entries.count * encodedSize)
        body.appendBigEndian(UInt32(entries.count))
        for entry in entries { entry.encode(into: &body) }
        return body
    }

    public static func decodeList(_ body: [UInt8]) throws(WireError) -> [FragmentInfo] {
        var reader = BodyReader(body)
        let count = Int(try reader.integer(UInt32.self, "count"))
        guard count * encodedSize == reader.remaining else { throw .malformed("a list of \(count) entries has \(reader.remaining) bytes") }
        var entries: [FragmentInfo] = []
        for _ in 0..<count { entries.append(try FragmentInfo(reading: &reader)) }
        return entries
    }

    public var encoded: [UInt8] {
        var body: [UInt8] = []
        encode(into: &body)
        return body
    }

    public init(decoding body: [UInt8]) throws(WireError) {
        var reader = BodyReader(body)
        try self.init(reading: &reader)
        try reader.expectEnd("a fragment entry")
    }
}
