import FludTestSupport
import Testing
@testable import FludWire

struct FrameDecoderTests {
    private func decode(_ bytes: [UInt8], chunk: Int, limit: Int = 1 << 20) throws -> [Frame] {
        var decoder = FrameDecoder(maximumBodySize: limit)
        var frames: [Frame] = []
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            try bytes[start..<min(bytes.count, start + chunk)].withUnsafeBytes { piece in
                try decoder.feed(piece) { frames.append($0) }
            }
        }
        return frames
    }

    @Test func framesSurviveAnySplitOfTheStream() throws {
        let frames = [
            Frame(kind: 3, requestID: 1, body: deterministicBytes(1000, seed: 1)),
            Frame(kind: 0x84, status: 1, requestID: 0xDEAD_BEEF, body: []),
            Frame(kind: 5, requestID: 7, body: [42]),
        ]
        let stream = frames.flatMap(\.encoded)
        for chunk in [1, 2, 3, 9, 10, 11, 100, stream.count] {
            #expect(try decode(stream, chunk: chunk) == frames, "split into \(chunk)-byte pieces")
        }
    }

    @Test func anOversizedLengthFailsBeforeAllocating() throws {
        var header = Frame.header(kind: 3, status: 0, requestID: 1, bodyCount: 0)
        header[0...3] = [0xFF, 0xFF, 0xFF, 0xFF]
        #expect(throws: WireError.frameTooLarge(size: 0xFFFF_FFFF - 6, limit: 1 << 20)) {
            _ = try decode(header, chunk: header.count)
        }
    }

    @Test func aLengthShorterThanTheHeaderIsMalformed() throws {
        var header = Frame.header(kind: 3, status: 0, requestID: 1, bodyCount: 0)
        header[3] = 5
        #expect(throws: WireError.self) { _ = try decode(header, chunk: 4) }
    }

    @Test func aPartialFrameIsHeldNotEmitted() throws {
        let frame = Frame(kind: 4, requestID: 9, body: deterministicBytes(64, seed: 2)).encoded
        var decoder = FrameDecoder(maximumBodySize: 1024)
        var emitted = 0
        try frame.dropLast().withUnsafeBytes { try decoder.feed($0) { _ in emitted += 1 } }
        #expect(emitted == 0)
        #expect(!decoder.isIdle)
        try frame.suffix(1).withUnsafeBytes { try decoder.feed($0) { _ in emitted += 1 } }
        #expect(emitted == 1)
        #expect(decoder.isIdle)
    }

    /// Random streams: the decoder either emits frames or throws; it never traps
    /// and never allocates past its limit.
    @Test func garbageNeverTraps() {
        var random = SplitMix64(seed: 99)
        for round in 0..<2000 {
            let bytes = random.bytes(Int(random.next() % 64))
            var decoder = FrameDecoder(maximumBodySize: 4096)
            _ = try? bytes.withUnsafeBytes { try decoder.feed($0) { frame in
                #expect(frame.body.count <= 4096, "round \(round)")
            } }
        }
    }
}

struct RequestTests {
    private let key = ContentHashFixture.key

    @Test func everyRequestRoundTrips() throws {
        let requests: [Request] = [
            .store(key: key, leaseExpiry: 1_900_000_000, bytes: [1, 2, 3][...]),
            .retrieve(key: key),
            .verify(key: key, challenge: AuditChallenge(nonce: Array(repeating: 7, count: 32), offset: 5, length: 10)),
            .delete(key: key),
            .stat(key: key),
            .list(after: key, limit: 50),
            .list(after: nil, limit: 1),
            .status,
        ]
        for request in requests {
            var body = request.encodedHead
            if case let .store(_, _, bytes) = request { body += bytes }
            #expect(try Request(kind: request.kind, body: body) == request)
        }
    }

    @Test func truncatedAndPaddedBodiesAreMalformed() {
        let body = Request.verify(key: key, challenge: .random(offset: 0, length: 1)).encodedHead
        for cut in 0..<body.count {
            #expect(throws: WireError.self) { try Request(kind: .verify, body: Array(body.prefix(cut))) }
        }
        #expect(throws: WireError.self) { try Request(kind: .retrieve, body: key.bytes + [0]) }
        #expect(throws: WireError.self) { try Request(kind: .hello, body: []) }
    }

    @Test func randomBodiesNeverTrap() {
        var random = SplitMix64(seed: 5)
        for _ in 0..<3000 {
            let kind = RequestKind.allCases[Int(random.next() % UInt64(RequestKind.allCases.count))]
            _ = try? Request(kind: kind, body: random.bytes(Int(random.next() % 100)))
        }
    }

    @Test func listAnswersRoundTripAndRejectBadCounts() throws {
        let entries = (0..<3).map { FragmentInfo(key: key, size: UInt64($0), leaseExpiry: 99) }
        let body = FragmentInfo.encodeList(entries)
        #expect(try FragmentInfo.decodeList(body) == entries)
        #expect(throws: WireError.self) { try FragmentInfo.decodeList(Array(body.dropLast())) }
        #expect(throws: WireError.self) { try FragmentInfo.decodeList([0xFF, 0xFF, 0xFF, 0xFF]) }
    }
}
