import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// Serves `GET /metrics` in the Prometheus text format on a TCP port. A
/// scraper needs little: at most `maximumConnections` at once, and a
/// connection that sends nothing for `idleTimeout` is closed.
public final class MetricsServer: Sendable {
    static let maximumConnections = 64
    static let idleTimeout: TimeAmount = .seconds(30)

    private let channel: Channel
    public var port: Int { channel.localAddress?.port ?? 0 }

    public static func start(registry: PrometheusCollectorRegistry, host: String, port: Int,
                             group: EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> MetricsServer {
        let open = ConnectionCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard open.value.add(1, ordering: .relaxed).newValue <= maximumConnections else {
                    open.value.subtract(1, ordering: .relaxed)
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.value.subtract(1, ordering: .relaxed) }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(registry: registry))
                }
            }
            .bind(host: host, port: port).get()
        return MetricsServer(channel: channel)
    }

    private init(channel: Channel) {
        self.channel = channel
    }

    public func close() async {
        try? await channel.close()
    }
}

private final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry
    private var path = ""

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case let .head(head):
            path = head.method == .GET ? head.uri : ""
        case .body:
            break
        case .end:
            let found = path == "/metrics" || path.hasPrefix("/metrics?")
            let body = found ? registry.emitToBuffer() : Array("not found: try /metrics\n".utf8)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
            headers.add(name: "Content-Length", value: "\(body.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound,
                                                                 headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? IdleStateHandler.IdleStateEvent, event == .read {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
