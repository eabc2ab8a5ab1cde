import Foundation

/// Reads configuration from environment variables, with typed defaults.
public struct ConfigEnvironment: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    public func string(_ key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
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
}
