@testable import GuildGateway
import Testing

/// Which client addresses count as loopback (exempt from rate limits) and private (may read
/// `/metrics`), IPv4-mapped IPv6 forms included.
@Suite struct ClientAddressTests {
    @Test(arguments: ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "::FFFF:127.0.0.2", "localhost"])
    func loopback(_ address: String) {
        #expect(ClientAddress.isLoopback(address))
        #expect(ClientAddress.isPrivate(address))
    }

    @Test(arguments: ["10.1.2.3", "192.168.0.9", "172.16.0.1", "172.31.255.255", "::ffff:10.0.0.1", "fd12:3456::1", "fc00::1"])
    func privateNotLoopback(_ address: String) {
        #expect(!ClientAddress.isLoopback(address))
        #expect(ClientAddress.isPrivate(address))
    }

    @Test(arguments: ["8.8.8.8", "172.32.0.1", "128.0.0.1", "::ffff:8.8.8.8", "2001:db8::1", "127.0.0", "127.0.0.1.5", "127..0.1", "fd", "", "::ffff:"])
    func neither(_ address: String) {
        #expect(!ClientAddress.isLoopback(address))
        #expect(!ClientAddress.isPrivate(address))
    }
}
