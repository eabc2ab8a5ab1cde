import Configuration
import Foundation

/// Where a Guild process reads its settings, through swift-configuration: a flag wins (the
/// flags' defaults come from here), then the environment variable (`GUILD_…`), then the
/// configuration file, then the built-in default.
///
/// The file is JSON, named by `--config <file>` or `GUILD_CONFIG`; its keys are the settings'
/// ``GuildSettings/fileKey(_:)``s, nested (`{"gateway": {"listen": "…"}}`) or dotted
/// (`{"gateway.listen": "…"}`), with string, number or boolean values. A file that cannot be
/// read, is not a JSON object, or names a setting Guild does not have is refused at start
/// (``problems``), so that a typo never passes for a default.
public struct ConfigEnvironment: Sendable {
    /// This process's settings: its environment and the file its command line or environment names.
    public static let process = ConfigEnvironment.loading(arguments: CommandLine.arguments, environment: ProcessInfo.processInfo.environment)

    private let reader: ConfigReader
    /// The configuration file in effect, if any.
    public let file: String?
    /// Why the configuration file cannot be used; a process refuses to start while this is non-empty.
    public let problems: [String]
    private let fileKeys: Set<String>
    private let environment: [String: String]

    /// The process's settings (``process``).
    public init() {
        self = Self.process
    }

    /// Settings from these environment variables and, if `file` is given, that file's
    /// `contents` (nil: the file could not be read).
    public init(_ environment: [String: String], file: String? = nil, contents: Data? = nil) {
        // An empty variable counts as unset, so that the file's value shows through.
        var providers: [any ConfigProvider] = [EnvironmentVariablesProvider(
            environmentVariables: environment.filter { !$0.value.isEmpty }, secretsSpecifier: .dynamic { key, _ in GuildSettings.isSecret(key) })]
        var problems: [String] = []
        var fileKeys: Set<String> = []
        if let file {
            if let contents {
                do {
                    let provider = try SettingsFileProvider(path: file, contents: contents)
                    providers.append(provider)
                    fileKeys = provider.keys
                    problems = provider.problems
                } catch {
                    problems = ["\(file) is not a JSON object of settings: \(error)"]
                }
            } else {
                problems = ["cannot read the configuration file \(file)"]
            }
        }
        self.reader = ConfigReader(providers: providers)
        self.file = file
        self.problems = problems
        self.fileKeys = fileKeys
        self.environment = environment
    }

    /// Reads the file named by `--config <file>` (or `--config=<file>`) in `arguments`, else by `GUILD_CONFIG`.
    public static func loading(arguments: [String], environment: [String: String]) -> ConfigEnvironment {
        var file = environment["GUILD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        for (index, argument) in arguments.enumerated() {
            if argument == "--config", index + 1 < arguments.count { file = arguments[index + 1] }
            if argument.hasPrefix("--config=") { file = String(argument.dropFirst("--config=".count)) }
        }
        return ConfigEnvironment(environment, file: file, contents: file.flatMap { FileManager.default.contents(atPath: $0) })
    }

    /// The setting named by its environment variable, from the environment or else the file;
    /// empty counts as unset. Secrets (``GuildSettings/isSecret(_:)``) are read as secrets, so
    /// that swift-configuration's access reports and descriptions redact them.
    public func string(_ key: String) -> String? {
        assert(GuildSettings.all[key] != nil, "\(key) is not in GuildSettings.all")
        guard let value = reader.string(forKey: ConfigKey([key]), isSecret: GuildSettings.isSecret(key)), !value.isEmpty else { return nil }
        return value
    }

    public func string(_ key: String, default fallback: String) -> String {
        string(key) ?? fallback
    }

    public func int(_ key: String, default fallback: Int) -> Int {
        string(key).flatMap(Int.init) ?? fallback
    }

    public func double(_ key: String, default fallback: Double) -> Double {
        string(key).flatMap(Double.init) ?? fallback
    }

    /// Where a setting's value comes from: the environment, the file, or nowhere (the default).
    public func source(of key: String) -> SettingSource {
        if let value = environment[key], !value.isEmpty { return .environment }
        if fileKeys.contains(GuildSettings.fileKey(key)), string(key) != nil { return .file }
        return .unset
    }

