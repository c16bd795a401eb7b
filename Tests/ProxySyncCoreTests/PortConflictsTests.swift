import ProxySyncCore
import Testing

/// The port pre-flight over plain sockets and holders, each fact read only when a conflict needs it.
struct PortConflictsTests {
    let https = Listener(scheme: .https, port: 8443, serverName: "gocd.test", action: .proxy)
    var plan: ProxyPlan { ProxyPlan(listeners: [https], siteURL: "", secureSiteURL: "https://gocd.test:8443") }

    func conflicts(_ sockets: [ListeningSocket], kind: ProxyKind = .nginx, addresses: [String] = []) -> PortConflicts {
        var settings = Fixtures.proxy(kind: kind)
        settings.listenAddresses = addresses
        return PortConflicts(plan: plan, settings: settings, sockets: sockets)
    }

    func refusals(_ verdict: PortConflicts.Verdict) -> [Refusal]? {
        if case .refusals(let refusals) = verdict { return refusals }
        return nil
    }

    @Test func aFreePortHasNoConflict() {
        #expect(conflicts([ListeningSocket(address: "127.0.0.1", port: 9000, inode: 1)]).conflicts.isEmpty)
        // A specific address elsewhere does not stop a bind to another specific address.
        #expect(conflicts([ListeningSocket(address: "10.0.0.2", port: 8443, inode: 1)], addresses: ["10.0.0.1"]).conflicts.isEmpty)
    }

    @Test func theProxysOwnRootSocketIsNotAConflict() {
        let check = conflicts([ListeningSocket(address: "0.0.0.0", port: 8443, inode: 5, uid: 0)])
        let facts = PortConflicts.Facts(holders: [5: [SocketHolder(pid: 10, name: "nginx")]], proxyPorts: [], inventory: nil)
        #expect(refusals(check.judge(facts)) == [])
    }

    @Test func aProgramNamedLikeTheProxyButNotRootsIsRefused() throws {
        let check = conflicts([ListeningSocket(address: "0.0.0.0", port: 8443, inode: 5, uid: 1000)])
        let facts = PortConflicts.Facts(holders: [5: [SocketHolder(pid: 10, name: "nginx")]], proxyPorts: [], inventory: nil)
        let refused = try #require(refusals(check.judge(facts)))
        #expect(refused.count == 1)
        #expect(refused[0].reason.contains("held by nginx (pid 10), not by the proxy"), "\(refused[0].reason)")
    }

    @Test func anUnseenHolderOfAnotherUidIsRefusedWithoutAskingMore() throws {
        let check = conflicts([ListeningSocket(address: "127.0.0.1", port: 8443, inode: 5, uid: 1000)])
        let refused = try #require(refusals(check.judge(.init(holders: [:], proxyPorts: [], inventory: nil))))
        #expect(refused.map(\.reason) == [
            "port 8443 on all addresses is taken: 127.0.0.1:8443 is held by a program of uid 1000, not by the proxy; free the port or change the site URL in GoCD"
        ])
    }

    @Test func anUnseenRootHolderOnAPortTheFileInPlaceServesIsTheProxy() {
        let check = conflicts([ListeningSocket(address: "::", port: 8443, inode: 5)])
        #expect(refusals(check.judge(.init(holders: [:], proxyPorts: [8443], inventory: nil))) == [])
    }

    /// Another site of the proxy listens there: the proxy's only while it runs; then the socket is read again.
    @Test func factsAreAskedForInTurn() throws {
        let check = conflicts([ListeningSocket(address: "0.0.0.0", port: 8443, inode: 5)])
        let other = ProxyInventory(sites: [.init(address: nil, port: 8443, tls: true, names: ["other.test"], file: "/etc/nginx/sites-enabled/other")])
        var facts = PortConflicts.Facts(holders: [:], proxyPorts: [], inventory: other)
        guard case .needs(.proxyRunning) = check.judge(facts) else { Issue.record("needs the proxy's state"); return }
        facts.proxyRunning = true
        #expect(refusals(check.judge(facts)) == [])
        facts.proxyRunning = false
        guard case .needs(.stillListening) = check.judge(facts) else { Issue.record("needs the socket again"); return }
        facts.stillListening = []
        #expect(refusals(check.judge(facts)) == [], "gone since: an old worker exiting")
        facts.stillListening = [5]
        let refused = try #require(refusals(check.judge(facts)))
        #expect(refused.first?.reason.contains("its pid is not visible to this process") == true)
    }

    @Test func apacheListenPortsCountAsTheProxysConfiguration() {
        let check = conflicts([ListeningSocket(address: "0.0.0.0", port: 8443, inode: 5)], kind: .apache)
        guard case .needs(.stillListening) = check.judge(.init(holders: [:], proxyPorts: [], inventory: nil)) else {
            Issue.record("8443 is not in the default apache_listen_ports")
            return
        }
        var settings = Fixtures.proxy(kind: .apache)
        settings.apacheExistingListenPorts = [8443]
        let listed = PortConflicts(plan: plan, settings: settings, sockets: check.conflicts.map(\.socket))
        guard case .needs(.proxyRunning) = listed.judge(.init(holders: [:], proxyPorts: [], inventory: nil)) else {
            Issue.record("a listed port is the proxy's while it runs")
            return
        }
    }

    @Test func onePortIsRefusedOnce() throws {
        let sockets = [
            ListeningSocket(address: "0.0.0.0", port: 8443, inode: 5, uid: 1000),
            ListeningSocket(address: "::", port: 8443, inode: 6, uid: 1000),
        ]
        let refused = try #require(refusals(conflicts(sockets).judge(.init(holders: [:], proxyPorts: [], inventory: nil))))
        #expect(refused.count == 1)
    }

    @Test func apacheListenOverlapsNeedOneSideAllAddresses() {
        var settings = Fixtures.proxy(kind: .apache)
        settings.apacheExistingListenPorts = []
        #expect(ApacheListenOverlaps.addedPorts(plan, settings: settings) == [8443])
        let socket = ListeningSocket(address: "127.0.0.1", port: 8443, inode: 1)
        let refused = ApacheListenOverlaps.refusals(
            plan, settings: settings, added: [8443], inventory: nil, proxyPorts: [], sockets: [socket])
        #expect(refused.count == 1)
        #expect(refused.first?.reason.hasPrefix("Apache already listens on 127.0.0.1:8443, and this file's Listen 8443 (all addresses)") == true)
        // The file in place listens there already: the socket is the proxy's own.
        #expect(ApacheListenOverlaps.refusals(plan, settings: settings, added: [8443], inventory: nil, proxyPorts: [8443], sockets: [socket]).isEmpty)
        // Both specific: they bind side by side.
        settings.listenAddresses = ["10.0.0.1"]
        #expect(ApacheListenOverlaps.refusals(plan, settings: settings, added: [8443], inventory: nil, proxyPorts: [], sockets: [socket]).isEmpty)
        let wildcard = ListeningSocket(address: "::", port: 8443, inode: 2)
        #expect(ApacheListenOverlaps.refusals(plan, settings: settings, added: [8443], inventory: nil, proxyPorts: [], sockets: [wildcard]).first?.reason.contains("[::]:8443") == true)
    }
}
