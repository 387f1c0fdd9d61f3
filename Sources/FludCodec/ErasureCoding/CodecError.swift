/// Why the erasure code refused a request.
public enum CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// k and m must satisfy k ≥ 1, m ≥ 1 and k + m ≤ 255.
    case invalidCode(dataShards: Int, parityShards: Int)
    /// Fewer than k shards are present, so the stripe cannot be rebuilt.
    case tooFewShards(present: Int, needed: Int)
    /// The stripe buffer does not hold k + m shards.
    case stripeMismatch(expected: Int, actual: Int)
    /// The requested kernel cannot run on this CPU.
    case kernelUnsupported(String)

    public var description: String {
        switch self {
        case let .invalidCode(k, m):
            return "a Reed-Solomon code needs k ≥ 1, m ≥ 1 and k + m ≤ 255 (got k = \(k), m = \(m))"
        case let .tooFewShards(present, needed):
            return "only \(present) shards are present but \(needed) are needed to rebuild the stripe"
        case let .stripeMismatch(expected, actual):
            return "the stripe buffer holds \(actual) shards but the code needs \(expected)"
        case let .kernelUnsupported(name):
            return "the '\(name)' kernel cannot run on this CPU"
        }
    }
}
