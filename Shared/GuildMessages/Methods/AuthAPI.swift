import GuildCore

/// The methods of `guild-auth`.
public enum AuthAPI {
    /// Services that act for end users and may call the user-facing auth methods.
    static let frontDoor: Set<ServiceName> = [.gateway]
    /// Services that may read users and public keys.
    static let everyService: Set<ServiceName> = [.gateway, .membership, .content, .referral, .cli]

    public static let register = MethodDescriptor<AuthRegisterRequest, AuthSession>(
        "auth.Register", idempotent: false, allowedCallers: frontDoor)
    public static let login = MethodDescriptor<AuthLoginRequest, AuthSession>(
        "auth.Login", idempotent: false, allowedCallers: frontDoor)
    public static let refresh = MethodDescriptor<AuthRefreshRequest, AuthSession>(
        "auth.Refresh", idempotent: false, allowedCallers: frontDoor)
    public static let logout = MethodDescriptor<AuthLogoutRequest, AuthLogoutResponse>(
        "auth.Logout", idempotent: true, allowedCallers: frontDoor)
    public static let changePassword = MethodDescriptor<AuthChangePasswordRequest, AuthSession>(
        "auth.ChangePassword", idempotent: false, allowedCallers: frontDoor)
    public static let logoutEverywhere = MethodDescriptor<AuthLogoutEverywhereRequest, AuthLogoutResponse>(
        "auth.LogoutEverywhere", idempotent: true, allowedCallers: frontDoor)
    public static let updateProfile = MethodDescriptor<AuthUpdateProfileRequest, AuthUser>(
        "auth.UpdateProfile", idempotent: true, allowedCallers: frontDoor)
    public static let getUser = MethodDescriptor<AuthGetUserRequest, AuthUser>(
        "auth.GetUser", idempotent: true, allowedCallers: everyService)
    public static let getPublicKeys = MethodDescriptor<AuthGetPublicKeysRequest, AuthGetPublicKeysResponse>(
        "auth.GetPublicKeys", idempotent: true, allowedCallers: everyService)
    /// `guild keys rotate`: the operator's, over the cli certificate only. Not retried: a second
    /// call would rotate again.
    public static let rotateSigningKey = MethodDescriptor<AuthRotateSigningKeyRequest, AuthRotateSigningKeyResponse>(
        "auth.RotateSigningKey", idempotent: false, allowedCallers: [.cli])
}

/// Built-in methods every Guild wire server answers.
public enum SystemAPI {
    /// Answers "serving" to any authenticated peer; used by readiness checks.
    public static let health = MethodDescriptor<WireHealthRequest, WireHealthResponse>(
        "guild.Health", idempotent: true, allowedCallers: Set(ServiceName.all))
}
