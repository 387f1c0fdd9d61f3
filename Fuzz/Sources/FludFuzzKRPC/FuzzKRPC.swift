// libFuzzer entry point for the DHT's packet parsers: every input must be
// rejected with an error or accepted, never crash or hang, and whatever the
// strict decoder accepts must re-encode to exactly the same bytes.
import FludDHT

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKRPC(_ data: UnsafePointer<UInt8>, _ count: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: count)
    if let value = try? BencodeDecoder().decode(bytes) {
        precondition(value.encoded.elementsEqual(bytes), "accepted bencode must be canonical")
    }
    if let message = try? KRPCMessage(decoding: bytes) {
        precondition((try? KRPCMessage(decoding: message.encoded)) == message, "a message must survive a round trip")
    }
    return 0
}
