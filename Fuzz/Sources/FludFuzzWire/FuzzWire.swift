// libFuzzer entry point for the fragment protocol's parsers: the frame decoder
// fed in pieces of every size, then each frame's body parsed as its request
// type. Every input must be accepted or rejected with an error, never crash,
// hang or allocate past the frame limit; what is accepted must re-encode to
// the same bytes.
import FludWire

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    guard count > 0 else { return 0 }
    // The first byte picks how the stream is cut, as TCP might cut it.
    let piece = Int(data[0]) + 1
    let stream = UnsafeRawBufferPointer(start: data + 1, count: count - 1)
    var decoder = FrameDecoder(maximumBodySize: 1 << 16)
    var frames: [Frame] = []
    do {
        var offset = 0
        while offset < stream.count {
            let end = min(stream.count, offset + piece)
            try decoder.feed(UnsafeRawBufferPointer(rebasing: stream[offset..<end])) { frames.append($0) }
            offset = end
        }
    } catch {}
    let consumed = frames.flatMap(\.encoded)
    precondition(consumed.elementsEqual(stream.prefix(consumed.count)), "frames must re-encode to the bytes they came from")
    for frame in frames {
        precondition(frame.body.count <= 1 << 16, "a frame body past the limit")
        guard let kind = RequestKind(rawValue: frame.kind) else { continue }
        if let request = try? Request(kind: kind, body: frame.body) {
            var body = request.encodedHead
            if case let .store(_, _, bytes) = request { body += bytes }
            precondition(body == frame.body, "a request must re-encode to its body")
        }
        _ = try? Handshake.parseHelloRequest(frame.body)
        _ = try? Handshake.parseHelloResponse(frame.body)
        _ = try? FragmentInfo.decodeList(frame.body)
    }
    return 0
}
