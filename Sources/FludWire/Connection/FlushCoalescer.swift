import NIOCore

/// Writes to one channel without flushing and flushes once per event-loop
/// tick. Each request or answer a task hands the loop used to cost a write
/// syscall, which on loopback also runs the peer's receive path and wake-up;
/// now the frames handed over in one tick leave in a single write.
/// Used on the channel's event loop only.
public final class FlushCoalescer {
    private var queued = false

    public init() {}

    public func write(_ data: NIOAny, on context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        guard !queued else { return }
        queued = true
        // Behind the loop's other queued tasks, so the frames they write share this flush.
        let state = NIOLoopBound((coalescer: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            state.value.coalescer.queued = false
            state.value.context.flush()
        }
    }
}
