import GuildCore

/// Runs `body` and returns the Guild error it threw: nil when it succeeded, and an `unknown`
/// error carrying the description when it threw something that is not a ``GuildError``. Lets a
/// test say `#expect(await thrownError { ... }?.code == .permissionDenied)`.
public func thrownError(_ body: () async throws -> Void) async -> GuildError? {
    do {
        try await body()
        return nil
    } catch let error as GuildError {
        return error
    } catch {
        return GuildError(.unknown, "not a GuildError: \(String(reflecting: error))")
    }
}
