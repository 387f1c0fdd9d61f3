import ArgumentParser

@main
struct Flud: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flud",
        abstract: "Decentralized, erasure-coded, encrypted backup.",
        discussion: """
            Exit status: 0 on success, 1 when the work failed (unreadable input, \
            too few intact fragments, a full disk), 64 for invalid arguments; the \
            commands that talk to a node (flud fragment …, flud node status) exit 1 \
            for invalid arguments and add 2 not found, 3 bad key, 4 refused and \
            5 unreachable.
            """,
        subcommands: [EncodeCommand.self, DecodeCommand.self, NodeCommand.self, ClusterCommand.self, DHTCommand.self, FragmentCommand.self,
                      KeyCommand.self, BackupCommand.self, SnapshotsCommand.self, RestoreCommand.self,
                      VerifyCommand.self, RepairCommand.self, ForgetCommand.self,
                      StoreCommand.self, BenchCommand.self]
    )

    /// Runs the command the arguments name. The commands that talk to a node
    /// keep the exit statuses issue 6 fixed for them, where invalid arguments
    /// are "anything else" (1); every other command exits 64 (EX_USAGE) for them.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            guard exitCode(for: error) == .validationFailure, FragmentExit.applies(to: arguments) else { exit(withError: error) }
            let message = fullMessage(for: error)
            if !message.isEmpty { printError(message) }
            exit(withError: ExitCode.failure)
        }
    }
}
