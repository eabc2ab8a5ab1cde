import GuildCore
import GuildMessages
import GuildWire

extension AuthService {
    /// The wire methods of `guild-auth`, bound to this service.
    public var wireRouter: WireRouter {
        WireRouter([
            WireMethod(AuthAPI.register) { request, _ in try await self.register(request) },
            WireMethod(AuthAPI.login) { request, context in try await self.login(request, clientAddress: context.clientAddress) },
            WireMethod(AuthAPI.refresh) { request, _ in try await self.refresh(request) },
            WireMethod(AuthAPI.logout) { request, _ in try await self.logout(request) },
            WireMethod(AuthAPI.logoutEverywhere) { _, context in try await self.logoutEverywhere(user: try context.requireUser()) },
            WireMethod(AuthAPI.updateProfile) { request, context in try await self.updateProfile(request, user: try context.requireUser()) },
            WireMethod(AuthAPI.changePassword) { request, context in
                try await self.changePassword(request, user: try context.requireUser(), clientAddress: context.clientAddress)
            },
            WireMethod(AuthAPI.getUser) { request, context in
                let id = request.userID.isEmpty ? try context.requireUser() : UserID(request.userID)
                return try await self.user(id)
            },
            WireMethod(AuthAPI.getPublicKeys) { _, _ in try await self.publicKeys() },
            WireMethod(AuthAPI.rotateSigningKey) { _, _ in try await self.rotateSigningKey() },
        ])
    }
}
