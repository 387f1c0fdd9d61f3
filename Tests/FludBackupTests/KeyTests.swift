import FludTestSupport
import Foundation
import Testing
@testable import FludBackup

struct KeyTests {
    @Test func theRecoveryPhraseGivesBackTheSameKeys() throws {
        let keys = UserKeys.generate()
        let phrase = keys.recoveryPhrase
        #expect(phrase.count == 55 + 13)
        let again = try UserKeys(recoveryPhrase: "  " + phrase.uppercased().replacingOccurrences(of: "-", with: " ") + "\n")
        #expect(again.secret == keys.secret)
        #expect(again.snapshotKey.publicKey == keys.snapshotKey.publicKey)
        #expect(again.wireIdentity.publicKey == keys.wireIdentity.publicKey)
        #expect(UserKeys.generate().snapshotKey.publicKey != keys.snapshotKey.publicKey)
    }

    @Test func aMistypedPhraseIsRefused() {
        var letters = Array(UserKeys.generate().recoveryPhrase)
        letters[10] = letters[10] == "a" ? "b" : "a"
        #expect(throws: KeyError.checksumMismatch) { try UserKeys(recoveryPhrase: String(letters)) }
        #expect(throws: KeyError.malformedPhrase) { try UserKeys(recoveryPhrase: "correct horse battery staple") }
        #expect(throws: KeyError.malformedPhrase) { try UserKeys(recoveryPhrase: "") }
    }

    @Test func keysAreSavedPrivatelyAndNeverReplacedSilently() throws {
        let home = try TemporaryDirectory(prefix: "flud-keys")
        let keys = UserKeys.generate()
        try keys.save(in: home.path)
        #expect(try UserKeys.load(from: home.path).secret == keys.secret)
        let mode = try FileManager.default.attributesOfItem(atPath: UserKeys.path(in: home.path))[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try keys.save(in: home.path)
        #expect(throws: KeyError.exists(path: UserKeys.path(in: home.path))) { try UserKeys.generate().save(in: home.path) }
        #expect(try UserKeys.load(from: home.path).secret == keys.secret)
    }
}
