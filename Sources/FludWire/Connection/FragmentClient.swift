import FludCodec
import NIOCore
import NIOPosix

/// One authenticated connection to a node's fragment service.
///
/// Requests are multiplexed: any number may be in flight at once, each
/// matched to its answer by request ID, so one connection serves a whole
/// backup's worth of parallel transfers.
public final class FragmentClient: Sendable {
    /// The node's identity, as it proved in the handshake.
    public let nodeKey: PeerKey
    /// The identity this client proved: its claims on the node are under this key.
    public let identityKey: PeerKey
    public let address: SocketAddress
    private let channel: Channel
    private let handler: NIOLoopBound<ClientHandler>
    private let requestTimeout: TimeAmount

    /// What a STORE did on the node.
    public enum StoreOutcome: UInt8, Sendable {
        case stored = 0
        case claimAdded = 1
        case leaseRenewed = 2
    }

    /// Connects to `host:port`, proves `identity` and checks the node's.
    ///
    /// - Parameter expecting: the node's key, if known; a node proving another one is refused.
    public static func connect(host: String, port: Int, identity: PeerIdentity, expecting: PeerKey? = nil,
                               maximumBodySize: Int = 64 << 20 + 4096,
                               connectTimeout: TimeAmount = .seconds(5), requestTimeout: TimeAmount = .seconds(60),
                               group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> FragmentClient {
        let channel: Channel
        let handler: NIOLoopBound<ClientHandler>
        do {
            // The handler is kept from the initializer, not looked up later:
            // a node that hangs up at once empties the pipeline, and the
            // handshake should then fail with the reason, not a missing handler.
            (channel, handler) = try await ClientBootstrap(group: group)
                .connectTimeout(connectTimeout)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(.recvAllocator, value: FrameInboundHandler.receiveBuffers)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = ClientHandler(timeout: requestTimeout)
                        try channel.pipeline.syncOperations.addHandler(FrameInboundHandler(maximumBodySize: maximumBodySize))
                        try channel.pipeline.syncOperations.addHandler(handler)
                        return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                    }
                }
        } catch {
            throw WireError.unreachable("cannot connect to \(host):\(port) (\(connectionFailure(error)))")
        }
        let address = try channel.remoteAddress ?? SocketAddress(ipAddress: host, port: port)
        do {
            let nodeKey = try await handshake(channel: channel, handler: handler, identity: identity, expecting: expecting)
            return FragmentClient(nodeKey: nodeKey, identityKey: identity.publicKey, address: address, channel: channel,
                                  handler: handler, requestTimeout: requestTimeout)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    private init(nodeKey: PeerKey, identityKey: PeerKey, address: SocketAddress, channel: Channel,
                 handler: NIOLoopBound<ClientHandler>, requestTimeout: TimeAmount) {
        self.nodeKey = nodeKey
        self.identityKey = identityKey
        self.address = address
        self.channel = channel
        self.handler = handler
        self.requestTimeout = requestTimeout
    }

    private static func handshake(channel: Channel, handler: NIOLoopBound<ClientHandler>,
                                  identity: PeerIdentity, expecting: PeerKey?) async throws -> PeerKey {
        let clientNonce = Handshake.randomNonce()
        let hello = try await send(kind: .hello, head: Handshake.helloRequest(key: identity.publicKey, nonce: clientNonce),
                                   on: channel, handler: handler)
        let (serverKey, serverNonce, signature) = try Handshake.parseHelloResponse(hello)
        if let expecting, expecting != serverKey {
            throw WireError.handshakeFailed("the node at \(channel.remoteAddress?.description ?? "?") is \(serverKey), not \(expecting)")
        }
        let serverTranscript = Handshake.transcript(server: true, clientKey: identity.publicKey, clientNonce: clientNonce,
                                                    serverKey: serverKey, serverNonce: serverNonce)
        guard serverKey.isValidSignature(signature, for: serverTranscript) else {
            throw WireError.handshakeFailed("the node's signature does not prove its key")
        }
        let clientTranscript = Handshake.transcript(server: false, clientKey: identity.publicKey, clientNonce: clientNonce,
                                                    serverKey: serverKey, serverNonce: serverNonce)
        _ = try await send(kind: .authenticate, head: identity.signature(for: clientTranscript), on: channel, handler: handler)
        return serverKey
    }

    /// Closes the connection; requests in flight fail with ``WireError/unreachable(_:)``.
    public func close() async {
        try? await channel.close()
    }

    // MARK: The primitives

    /// Stores `bytes` under their key (or under `key`, which the node checks).
    @discardableResult
    public func store(_ bytes: [UInt8], key: ContentHash? = nil, leaseExpiry: UInt64 = 0) async throws -> StoreOutcome {
        let key = key ?? ContentHash(fragment: bytes)
        let answer = try await bytes.withUnsafeBytes { payload in
            let body = channel.allocator.requestBody(head: Request.store(key: key, leaseExpiry: leaseExpiry, bytes: []).encodedHead,
                                                     payload: payload)
            return Self.send(kind: .store, body: body, on: channel, handler: handler)
        }.get()
        guard answer.count == 1, let outcome = StoreOutcome(rawValue: answer[0]) else {
            throw WireError.malformed("a store answer must be one outcome byte")
        }
        return outcome
    }

    /// The fragment's bytes, checked against `key` unless `verify` is false.
    public func retrieve(_ key: ContentHash, verify: Bool = true) async throws -> [UInt8] {
        let bytes = try await request(.retrieve(key: key))
        if verify, !key.identifies(bytes) {
            throw WireError.refused(.badKey, "the node sent bytes that do not hash to \(key.hex)")
        }
        return bytes
    }

    /// The node's answer to `challenge` (compare with a precomputed answer).
    public func verify(_ key: ContentHash, challenge: AuditChallenge) async throws -> [UInt8] {
        let answer = try await request(.verify(key: key, challenge: challenge))
        guard answer.count == 32 else { throw WireError.malformed("a verify answer must be 32 bytes") }
        return answer
    }

    /// Drops this identity's claim on `key`; returns the fragment's size
    /// (nil from a node that does not say).
    @discardableResult
    public func delete(_ key: ContentHash) async throws -> UInt64? {
        let body = try await request(.delete(key: key))
        return body.count == 8 ? body.reduce(0) { $0 << 8 | UInt64($1) } : nil
    }

    /// Extends our claim on `key` to at least `leaseExpiry` (Unix seconds);
    /// returns the lease now in force. `notFound` if we hold no claim.
    public func renew(_ key: ContentHash, until leaseExpiry: UInt64) async throws -> UInt64 {
        let body = try await request(.renew(key: key, leaseExpiry: leaseExpiry))
        guard body.count == 8 else { throw WireError.malformed("a RENEW answer of \(body.count) bytes, not 8") }
        return body.reduce(0) { $0 << 8 | UInt64($1) }
    }

    public func stat(_ key: ContentHash) async throws -> FragmentInfo {
        try FragmentInfo(decoding: try await request(.stat(key: key)))
    }

    public func list(after: ContentHash? = nil, limit: UInt32 = 1000) async throws -> [FragmentInfo] {
        try FragmentInfo.decodeList(try await request(.list(after: after, limit: limit)))
    }

    /// The node's status document (JSON).
    public func status() async throws -> [UInt8] {
        try await request(.status)
    }

    private func request(_ request: Request) async throws -> [UInt8] {
        try await Self.send(kind: request.kind, head: request.encodedHead, on: channel, handler: handler)
    }

    private static func send(kind: RequestKind, head: [UInt8], on channel: Channel,
                             handler: NIOLoopBound<ClientHandler>) async throws -> [UInt8] {
        return try await send(kind: kind, body: channel.allocator.requestBody(head: head), on: channel, handler: handler).get()
    }

    /// Sends a request of `body` (its header and request ID are written on the
    /// event loop, so IDs rise in the order frames are written) and answers
    /// with the response body.
    private static func send(kind: RequestKind, body: ByteBuffer, on channel: Channel,
                             handler: NIOLoopBound<ClientHandler>) -> EventLoopFuture<[UInt8]> {
        channel.eventLoop.flatSubmit {
            handler.value.send(body, kind: kind)
        }
    }
}

/// The event-loop side of a ``FragmentClient``: assigns request IDs, writes
/// frames and completes each request's promise from its response.
final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private var context: ChannelHandlerContext?
    private var eventLoop: (any EventLoop)?
    private var nextRequestID: UInt32 = 0
    private var pending: [UInt32: (kind: RequestKind, promise: EventLoopPromise<[UInt8]>, timeout: Scheduled<Void>)] = [:]
    private var closedError: WireError?
    private let timeout: TimeAmount
    private let flushes = FlushCoalescer()

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        eventLoop = context.eventLoop
    }

    /// The context holds this handler: letting it go ends the cycle.
    func handlerRemoved(context: ChannelHandlerContext) {
        failAll(.unreachable("the connection is closed"))
        self.context = nil
    }

    func send(_ body: ByteBuffer, kind: RequestKind) -> EventLoopFuture<[UInt8]> {
        guard let eventLoop else { fatalError("ClientHandler used before it was added to a pipeline") }
        guard let context else { return eventLoop.makeFailedFuture(closedError ?? .unreachable("the connection is closed")) }
        let promise = context.eventLoop.makePromise(of: [UInt8].self)
        if let closedError {
            promise.fail(closedError)
            return promise.futureResult
        }
        nextRequestID &+= 1
        let requestID = nextRequestID
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timeout = context.eventLoop.scheduleTask(in: timeout) { () -> Void in
            handler.value.complete(requestID, with: .failure(WireError.timedOut("no answer to \(kind) in time")))
        }
        pending[requestID] = (kind, promise, timeout)
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { error in
            handler.value.complete(requestID, with: .failure(WireError.unreachable("the connection broke (\(error))")))
        }
        let header = context.channel.allocator.buffer(
            bytes: Frame.header(kind: kind.rawValue, status: 0, requestID: requestID, bodyCount: body.readableBytes))
        flushes.write(NIOAny(header), on: context, promise: nil)
        flushes.write(NIOAny(body), on: context, promise: written)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        if frame.requestID == 0, frame.status != WireStatus.ok.rawValue {
            // The node hung up on the connection as a whole (broken framing).
            let status = WireStatus(rawValue: frame.status) ?? .internalError
            failAll(.refused(status, String(decoding: frame.body, as: UTF8.self)))
            context.close(promise: nil)
            return
        }
        guard let request = pending[frame.requestID], frame.kind == request.kind.responseKind else {
            context.fireErrorCaught(WireError.malformed("an answer to no request (kind \(frame.kind), ID \(frame.requestID))"))
            return
        }
        guard frame.status == WireStatus.ok.rawValue else {
            let status = WireStatus(rawValue: frame.status) ?? .internalError
            complete(frame.requestID, with: .failure(WireError.refused(status, String(decoding: frame.body, as: UTF8.self))))
            return
        }
        complete(frame.requestID, with: .success(frame.body))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(error as? WireError ?? .unreachable("\(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.unreachable("the node closed the connection"))
        context.fireChannelInactive()
    }

    private func complete(_ requestID: UInt32, with result: Result<[UInt8], Error>) {
        guard let request = pending.removeValue(forKey: requestID) else { return }
        request.timeout.cancel()
        request.promise.completeWith(result)
    }

    private func failAll(_ error: WireError) {
        if closedError == nil { closedError = error }
        for requestID in Array(pending.keys) { complete(requestID, with: .failure(error)) }
    }
}

/// The OS's reason for a failed connect, without NIO's wrapping.
private func connectionFailure(_ error: Error) -> String {
    let underlying = (error as? NIOConnectionError)?.connectionErrors.first?.error ?? error
    if let error = underlying as? IOError { return String(cString: strerror(error.errnoCode)) }
    if underlying is ChannelError, case .connectTimeout = underlying as! ChannelError { return "timed out" }
    return "\(underlying)"
}

#if canImport(Glibc)
import Glibc
#endif
