import FludWire
import Logging
import NIOCore

/// One client connection, on its event loop: the handshake, then requests.
///
/// - Before the handshake completes only HELLO and AUTH are accepted; anything
///   else, or a bad signature, gets `unauthenticated` and the connection closes.
/// - After it, every request ID must be above the last one (replays are refused)
///   and requests run concurrently, at most `requestsInFlight` at once: the
///   others of the same read wait in line, and reading pauses while any wait,
///   while that many run, or while the socket cannot take more output.
/// - A frame that breaks the framing (oversized, garbage) gets one error
///   answer and the connection closes; so does a connection idle too long.
final class FragmentConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame

    private enum Phase {
        case awaitingHello
        case awaitingAuthentication(client: PeerKey, clientNonce: [UInt8], serverNonce: [UInt8])
        case ready(PeerKey)
        case closing
    }

    private let identity: PeerIdentity
    private let service: FragmentService
    private let limits: FragmentServer.Limits
    private let counter: ConnectionCounter
    private var logger: Logger
    private var phase = Phase.awaitingHello
    private var lastRequestID: UInt32 = 0
    private var inFlight = 0
    /// Requests read but not started: one socket read can hold thousands.
    private var waiting = CircularBuffer<@Sendable (ByteBufferAllocator) async -> ByteBuffer>()
    private var readingPaused = false
    private var context: ChannelHandlerContext?
    private var handshakeDeadline: Scheduled<Void>?
    private let flushes = FlushCoalescer()

    init(identity: PeerIdentity, service: FragmentService, limits: FragmentServer.Limits,
         counter: ConnectionCounter, logger: Logger) {
        self.identity = identity
        self.service = service
        self.limits = limits
        self.counter = counter
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler: letting it go ends the cycle.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        waiting.removeAll()
    }

    func channelActive(context: ChannelHandlerContext) {
        counter.value.add(1, ordering: .relaxed)
        logger[metadataKey: "remote"] = "\(context.channel.remoteAddress?.description ?? "?")"
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        handshakeDeadline = context.eventLoop.scheduleTask(in: limits.handshakeTimeout) {
            let handler = handler.value
            guard case .ready = handler.phase else {
                handler.logger.info("closing a connection that did not finish its handshake in time")
                handler.close()
                return
            }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        counter.value.subtract(1, ordering: .relaxed)
        handshakeDeadline?.cancel()
        phase = .closing
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let kind = frame.isResponse ? nil : RequestKind(rawValue: frame.kind)
        if case let .ready(peer) = phase {
            guard !frame.isResponse else {
                return refuse(frame, .malformed, "a client sent a response frame", closing: true)
            }
            guard let kind else {
                service.ledger.record(.fault, for: peer)
                return refuse(frame, .unsupported, "request type \(frame.kind) is not known here", closing: false)
            }
            return request(frame, kind: kind, from: peer)
        }
        switch phase {
        case .awaitingHello:
            guard kind == .hello else {
                return refuse(frame, .unauthenticated, "the handshake must come first", closing: true)
            }
            hello(frame)
        case let .awaitingAuthentication(client, clientNonce, serverNonce):
            guard kind == .authenticate else {
                return refuse(frame, .unauthenticated, "the handshake must come first", closing: true)
            }
            authenticate(frame, client: client, clientNonce: clientNonce, serverNonce: serverNonce)
        case .ready, .closing:
            break
        }
    }

    private func hello(_ frame: Frame) {
        do {
            let (client, clientNonce) = try Handshake.parseHelloRequest(frame.body)
            let serverNonce = Handshake.randomNonce()
            let transcript = Handshake.transcript(server: true, clientKey: client, clientNonce: clientNonce,
                                                  serverKey: identity.publicKey, serverNonce: serverNonce)
            phase = .awaitingAuthentication(client: client, clientNonce: clientNonce, serverNonce: serverNonce)
            write(allocator.frame(kind: RequestKind.hello.responseKind, requestID: frame.requestID,
                                  head: identity.publicKey.bytes + serverNonce + identity.signature(for: transcript)))
        } catch {
            refuse(frame, .unauthenticated, "\(error)", closing: true)
        }
    }

    private func authenticate(_ frame: Frame, client: PeerKey, clientNonce: [UInt8], serverNonce: [UInt8]) {
        let transcript = Handshake.transcript(server: false, clientKey: client, clientNonce: clientNonce,
                                              serverKey: identity.publicKey, serverNonce: serverNonce)
        guard frame.body.count == Handshake.signatureSize, client.isValidSignature(frame.body, for: transcript) else {
            logger.notice("refused a client whose signature does not prove its key", metadata: ["peer": "\(client)"])
            return refuse(frame, .unauthenticated, "the signature does not prove the key", closing: true)
        }
        phase = .ready(client)
        lastRequestID = frame.requestID
        handshakeDeadline?.cancel()
        logger[metadataKey: "peer"] = "\(client)"
        logger.debug("peer authenticated")
        write(allocator.frame(kind: RequestKind.authenticate.responseKind, requestID: frame.requestID))
    }

    private func request(_ frame: Frame, kind: RequestKind, from peer: PeerKey) {
        guard frame.requestID > lastRequestID else {
            service.ledger.record(.fault, for: peer)
            return refuse(frame, .replayed, "request ID \(frame.requestID) is not above \(lastRequestID)", closing: false)
        }
        lastRequestID = frame.requestID
        guard !service.ledger.isThrottled(peer) else {
            return refuse(frame, .throttled, "too many failed requests lately; retry later", closing: false)
        }
        let request: Request
        do {
            request = try Request(kind: kind, body: frame.body)
        } catch {
            service.ledger.record(.fault, for: peer)
            return refuse(frame, .malformed, "\(error)", closing: false)
        }
        if case let .retrieve(key) = request {
            // Start the disk reads now, from the event loop: the task that
            // answers may wait behind others for one of the pool's threads.
            service.store.prefetch(key)
        }
        startRequest { [service] allocator in
            await service.handle(request, requestID: frame.requestID, from: peer, allocator: allocator)
        }
    }

    /// Runs `work` off the event loop, or queues it while `requestsInFlight`
    /// run or the socket cannot take more output, and writes its answer when
    /// it is done.
    private func startRequest(_ work: @escaping @Sendable (ByteBufferAllocator) async -> ByteBuffer) {
        guard let context else { return }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        waiting.append { allocator in
            let response = await work(allocator)
            eventLoop.execute {
                handler.value.finish(response)
            }
            return response
        }
        startWaiting()
    }

    /// Starts queued requests while there is room for them.
    private func startWaiting() {
        while let context, !waiting.isEmpty, inFlight < limits.requestsInFlight, context.channel.isWritable {
            let run = waiting.removeFirst()
            inFlight += 1
            let allocator = context.channel.allocator
            Task { _ = await run(allocator) }
        }
        updateReading()
    }

    private func finish(_ response: ByteBuffer) {
        inFlight -= 1
        write(response)
        startWaiting()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        startWaiting()
        context.fireChannelWritabilityChanged()
    }

    /// Reads only while nothing waits, and there is room for more work and more output.
    private func updateReading() {
        guard let context else { return }
        let shouldPause = !waiting.isEmpty || inFlight >= limits.requestsInFlight || !context.channel.isWritable
        guard shouldPause != readingPaused else { return }
        readingPaused = shouldPause
        try? context.channel.syncOptions?.setOption(.autoRead, value: !shouldPause)
        if !shouldPause { context.read() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? IdleStateHandler.IdleStateEvent, event == .read {
            // Waiting for our own slow work is not the client's stall.
            guard inFlight == 0 else { return }
            logger.info("closing an idle connection")
            close()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let error = error as? WireError {
            // The framing is broken: answer once, then hang up.
            logger.notice("closing a connection that broke the framing", metadata: ["error": "\(error)"])
            if case let .ready(peer) = phase { service.ledger.record(.fault, for: peer) }
            service.metrics.refused(kind: nil, status: error.status)
            write(allocator.errorFrame(kind: 0, requestID: 0, status: error.status, message: error.description))
        } else {
            logger.debug("closing a connection after an error", metadata: ["error": "\(error)"])
        }
        close()
    }

    private var allocator: ByteBufferAllocator { context?.channel.allocator ?? ByteBufferAllocator() }

    private func refuse(_ frame: Frame, _ status: WireStatus, _ message: String, closing: Bool) {
        service.metrics.refused(kind: frame.kind & 0x7F, status: status)
        write(allocator.errorFrame(kind: frame.kind & 0x7F, requestID: frame.requestID, status: status, message: message))
        if closing { close() }
    }

    private func write(_ buffer: ByteBuffer) {
        guard let context, context.channel.isActive else { return }
        flushes.write(NIOAny(buffer), on: context, promise: nil)
    }

    /// Closes the connection once what was written is flushed (a close
    /// would drop unflushed answers, such as the error that explains it).
    private func close() {
        phase = .closing
        context?.flush()
        context?.close(promise: nil)
    }
}
