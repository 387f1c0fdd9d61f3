import FludTestSupport
import Testing
@testable import FludBackup

@Suite struct FileSystemSyncsTests {
    /// Callers that arrive together share sync rounds; each still gets its own answer.
    @Test func everyConcurrentCallerIsAnsweredAndAMissingDirectoryFails() async throws {
        let scratch = try TemporaryDirectory(prefix: "flud-syncs")
        let syncs = FileSystemSyncs()
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for caller in 0..<64 {
                let directories: Set<String> = caller % 8 == 7 ? [scratch.path, scratch.path + "/missing"] : [scratch.path]
                group.addTask { await syncs.sync(directories) }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.count == 64)
        #expect(outcomes.filter { !$0 }.count == 8, "only the callers that named the missing directory fail")
        #expect(await syncs.sync([scratch.path]))
        #expect(await syncs.sync([]), "nothing to sync")
    }
}
