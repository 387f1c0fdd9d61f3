import Crypto

/// Write tokens for `announce_peer` and BEP 44 `put` (BEP 5): a token is
/// SHA-1 of the querier's IP under a secret that rotates every five minutes,
/// and a token made under the current or the previous secret is accepted, so
/// it stays valid for five to ten minutes and only for the address it was
/// given to.
public struct TokenIssuer: Sendable {
    public static let rotationSeconds: Double = 5 * 60

    private var current: [UInt8]
    private var previous: [UInt8]
    private var rotatedAt: Double

    public init(now: Double) {
        current = Self.newSecret()
        previous = Self.newSecret()
        rotatedAt = now
    }

    /// The token for a querier at `address` (IPv4 bytes).
    public mutating func token(for address: [UInt8], now: Double) -> [UInt8] {
        rotateIfDue(now: now)
        return Self.token(address, secret: current)
    }

    /// Whether `token` was issued to `address` within the last two rotations.
    public mutating func isValid(_ token: [UInt8], for address: [UInt8], now: Double) -> Bool {
        rotateIfDue(now: now)
        return token == Self.token(address, secret: current) || token == Self.token(address, secret: previous)
    }

    private mutating func rotateIfDue(now: Double) {
        let elapsed = now - rotatedAt
        if elapsed >= 2 * Self.rotationSeconds {
            // Both secrets are too old: every earlier token is void.
            previous = Self.newSecret()
            current = Self.newSecret()
            rotatedAt = now
        } else if elapsed >= Self.rotationSeconds {
            previous = current
            current = Self.newSecret()
            rotatedAt += Self.rotationSeconds
        }
    }

    private static func token(_ address: [UInt8], secret: [UInt8]) -> [UInt8] {
        var hasher = Insecure.SHA1()
        hasher.update(data: address)
        hasher.update(data: secret)
        return Array(hasher.finalize().prefix(8))
    }

    private static func newSecret() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
