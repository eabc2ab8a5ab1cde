import Foundation
import GuildCore

/// Input rules for accounts. Each check returns the violations it found, so one error can name
/// every invalid field.
enum Validation {
    static let minimumPasswordLength = 8
    static let maximumPasswordLength = 128

    /// The canonical form of an email (trimmed, lowercased), or a violation.
    static func email(_ raw: String, field: String = "email") -> Result<String, GuildError.FieldViolation> {
        let email = raw.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if email.isEmpty { return .failure(.init(field: field, description: "Email is required.")) }
        guard email.utf8.count <= 254 else { return .failure(.init(field: field, description: "Email is too long (254 characters at most).")) }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64,
              parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."), !parts[1].contains(".."),
              !email.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "<" || $0 == ">" || $0 == "," || $0 == ";" })
        else { return .failure(.init(field: field, description: "Email must look like name@example.com.")) }
        return .success(email)
    }

    static func password(_ password: String, field: String = "password") -> GuildError.FieldViolation? {
        if password.isEmpty { return .init(field: field, description: "Password is required.") }
        if password.count < minimumPasswordLength {
            return .init(field: field, description: "Password must be at least \(minimumPasswordLength) characters.")
        }
        if password.count > maximumPasswordLength || password.utf8.count > 4 * maximumPasswordLength {
            return .init(field: field, description: "Password must be at most \(maximumPasswordLength) characters.")
        }
        if password.allSatisfy({ $0.isWhitespace }) {
            return .init(field: field, description: "Password cannot be only spaces.")
        }
        return nil
    }

    static func displayName(_ raw: String, field: String = "displayName") -> Result<String, GuildError.FieldViolation> {
        let name = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty { return .failure(.init(field: field, description: "Display name is required.")) }
        if name.count > 64 { return .failure(.init(field: field, description: "Display name must be at most 64 characters.")) }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control || $0.properties.generalCategory == .format }) {
            return .failure(.init(field: field, description: "Display name cannot contain control characters."))
        }
        return .success(name)
    }
}

extension Result where Failure == GuildError.FieldViolation {
    /// The violation, when validation failed.
    var violation: GuildError.FieldViolation? {
        if case .failure(let violation) = self { return violation }
        return nil
    }
}
