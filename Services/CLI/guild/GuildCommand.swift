import ArgumentParser

/// `guild`: the operator's command-line tool.
@main
struct GuildCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guild",
        abstract: "Run and manage a Guild deployment.",
        subcommands: [UpCommand.self, DemoCommand.self, CertsCommand.self, KeysCommand.self, LedgerCheckCommand.self, DeadLettersCommand.self, LotteryCommand.self, HealthCommand.self, ConfigCommand.self, MigrateCommand.self, BackupCommand.self, RestoreCommand.self]
    )
}
