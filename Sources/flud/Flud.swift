import ArgumentParser

@main
struct Flud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flud",
        abstract: "Decentralized, erasure-coded, encrypted backup.",
        discussion: """
            Exit status: 0 on success, 1 when the work failed (unreadable input, \
            too few intact fragments, a full disk), 64 for invalid arguments; the \
            commands that talk to a node add 2 not found, 3 bad key, 4 refused and \
            5 unreachable.
            """,
        subcommands: [EncodeCommand.self, DecodeCommand.self, NodeCommand.self, ClusterCommand.self, DHTCommand.self, FragmentCommand.self,
                      KeyCommand.self, BackupCommand.self, SnapshotsCommand.self, RestoreCommand.self,
                      VerifyCommand.self, RepairCommand.self, ForgetCommand.self,
                      StoreCommand.self, BenchCommand.self]
    )
}
