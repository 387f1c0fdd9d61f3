import FludCodec
import FludTestSupport
import Foundation
import Testing
@testable import FludWire

enum ContentHashFixture {
    static let key = ContentHash(of: Array("flud".utf8))
}

struct IdentityTests {
    @Test func anIdentityIsCreatedOnceAndReloaded() throws {
        let directory = try TemporaryDirectory(prefix: "flud-identity")
        let path = directory.file("home/identity.key")
        let first = try PeerIdentity.loadOrCreate(at: path)
        let second = try PeerIdentity.loadOrCreate(at: path)
        #expect(first.publicKey == second.publicKey)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    /// RFC 8032's first Ed25519 test vector: a seed gives the same key pair
    /// and signature in every implementation, so key files written when
    /// identities were signed with swift-crypto still load as the same peer.
    @Test func identitiesAreStandardEd25519() throws {
        func bytes(_ hex: String) -> [UInt8] {
            stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
        }
        let identity = try #require(PeerIdentity(seed: bytes("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")))
        #expect(identity.publicKey.bytes == bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
        let signature = identity.signature(for: [])
        #expect(signature == bytes("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"))
        #expect(identity.publicKey.isValidSignature(signature, for: []))
        #expect(!identity.publicKey.isValidSignature(signature, for: [0]))
        #expect(PeerIdentity(seed: Array(repeating: 1, count: 31)) == nil)
    }

    @Test func aDamagedKeyFileIsAnErrorNotANewIdentity() throws {
        let directory = try TemporaryDirectory(prefix: "flud-identity")
        let path = directory.file("identity.key")
        #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3])))
        #expect(throws: IdentityError.self) { try PeerIdentity.loadOrCreate(at: path) }
    }

    @Test func signaturesBindTheWholeTranscript() {
        let client = PeerIdentity()
        let server = PeerIdentity()
        let clientNonce = Handshake.randomNonce()
        let serverNonce = Handshake.randomNonce()
        let transcript = Handshake.transcript(server: false, clientKey: client.publicKey, clientNonce: clientNonce,
                                              serverKey: server.publicKey, serverNonce: serverNonce)
        let signature = client.signature(for: transcript)
        #expect(client.publicKey.isValidSignature(signature, for: transcript))
        // Another connection's nonce (a replay), the other role, or another key: refused.
        let replayed = Handshake.transcript(server: false, clientKey: client.publicKey, clientNonce: clientNonce,
                                            serverKey: server.publicKey, serverNonce: Handshake.randomNonce())
        #expect(!client.publicKey.isValidSignature(signature, for: replayed))
        let otherRole = Handshake.transcript(server: true, clientKey: client.publicKey, clientNonce: clientNonce,
                                             serverKey: server.publicKey, serverNonce: serverNonce)
        #expect(!client.publicKey.isValidSignature(signature, for: otherRole))
        #expect(!server.publicKey.isValidSignature(signature, for: transcript))
    }

    @Test func helloParsingRefusesForeignAndFutureVersions() throws {
        let key = PeerIdentity().publicKey
        let hello = Handshake.helloRequest(key: key, nonce: Handshake.randomNonce())
        #expect(try Handshake.parseHelloRequest(hello).key == key)
        var future = hello
        future[4] = 9
        #expect(throws: WireError.self) { try Handshake.parseHelloRequest(future) }
        #expect(throws: WireError.self) { try Handshake.parseHelloRequest(Array("GET / HTTP/1.1\r\n".utf8)) }
        #expect(throws: WireError.self) { try Handshake.parseHelloRequest(Array(hello.dropLast())) }
    }
}

struct AuditChallengeTests {
    @Test func rangesMustLieInsideTheFragment() {
        #expect(AuditChallenge.random(offset: 0, length: 10).fits(size: 10))
        #expect(AuditChallenge.random(offset: 9, length: 1).fits(size: 10))
        #expect(!AuditChallenge.random(offset: 9, length: 2).fits(size: 10))
        #expect(!AuditChallenge.random(offset: 10, length: 1).fits(size: 10))
        #expect(!AuditChallenge.random(offset: 0, length: 0).fits(size: 10))
        #expect(!AuditChallenge.random(offset: 1, length: UInt64.max).fits(size: 10))
    }

    @Test func anyAlteredByteChangesTheAnswer() {
        let fragment = deterministicBytes(4096, seed: 3)
        let (challenge, answer) = AuditChallenge.precompute(for: fragment, count: 1)[0]
        for position in [0, 1000, 4095] {
            var altered = fragment
            altered[position] ^= 1
            #expect(altered.withUnsafeBytes { challenge.answer(for: $0) } != answer)
        }
        #expect(fragment.withUnsafeBytes { challenge.answer(for: $0) } == answer)
        // A fresh nonce gives a different answer for the same bytes.
        let other = AuditChallenge.random(offset: 0, length: 4096)
        #expect(fragment.withUnsafeBytes { other.answer(for: $0) } != answer)
    }
}
