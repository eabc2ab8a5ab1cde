import GuildCore

/// The methods every service with retry loops answers to the operator (`guild dead-letters`):
/// named after the service (`membership.ListDeadLetters`), callable with the cli certificate only.
public enum OpsAPI {
    public static func listDeadLetters(_ service: ServiceName) -> MethodDescriptor<OpsListDeadLettersRequest, OpsDeadLetterList> {
        MethodDescriptor("\(service.rawValue).ListDeadLetters", idempotent: true, allowedCallers: [.cli])
    }

    public static func retryDeadLetter(_ service: ServiceName) -> MethodDescriptor<OpsRetryDeadLetterRequest, OpsRetryDeadLetterResponse> {
        MethodDescriptor("\(service.rawValue).RetryDeadLetter", idempotent: true, allowedCallers: [.cli])
    }
}
