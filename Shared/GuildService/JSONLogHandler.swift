import Foundation
import Logging

/// A swift-log handler writing one JSON object per line to standard error, for log shippers
/// (`--log-format json`): `{"time":"…","level":"info","logger":"guild-content","message":"…",
/// "request-id":"…",…}`, metadata flattened into the object (nested values as strings).
///
/// swift-log ships only the plain-text stream handler, and none of the packages on the list
/// writes JSON lines; this is short enough to keep here (docs/decisions.md 31).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String

    public init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let line = Self.line(label: label, level: event.level, message: event.message.description, metadata: fields)
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// One entry as a line: a JSON object, metadata flattened into it in key order (a key that
    /// would replace `time`, `level`, `logger` or `message` is left out), ending in a newline.
    public static func line(label: String, level: Logger.Level, message: String, metadata: Logger.Metadata, at date: Date = Date()) -> String {
        var line = "{\"time\":"
        appendString(timestamp(date), to: &line)
        line += ",\"level\":"
        appendString(level.rawValue, to: &line)
        line += ",\"logger\":"
        appendString(label, to: &line)
        line += ",\"message\":"
        appendString(message, to: &line)
        for key in metadata.keys.sorted() where !["time", "level", "logger", "message"].contains(key) {
            line += ","
            appendString(key, to: &line)
            line += ":"
            appendString(metadata[key]!.description, to: &line)
        }
        return line + "}\n"
    }

    /// RFC 3339 with milliseconds, in UTC.
    static func timestamp(_ date: Date = Date()) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Appends `value` as a JSON string (RFC 8259 escaping).
    static func appendString(_ value: String, to line: inout String) {
        line.unicodeScalars.append("\"")
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20:
                line += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: line.unicodeScalars.append(scalar)
            }
        }
        line.unicodeScalars.append("\"")
    }
}
