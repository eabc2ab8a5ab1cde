import Foundation
import GuildCore
import Testing

/// The settings' sources through swift-configuration: the environment before the file, the
/// file's keys nested or dotted, its numbers and booleans, and every way a file is refused.
@Suite struct ConfigEnvironmentTests {
    private func settings(_ environment: [String: String] = [:], file json: String) -> ConfigEnvironment {
        ConfigEnvironment(environment, file: "/etc/guild.json", contents: Data(json.utf8))
    }

    @Test func theEnvironmentWinsOverTheFileAndTheFileOverTheDefault() {
        let config = settings(["GUILD_GATEWAY_LISTEN": "0.0.0.0:9000"], file: """
            {"gateway": {"listen": "127.0.0.1:1", "request-timeout-ms": 4000, "trust-forwarded-for": true}, "log-level": "debug"}
            """)
        #expect(config.problems.isEmpty)
        #expect(config.string("GUILD_GATEWAY_LISTEN") == "0.0.0.0:9000")
        #expect(config.source(of: "GUILD_GATEWAY_LISTEN") == .environment)
        #expect(config.string("GUILD_LOG_LEVEL") == "debug")
        #expect(config.source(of: "GUILD_LOG_LEVEL") == .file)
        #expect(config.int("GUILD_GATEWAY_REQUEST_TIMEOUT_MS", default: 5000) == 4000)
        #expect(config.string("GUILD_GATEWAY_TRUST_FORWARDED_FOR") == "1")
        #expect(config.string("GUILD_DATA_DIR", default: ".guild") == ".guild")
        #expect(config.source(of: "GUILD_DATA_DIR") == .unset)
    }

    @Test func dottedKeysAreTheSameSettingsAsNestedOnes() {
        let config = settings(file: #"{"membership.grace-days": 7, "data-dir": "/var/lib/guild"}"#)
        #expect(config.problems.isEmpty)
        #expect(config.int("GUILD_MEMBERSHIP_GRACE_DAYS", default: 3) == 7)
        #expect(config.string("GUILD_DATA_DIR") == "/var/lib/guild")
    }

    @Test func anEmptyEnvironmentVariableCountsAsUnset() {
        let config = settings(["GUILD_LOG_LEVEL": ""], file: #"{"log-level": "warning"}"#)
        #expect(config.string("GUILD_LOG_LEVEL") == "warning")
    }

    @Test func aKeyThatIsNotASettingIsRefused() {
        let config = settings(file: #"{"gateway": {"listn": "127.0.0.1:1"}}"#)
        #expect(config.problems == [#"/etc/guild.json: "gateway.listn" is not a Guild setting (the settings are listed in the README)"#])
    }

    @Test func aValueThatIsNotAStringNumberOrBooleanIsRefused() {
        let config = settings(file: #"{"log-level": ["debug"]}"#)
        #expect(config.problems == [#"/etc/guild.json: "log-level" (GUILD_LOG_LEVEL) must be a string, a number or a boolean"#])
    }

    @Test func aFileThatIsNotAJSONObjectOrCannotBeReadIsRefused() {
        #expect(settings(file: "[1, 2]").problems.first?.hasPrefix("/etc/guild.json is not a JSON object of settings") == true)
        #expect(settings(file: "{\"log-level\": ").problems.first?.hasPrefix("/etc/guild.json is not a JSON object of settings") == true)
        #expect(ConfigEnvironment([:], file: "/nowhere.json", contents: nil).problems == ["cannot read the configuration file /nowhere.json"])
    }

    @Test func theFileIsNamedByTheCommandLineOrElseTheEnvironment() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("guild-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (a, b) = (directory.appendingPathComponent("a.json").path, directory.appendingPathComponent("b.json").path)
        try Data(#"{"log-level": "debug"}"#.utf8).write(to: URL(fileURLWithPath: a))
        try Data(#"{"log-level": "error"}"#.utf8).write(to: URL(fileURLWithPath: b))
        #expect(ConfigEnvironment.loading(arguments: ["guild-auth"], environment: ["GUILD_CONFIG": a]).string("GUILD_LOG_LEVEL") == "debug")
        #expect(ConfigEnvironment.loading(arguments: ["guild-auth", "--config", b], environment: ["GUILD_CONFIG": a]).string("GUILD_LOG_LEVEL") == "error")
        #expect(ConfigEnvironment.loading(arguments: ["guild-auth", "--config=\(b)"], environment: [:]).file == b)
        #expect(ConfigEnvironment.loading(arguments: ["guild-auth"], environment: [:]).file == nil)
    }

    @Test func databaseURLsAndKeysAreSecretsAndEveryFileKeyNamesOneSetting() {
        for key in ["GUILD_STRIPE_API_KEY", "GUILD_STRIPE_WEBHOOK_SECRET", "GUILD_WEB_SESSION_KEY", "GUILD_AUTH_KEY_ENCRYPTION_KEY", "GUILD_MEMBERSHIP_DATABASE_URL"] {
            #expect(GuildSettings.isSecret(key), "\(key)")
        }
        #expect(!GuildSettings.isSecret("GUILD_GATEWAY_LISTEN"))
        #expect(GuildSettings.fileKey("GUILD_GATEWAY_REQUEST_TIMEOUT_MS") == "gateway.request-timeout-ms")
        #expect(GuildSettings.fileKey("GUILD_WEB_SESSION_KEY_FILE") == "web-session-key-file")
        #expect(Set(GuildSettings.all.keys.map(GuildSettings.fileKey)).count == GuildSettings.all.count)
    }
}
