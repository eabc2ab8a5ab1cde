import Testing

@testable import GuildReferral

/// The fraud checks' signals, without I/O: networks of client addresses and normalised email
/// addresses.
@Suite("FraudSignals")
struct FraudSignalsTests {
    @Test("the network of a client address", arguments: [
        ("203.0.113.7", "203.0.113.0/24"),
        ("203.0.113.200:5123", "203.0.113.0/24"),
        (" 10.1.2.3 ", "10.1.2.0/24"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8::1", "2001:db8:0:0::/64"),
        ("[2001:db8:abcd:12::1]:443", "2001:db8:abcd:12::/64"),
        ("fe80::1%eth0", "fe80:0:0:0::/64"),
        ("::1", "0:0:0:0::/64"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("[::ffff:198.51.100.9]:80", "198.51.100.0/24"),
        ("", ""),
        ("unknown", ""),
        ("256.1.1.1", ""),
        ("1.2.3", ""),
        ("1.2.3.4.5", ""),
        ("2001:db8::1::2", ""),
        ("1:2:3:4:5:6:7:8:9", ""),
        ("12345::1", ""),
        ("[2001:db8::1", ""),
    ])
    func network(_ address: String, _ expected: String) {
        #expect(FraudSignals.network(of: address) == expected)
    }

    @Test("no address, no network")
    func missing() {
        #expect(FraudSignals.network(of: nil) == "")
    }

    @Test("email addresses reduced to their mailbox", arguments: [
        ("Alice+x@gmail.com", "alice@gmail.com"),
        ("a.lice@googlemail.com", "alice@gmail.com"),
        ("  A.Li.Ce+promo+more@GMail.COM ", "alice@gmail.com"),
        ("bob.smith+news@example.com", "bob.smith@example.com"),
        ("Bob.Smith@Example.com", "bob.smith@example.com"),
        ("carol@mail.gmail.com.evil", "carol@mail.gmail.com.evil"),
        ("no-at-sign", "no-at-sign"),
        ("", ""),
    ])
    func email(_ email: String, _ expected: String) {
        #expect(FraudSignals.normalizedEmail(email) == expected)
    }

    @Test("the burst reason the owner reads")
    func burstReason() {
        #expect(FraudSignals.burstReason(count: 4, code: "K7Q2M9XA", network: "203.0.113.0/24", minutes: 60)
            == "4 sign-ups through link K7Q2M9XA from 203.0.113.0/24 within 60 minutes")
    }
}
