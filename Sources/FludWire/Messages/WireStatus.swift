/// The outcome a response carries in its status byte.
public enum WireStatus: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case ok = 0
    /// No fragment with this key is here (or none claimed by the caller).
    case notFound = 1
    /// The bytes do not hash to the key they were sent under.
    case badKey = 2
    /// Storing would take the caller over its share of this node.
    case quotaExceeded = 3
    /// The request came before a completed handshake, or the handshake failed.
    case unauthenticated = 4
    /// The request ID is not above every earlier one on this connection.
    case replayed = 5
    /// A verify challenge reaches past the fragment's end.
    case outOfRange = 6
    /// The node's store is full.
    case storeFull = 7
    /// The request could not be parsed.
    case malformed = 8
    /// The fragment or frame is larger than the node accepts.
    case tooLarge = 9
    /// The caller failed too often lately; it must wait.
    case throttled = 10
    /// The stored copy failed its checksum (the node has lost it).
    case corrupt = 11
    /// The request type is not known to this node.
    case unsupported = 12
    /// The node failed for a reason of its own.
    case internalError = 13

    public var description: String {
        switch self {
        case .ok: "ok"
        case .notFound: "not found"
        case .badKey: "bad key"
        case .quotaExceeded: "quota exceeded"
        case .unauthenticated: "not authenticated"
        case .replayed: "replayed request"
        case .outOfRange: "out of range"
        case .storeFull: "store full"
        case .malformed: "malformed request"
        case .tooLarge: "too large"
        case .throttled: "throttled"
        case .corrupt: "stored copy corrupt"
        case .unsupported: "unsupported request"
        case .internalError: "internal error"
        }
    }
}

/// Why a wire operation failed.
public enum WireError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The peer answered with an error status and message.
    case refused(WireStatus, String)
    /// Bytes that do not parse as the protocol says.
    case malformed(String)
    /// A frame announced more bytes than the limit.
    case frameTooLarge(size: Int, limit: Int)
    /// The peer could not be reached, or the connection broke.
    case unreachable(String)
    /// The peer proved an identity other than the one expected, or none.
    case handshakeFailed(String)
    /// No answer in time.
    case timedOut(String)

    /// The peer did not answer (down, unreachable, or its packets were
    /// lost): unlike a refusal or bad bytes, asking again later may work.
    public var isNoAnswer: Bool {
        switch self {
        case .unreachable, .timedOut: true
        case .refused, .malformed, .frameTooLarge, .handshakeFailed: false
        }
    }

    public var description: String {
        switch self {
        case let .refused(status, message): message.isEmpty ? "\(status)" : "\(status): \(message)"
        case let .malformed(message): "malformed message: \(message)"
        case let .frameTooLarge(size, limit): "frame of \(size) bytes exceeds the limit of \(limit)"
        case let .unreachable(message): "unreachable: \(message)"
        case let .handshakeFailed(message): "handshake failed: \(message)"
        case let .timedOut(message): "timed out: \(message)"
        }
    }

    /// The status to answer with when this error ends a request.
    public var status: WireStatus {
        switch self {
        case let .refused(status, _): status
        case .malformed: .malformed
        case .frameTooLarge: .tooLarge
        case .handshakeFailed: .unauthenticated
        case .unreachable, .timedOut: .internalError
        }
    }
}