    public enum SettingSource: String, Sendable {
        case environment, file, unset
    }
}

/// Every setting a Guild process reads, by its environment variable, and which of them are
/// secret: a secret is never a flag's default (the help would print it), never printed by
/// `guild config`, and redacted by swift-configuration.
public enum GuildSettings {
    /// The environment variable of each setting, and whether its value is a secret.
    public static let all: [String: Bool] = [
        "GUILD_DATA_DIR": false, "GUILD_CERTS_DIR": false, "GUILD_LOG_LEVEL": false, "GUILD_LOG_FORMAT": false,
        "GUILD_SIMULATED_CLOCK": false, "GUILD_METRICS_LISTEN": false, "GUILD_OTLP_ENDPOINT": false, "GUILD_HEALTHCHECK": false,
        "GUILD_PUBLIC_URL": false, "GUILD_WEB_SESSION_KEY_FILE": false, "GUILD_WEB_SESSION_KEY": true,
        "GUILD_STRIPE_API_KEY": true, "GUILD_STRIPE_WEBHOOK_SECRET": true,
        "GUILD_AUTH_ENDPOINTS": false, "GUILD_MEMBERSHIP_ENDPOINTS": false, "GUILD_CONTENT_ENDPOINTS": false, "GUILD_REFERRAL_ENDPOINTS": false,
        "GUILD_GATEWAY_LISTEN": false, "GUILD_GATEWAY_REQUEST_TIMEOUT_MS": false, "GUILD_GATEWAY_TRUST_FORWARDED_FOR": false,
        "GUILD_GATEWAY_RATE_LIMITS": false,
        "GUILD_AUTH_LISTEN": false, "GUILD_AUTH_DATABASE_URL": true, "GUILD_AUTH_KEY_ENCRYPTION_KEY_FILE": false,
        "GUILD_AUTH_KEY_ENCRYPTION_KEY": true, "GUILD_AUTH_ACCESS_TOKEN_TTL": false, "GUILD_AUTH_REFRESH_TOKEN_TTL": false,
        "GUILD_AUTH_SCRYPT_LOG_N": false,
        "GUILD_MEMBERSHIP_LISTEN": false, "GUILD_MEMBERSHIP_DATABASE_URL": true, "GUILD_MEMBERSHIP_EVENT_SUBSCRIBERS": false,
        "GUILD_MEMBERSHIP_GRACE_DAYS": false, "GUILD_MEMBERSHIP_PLATFORM_FEE_BP": false,
        "GUILD_CONTENT_LISTEN": false, "GUILD_CONTENT_DATABASE_URL": true, "GUILD_CONTENT_EVENT_SUBSCRIBERS": false,
        "GUILD_CONTENT_ACCESS_CACHE_SECONDS": false, "GUILD_CONTENT_MAX_ATTACHMENT_BYTES": false,
        "GUILD_REFERRAL_LISTEN": false, "GUILD_REFERRAL_DATABASE_URL": true, "GUILD_REFERRAL_EVENT_SUBSCRIBERS": false,
        "GUILD_REFERRAL_ACCESS_CACHE_SECONDS": false,
    ]

    /// Database URLs count as secrets: they may hold a password.
    public static func isSecret(_ key: String) -> Bool { all[key] ?? false }

    /// The processes whose settings the file groups under a key of their own.
    static let sections: Set<String> = ["gateway", "auth", "membership", "content", "referral"]

    /// A setting's key in the configuration file: its variable without `GUILD_`, in lower case
    /// with dashes, under its process's section when it names one: `GUILD_GATEWAY_REQUEST_TIMEOUT_MS`
    /// is `gateway.request-timeout-ms`, `GUILD_DATA_DIR` is `data-dir`.
    public static func fileKey(_ key: String) -> String {
        var words = key.split(separator: "_").dropFirst().map { $0.lowercased() }
        guard words.count > 1, sections.contains(words[0]) else { return words.joined(separator: "-") }
        let section = words.removeFirst()
        return section + "." + words.joined(separator: "-")
    }

