import ArgumentParser
import Foundation
import GuildCore

/// `guild config`: the settings in effect for a process started here with the same
/// environment and configuration file, where each comes from, and what is wrong with the file.
/// Secrets show only whether they are set.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the settings the environment and the configuration file give (secrets as set or unset), and check the file.",
        discussion: """
            Every Guild process reads a setting from its flag, else its environment variable, else the JSON file named by \
            --config or GUILD_CONFIG, else its default. This lists each setting's variable, its key in the file, its value and \
            where it comes from; it exits 1 when the file cannot be used (unreadable, not a JSON object, a key that is not a \
            setting, a value that is not a string, number or boolean), which every process would refuse to start with.
            """
    )

    @Option(name: .customLong("config"), help: "The JSON file of settings (env GUILD_CONFIG).")
    var configFile: String?

    func run() throws {
        let settings = ConfigEnvironment.process
        print("configuration file: \(settings.file ?? "none (--config <file> or GUILD_CONFIG names one)")")
        for problem in settings.problems { print("problem: \(problem)") }
        let rows = GuildSettings.all.keys.sorted().map { key -> [String] in
            let source = settings.source(of: key)
            let value: String = switch (settings.string(key), GuildSettings.isSecret(key)) {
            case (nil, _): "-"
            case (_, true): "(secret, set)"
            case (let value?, false): value
            }
            return [key, GuildSettings.fileKey(key), value, source == .unset ? "default" : source.rawValue]
        }
        let widths = (0..<3).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print((0..<3).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + row[3])
        }
        if !settings.problems.isEmpty { throw ExitCode.failure }
    }
}
