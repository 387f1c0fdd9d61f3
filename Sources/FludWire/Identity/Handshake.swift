/// The handshake that opens every connection: each side proves its Ed25519
/// key by signing both sides' fresh nonces, so a recorded handshake or request
/// stream cannot be replayed on a new connection.
///
///     client → HELLO  "FLUD" | version | client key | client nonce
///     server ← HELLO  server key | server nonce | server signature
///     client → AUTH   client signature
///     server ← AUTH   ok, or unauthenticated and the connection closes
public enum Handshake {
    public static let magic = Array("FLUD".utf8)
    public static let version: UInt8 = 1
    public static let nonceSize = 32
    public static let signatureSize = 64
    static let helloSize = magic.count + 1 + PeerKey.byteCount + nonceSize

    /// What each side signs: its role, then both keys and nonces.
    public static func transcript(server: Bool, clientKey: PeerKey, clientNonce: [UInt8],
                                  serverKey: PeerKey, serverNonce: [UInt8]) -> [UInt8] {
        Array((server ? "flud-wire-1 server" : "flud-wire-1 client").utf8)
            + clientKey.bytes + clientNonce + serverKey.bytes + serverNonce
    }

    public static func helloRequest(key: PeerKey, nonce: [UInt8]) -> [UInt8] {
        magic + [version] + key.bytes + nonce
    }

    public static func parseHelloRequest(_ body: [UInt8]) throws(WireError) -> (key: PeerKey, nonce: [UInt8]) {
        guard body.count == helloSize, body.starts(with: magic) else { throw .handshakeFailed("not a flud hello") }
        guard body[magic.count] == version else {
            throw .handshakeFailed("protocol version \(body[magic.count]) is not supported (this node speaks \(version))")
        }
        let keyStart = magic.count + 1
        guard let key = PeerKey(bytes: body[keyStart..<keyStart + PeerKey.byteCount]) else {
            throw .handshakeFailed("the hello carries an invalid public key")
        }
        return (key, Array(body[(keyStart + PeerKey.byteCount)...]))
    }

    public static func parseHelloResponse(_ body: [UInt8]) throws(WireError) -> (key: PeerKey, nonce: [UInt8], signature: [UInt8]) {
        guard body.count == PeerKey.byteCount + nonceSize + signatureSize,
              let key = PeerKey(bytes: body[0..<PeerKey.byteCount]) else {
            throw .handshakeFailed("the node's hello is malformed")
        }
        let nonceEnd = PeerKey.byteCount + nonceSize
        return (key, Array(body[PeerKey.byteCount..<nonceEnd]), Array(body[nonceEnd...]))
    }

    public static func randomNonce() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<nonceSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
