/// Cuts a byte stream into ``Frame``s.
///
/// The body of a frame is allocated once, at its announced length, and the
/// stream's bytes are copied straight into it: a fragment is buffered once on
/// its way from the socket to the store. A length over `maximumBodySize`
/// fails before anything is allocated.
public struct FrameDecoder: Sendable {
    public let maximumBodySize: Int
    private var header: [UInt8] = []
    private var body: [UInt8] = []
    private var bodyFilled = 0
    private var pending: Frame?

    public init(maximumBodySize: Int) {
        self.maximumBodySize = maximumBodySize
        header.reserveCapacity(Frame.headerSize)
    }

    /// True between frames: nothing of a frame has arrived yet.
    public var isIdle: Bool { header.isEmpty }

    /// Consumes `bytes` and calls `emit` for every frame they complete.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (Frame) throws -> Void) throws {
        var input = bytes[...]
        while !input.isEmpty {
            if pending == nil {
                let wanted = Frame.headerSize - header.count
                let taken = input.prefix(wanted)
                header.append(contentsOf: taken)
                input = input.dropFirst(taken.count)
                guard header.count == Frame.headerSize else { return }
                try startBody()
            }
            if bodyFilled < body.count {
                let taken = input.prefix(body.count - bodyFilled)
                body.withUnsafeMutableBytes { destination in
                    UnsafeMutableRawBufferPointer(rebasing: destination[bodyFilled..<bodyFilled + taken.count])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: taken))
                }
                bodyFilled += taken.count
                input = input.dropFirst(taken.count)
            }
            if bodyFilled == body.count, var frame = pending {
                frame.body = body
                body = []
                pending = nil
                header.removeAll(keepingCapacity: true)
                try emit(frame)
            }
        }
    }

    private mutating func startBody() throws(WireError) {
        let length = header[0..<4].reduce(0) { $0 << 8 | Int($1) }
        guard length >= Frame.lengthCovered else {
            throw .malformed("frame length \(length) is shorter than a frame header")
        }
        let bodyCount = length - Frame.lengthCovered
        guard bodyCount <= maximumBodySize else {
            throw .frameTooLarge(size: bodyCount, limit: maximumBodySize)
        }
        let requestID = header[6..<10].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        pending = Frame(kind: header[4], status: header[5], requestID: requestID)
        body = [UInt8](unsafeUninitializedCapacity: bodyCount) { _, count in count = bodyCount }
        bodyFilled = 0
    }
}
