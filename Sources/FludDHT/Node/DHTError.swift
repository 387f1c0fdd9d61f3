/// Why a DHT operation failed.
public enum DHTError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No answer within the timeout.
    case timeout(address: String)
    /// The remote node answered with a KRPC error.
    case remote(KRPCError)
    /// The answer was not a valid response.
    case malformedResponse(String)
    /// The address could not be parsed or resolved.
    case badAddress(String)
    /// The node was shut down.
    case closed

    public var description: String {
        switch self {
        case let .timeout(address): "no answer from \(address)"
        case let .remote(error): "the node answered with error \(error.code.rawValue): \(error.message)"
        case let .malformedResponse(reason): "malformed response: \(reason)"
        case let .badAddress(text): "'\(text)' is not a HOST:PORT address"
        case .closed: "the DHT node is closed"
        }
    }
}
