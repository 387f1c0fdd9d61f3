import FludWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The node's TCP fragment service: accepts connections, runs the handshake
/// and hands authenticated requests to the ``FragmentService``.
final class FragmentServer: Sendable {
    struct Limits: Sendable {
        /// Largest frame body accepted (a fragment plus its request head).
        var maximumBodySize = 64 << 20 + 4096
        /// Requests one connection may have in flight before reading pauses.
        var requestsInFlight = 64
        /// A connection must finish its handshake within this time.
        var handshakeTimeout: TimeAmount = .seconds(10)
        /// A connection that sends nothing for this long is closed (stalled
        /// clients, including ones stuck in the middle of a frame).
        var idleTimeout: TimeAmount = .seconds(60)
        /// Open connections at most; more are closed as they come, so slow
        /// peers cannot use up the process's file descriptors.
        var maximumConnections = 2048
    }

    private let channel: Channel
    private let counter: ConnectionCounter

    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: Channel, counter: ConnectionCounter) {
        self.channel = channel
        self.counter = counter
    }

    static func start(host: String, port: Int, identity: PeerIdentity, service: FragmentService, limits: Limits,
                      logger: Logger, group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> FragmentServer {
        let counter = ConnectionCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 512)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: FrameInboundHandler.receiveBuffers)
            .childChannelInitializer { channel in
                guard counter.value.load(ordering: .relaxed) < limits.maximumConnections else {
                    return channel.close()
                }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: limits.idleTimeout))
                    try sync.addHandler(FrameInboundHandler(maximumBodySize: limits.maximumBodySize))
                    try sync.addHandler(FragmentConnectionHandler(identity: identity, service: service, limits: limits,
                                                                  counter: counter, logger: logger))
                }
            }
            .bind(host: host, port: port).get()
        return FragmentServer(channel: channel, counter: counter)
    }

    var connectionCount: Int { counter.value.load(ordering: .relaxed) }

    func close() async {
        try? await channel.close()
    }
}

/// Counts open connections (for status and metrics).
final class ConnectionCounter: Sendable {
    let value = Atomic<Int>(0)
}