    /// The setting a file key names.
    static let byFileKey: [String: String] = Dictionary(uniqueKeysWithValues: all.keys.map { (fileKey($0), $0) })
}

/// The configuration file as a swift-configuration provider: parsed once at start by
/// `JSONSnapshot`, asked by environment-variable name and answered from the setting's file key.
/// Numbers and booleans answer as strings, the way the environment gives every value.
struct SettingsFileProvider: ConfigProvider {
    let providerName: String
    private let parsed: JSONSnapshot
    /// The settings the file gives, by file key.
    let keys: Set<String>
    let problems: [String]

    init(path: String, contents: Data) throws {
        providerName = "configuration file \(path)"
        let options = JSONSnapshot.ParsingOptions(secretsSpecifier: .dynamic { key, _ in
            GuildSettings.byFileKey[key].map(GuildSettings.isSecret) ?? false
        })
        parsed = try JSONSnapshot(data: contents.bytes, providerName: providerName, parsingOptions: options)
        let found = Self.flattenedKeys(try JSONSerialization.jsonObject(with: contents))
        keys = Set(found)
        var problems: [String] = []
        for key in found.sorted() {
            guard let setting = GuildSettings.byFileKey[key] else {
                problems.append("\(path): \"\(key)\" is not a Guild setting (the settings are listed in the README)")
                continue
            }
            if (try? Self.stringValue(parsed, key: key, isSecret: false)) == nil {
                problems.append("\(path): \"\(key)\" (\(setting)) must be a string, a number or a boolean")
            }
        }
        self.problems = problems
    }

    /// The dotted keys of a parsed JSON object's leaves.
    private static func flattenedKeys(_ object: Any, prefix: String = "") -> [String] {
        guard let dictionary = object as? [String: Any] else { return prefix.isEmpty ? [] : [prefix] }
        return dictionary.flatMap { key, value in flattenedKeys(value, prefix: prefix.isEmpty ? key : prefix + "." + key) }
    }

    private static func stringValue(_ snapshot: JSONSnapshot, key: String, isSecret: Bool) throws -> LookupResult {
        let absolute = AbsoluteConfigKey(key.split(separator: ".").map(String.init))
        for type in [ConfigType.string, .int, .double, .bool] {
            guard let result = try? snapshot.value(forKey: absolute, type: type) else { continue }
            guard let value = result.value else { return result }
            let text: String = switch value.content {
            case .string(let string): string
            case .int(let int): String(int)
            case .double(let double): String(double)
            case .bool(let bool): bool ? "1" : "0"
            default: ""
            }
            return LookupResult(encodedKey: key, value: ConfigValue(.string(text), isSecret: isSecret || value.isSecret))
        }
        throw SettingTypeError()
    }

    private struct SettingTypeError: Error {}

    func value(forKey key: AbsoluteConfigKey, type: ConfigType) throws -> LookupResult {
        guard type == .string, let name = key.components.first, key.components.count == 1 else {
            return LookupResult(encodedKey: key.description, value: nil)
        }
        let fileKey = GuildSettings.fileKey(name)
        return (try? Self.stringValue(parsed, key: fileKey, isSecret: GuildSettings.isSecret(name)))
            ?? LookupResult(encodedKey: fileKey, value: nil)
    }

    func fetchValue(forKey key: AbsoluteConfigKey, type: ConfigType) async throws -> LookupResult {
        try value(forKey: key, type: type)
    }

    nonisolated(nonsending) func watchValue<Return: ~Copyable>(
        forKey key: AbsoluteConfigKey, type: ConfigType,
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<Result<LookupResult, any Error>, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchValueFromValue(forKey: key, type: type, updatesHandler: updatesHandler)
    }

    func snapshot() -> any ConfigSnapshot { parsed }

    nonisolated(nonsending) func watchSnapshot<Return: ~Copyable>(
        updatesHandler: nonisolated(nonsending) (_ updates: ConfigUpdatesAsyncSequence<any ConfigSnapshot, Never>) async throws -> Return
    ) async throws -> Return {
        try await watchSnapshotFromSnapshot(updatesHandler: updatesHandler)
    }
}
