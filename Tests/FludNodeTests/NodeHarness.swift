import FludCodec
import FludTestSupport
import FludWire
import Foundation
import Logging
@testable import FludNode
#if canImport(Glibc)
import Glibc
#endif

/// Nodes in tests log errors only.
let quietLogger: Logger = {
    var logger = Logger(label: "flud.test-node")
    logger.logLevel = .error
    return logger
}()

/// A storage node of this process on 127.0.0.1, in a temporary directory.
final class NodeHarness: @unchecked Sendable {
    let directory: TemporaryDirectory
    let node: StorageNode

    static func start(_ configure: (inout StorageNode.Configuration) -> Void = { _ in }) async throws -> NodeHarness {
        let directory = try TemporaryDirectory(prefix: "flud-node")
        var configuration = StorageNode.Configuration(data: directory.path + "/node")
        configure(&configuration)
        return NodeHarness(directory: directory, node: try await StorageNode.start(configuration, logger: quietLogger))
    }

    private init(directory: TemporaryDirectory, node: StorageNode) {
        self.directory = directory
        self.node = node
    }

    func client(_ identity: PeerIdentity = PeerIdentity()) async throws -> FragmentClient {
        try await FragmentClient.connect(host: "127.0.0.1", port: node.port, identity: identity)
    }

    func stop() async {
        await node.stop()
    }
}

/// A blocking TCP connection speaking raw bytes, for feeding a node what no
/// well-behaved client would send. Its blocking calls run on a thread of
/// their own (``onOwnThread(_:)``), never on the concurrency pool the node needs.
final class RawConnection: @unchecked Sendable {
    private let socket: Int32
    private var decoder = FrameDecoder(maximumBodySize: 1 << 20)
    /// Frames that arrived together with an earlier one.
    private var received: [Frame] = []

    init(port: Int) throws {
        // Generous: other suites of the same test process may keep the
        // node's threads busy for a while; a closed socket still shows at once.
        guard let socket = LoopbackSocket.connect(port: port, receiveTimeout: 30) else {
            throw WireError.unreachable("raw connect failed")
        }
        self.socket = socket
    }

    deinit { close(socket) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// The next frame, or nil once the node has closed the connection.
    func receive() throws -> Frame? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.isEmpty {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count == 0 { return nil }
            if count < 0 {
                if errno == ECONNRESET { return nil }
                throw WireError.timedOut("no frame from the node within 30 s")
            }
            try buffer.prefix(count).withUnsafeBytes { try decoder.feed($0) { received.append($0) } }
        }
        return received.removeFirst()
    }

    /// True once the node has closed the connection (within the receive timeout).
    func isClosedByNode() throws -> Bool {
        while let _ = try receive() {}
        return true
    }

    /// Runs the handshake as `identity`; returns the next request ID to use.
    func authenticate(as identity: PeerIdentity) throws {
        let clientNonce = Handshake.randomNonce()
        send(Frame(kind: RequestKind.hello.rawValue, requestID: 1,
                   body: Handshake.helloRequest(key: identity.publicKey, nonce: clientNonce)).encoded)
        guard let hello = try receive() else { throw WireError.unreachable("closed during hello") }
        let (serverKey, serverNonce, _) = try Handshake.parseHelloResponse(hello.body)
        let transcript = Handshake.transcript(server: false, clientKey: identity.publicKey, clientNonce: clientNonce,
                                              serverKey: serverKey, serverNonce: serverNonce)
        send(Frame(kind: RequestKind.authenticate.rawValue, requestID: 2, body: identity.signature(for: transcript)).encoded)
        guard let answer = try receive(), answer.status == WireStatus.ok.rawValue else {
            throw WireError.handshakeFailed("refused")
        }
    }
}

func fragment(_ size: Int, seed: UInt64) -> (key: ContentHash, bytes: [UInt8]) {
    let bytes = deterministicBytes(size, seed: seed)
    return (ContentHash(fragment: bytes), bytes)
}

func refusal(_ error: Error) -> WireStatus? {
    if case let .refused(status, _) = error as? WireError { return status }
    return nil
}
