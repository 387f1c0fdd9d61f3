/// A KRPC message (BEP 5): a bencoded dictionary with a transaction ID `t`, a
/// type `y` and, by type, a query (`q`, `a`), a response (`r`) or an error (`e`).
public struct KRPCMessage: Equatable, Sendable {
    public enum Body: Equatable, Sendable {
        /// A query: method name and arguments (`a`, which holds the sender's `id`).
        case query(method: String, arguments: BencodeDictionary)
        /// A response: return values (`r`, which holds the responder's `id`).
        case response(BencodeDictionary)
        /// An error: code and message.
        case error(KRPCError)
    }

    /// Chosen by the querier and echoed back; short (2 bytes in most clients).
    public var transactionID: [UInt8]
    public var body: Body
    /// The sender's client version (`v`), if given.
    public var version: [UInt8]?
    /// BEP 43 `ro`: the sender only asks and must not be added to routing tables.
    public var readOnly: Bool

    public init(transactionID: [UInt8], body: Body, version: [UInt8]? = nil, readOnly: Bool = false) {
        self.transactionID = transactionID
        self.body = body
        self.version = version
        self.readOnly = readOnly
    }

    /// The message as sent on the wire.
    public var encoded: [UInt8] {
        var dictionary = BencodeDictionary()
        dictionary["t"] = .bytes(transactionID)
        if let version { dictionary["v"] = .bytes(version) }
        if readOnly { dictionary["ro"] = .integer(1) }
        switch body {
        case let .query(method, arguments):
            dictionary["y"] = .string("q")
            dictionary["q"] = .string(method)
            dictionary["a"] = .dictionary(arguments)
        case let .response(values):
            dictionary["y"] = .string("r")
            dictionary["r"] = .dictionary(values)
        case let .error(error):
            dictionary["y"] = .string("e")
            dictionary["e"] = .list([.integer(Int64(error.code.rawValue)), .string(error.message)])
        }
        return BencodeValue.dictionary(dictionary).encoded
    }

    /// Parses a datagram. Anything that is not a well-formed KRPC message is a
    /// ``KRPCError`` with code 203 (protocol error), which a node may send back
    /// when it could read the transaction ID.
    public init(decoding datagram: some Collection<UInt8>, decoder: BencodeDecoder = BencodeDecoder()) throws(KRPCDecodingError) {
        let value: BencodeValue
        do {
            value = try decoder.decode(datagram)
        } catch {
            throw KRPCDecodingError(transactionID: nil, error: .protocolError("\(error)"))
        }
        guard let dictionary = value.dictionaryValue else {
            throw KRPCDecodingError(transactionID: nil, error: .protocolError("a message must be a dictionary"))
        }
        guard let transactionID = dictionary["t"]?.bytesValue else {
            throw KRPCDecodingError(transactionID: nil, error: .protocolError("missing transaction ID 't'"))
        }
        func failure(_ message: String) -> KRPCDecodingError {
            KRPCDecodingError(transactionID: transactionID, error: .protocolError(message))
        }
        self.transactionID = transactionID
        version = dictionary["v"]?.bytesValue
        readOnly = dictionary["ro"]?.integerValue == 1
        switch dictionary["y"]?.bytesValue {
        case Array("q".utf8):
            guard let method = dictionary["q"]?.bytesValue, let name = String(validating: method, as: UTF8.self) else {
                throw failure("a query needs a method name 'q'")
            }
            guard let arguments = dictionary["a"]?.dictionaryValue else { throw failure("a query needs arguments 'a'") }
            body = .query(method: name, arguments: arguments)
        case Array("r".utf8):
            guard let values = dictionary["r"]?.dictionaryValue else { throw failure("a response needs values 'r'") }
            body = .response(values)
        case Array("e".utf8):
            guard let list = dictionary["e"]?.listValue, list.count >= 2,
                  let code = list[0].integerValue, let message = list[1].bytesValue else {
                throw failure("an error needs [code, message] in 'e'")
            }
            body = .error(KRPCError(code: KRPCError.Code(rawValue: Int(clamping: code)),
                                    message: String(decoding: message, as: UTF8.self)))
        default:
            throw failure("message type 'y' must be q, r or e")
        }
    }
}

/// A KRPC error as BEP 5 defines it.
public struct KRPCError: Error, Equatable, Sendable {
    /// An error code: BEP 5's 201–204 and BEP 44's 205–207, 301, 302; other
    /// values are kept as received.
    public struct Code: RawRepresentable, Hashable, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }

        public static let generic = Code(rawValue: 201)
        public static let server = Code(rawValue: 202)
        public static let protocolError = Code(rawValue: 203)
        public static let methodUnknown = Code(rawValue: 204)
        public static let messageTooBig = Code(rawValue: 205)
        public static let invalidSignature = Code(rawValue: 206)
        public static let saltTooBig = Code(rawValue: 207)
        public static let casMismatch = Code(rawValue: 301)
        public static let sequenceTooLow = Code(rawValue: 302)
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public static func protocolError(_ message: String) -> KRPCError { KRPCError(code: .protocolError, message: message) }
    public static func methodUnknown(_ method: String) -> KRPCError { KRPCError(code: .methodUnknown, message: "Method Unknown: \(method)") }
}

/// A datagram that is not a valid KRPC message, with the transaction ID when
/// one could be read (so the error can be answered).
public struct KRPCDecodingError: Error, Equatable, Sendable {
    public let transactionID: [UInt8]?
    public let error: KRPCError
}
