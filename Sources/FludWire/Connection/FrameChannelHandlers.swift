import NIOCore

/// Turns the bytes of a connection into ``Frame``s (see ``FrameDecoder``).
/// A stream that breaks the framing fires ``WireError`` down the pipeline;
/// nothing after it is read.
public final class FrameInboundHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = Frame

    private var decoder: FrameDecoder
    private var failed = false

    public init(maximumBodySize: Int) {
        decoder = FrameDecoder(maximumBodySize: maximumBodySize)
    }

    /// Socket reads for fragment traffic: up to 1 MiB per read (NIO's default
    /// stops at 64 KiB), so a large fragment takes a few reads, not dozens.
    public static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: 1 << 20)

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        var frames: [Frame] = []
        do {
            try buffer.withUnsafeReadableBytes { bytes in
                try decoder.feed(bytes) { frames.append($0) }
            }
        } catch {
            failed = true
            for frame in frames { context.fireChannelRead(wrapInboundOut(frame)) }
            context.fireErrorCaught(error)
            return
        }
        for frame in frames { context.fireChannelRead(wrapInboundOut(frame)) }
    }
}

extension ByteBufferAllocator {
    /// A buffer holding one whole frame: header, `head`, then `payload`.
    public func frame(kind: UInt8, status: UInt8 = 0, requestID: UInt32,
                      head: [UInt8] = [], payload: UnsafeRawBufferPointer? = nil) -> ByteBuffer {
        let bodyCount = head.count + (payload?.count ?? 0)
        var buffer = buffer(capacity: Frame.headerSize + bodyCount)
        buffer.writeBytes(Frame.header(kind: kind, status: status, requestID: requestID, bodyCount: bodyCount))
        buffer.writeBytes(head)
        if let payload { buffer.writeBytes(payload) }
        return buffer
    }

    /// A request's body alone, `head` then `payload`. ``ClientHandler`` writes
    /// the header in front of it on the event loop, where the request ID is
    /// chosen: setting the ID inside a shared buffer would copy the whole
    /// frame (copy-on-write), a second copy of every stored fragment.
    func requestBody(head: [UInt8], payload: UnsafeRawBufferPointer? = nil) -> ByteBuffer {
        var buffer = buffer(capacity: head.count + (payload?.count ?? 0))
        buffer.writeBytes(head)
        if let payload { buffer.writeBytes(payload) }
        return buffer
    }

    /// An error response: the status and a one-sentence message.
    public func errorFrame(kind: UInt8, requestID: UInt32, status: WireStatus, message: String) -> ByteBuffer {
        frame(kind: kind | 0x80, status: status.rawValue, requestID: requestID, head: Array(message.utf8.prefix(512)))
    }
}
