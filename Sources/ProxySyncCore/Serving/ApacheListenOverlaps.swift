/// Apache: a `Listen` this file adds for a port on which something already listens at another address (another
/// vhost's address in the dump, or a socket) overlaps it, and httpd's graceful restart, unable to bind, exits and
/// takes every site down; `configtest` does not see it. Refused before anything is written.
public enum ApacheListenOverlaps {
    /// The ports the rendered file adds a `Listen` for (those not in `apache_listen_ports`); nothing else is checked.
    public static func addedPorts(_ plan: ProxyPlan, settings: ProxySettings) -> Set<Int> {
        Set(plan.listeners.map(\.port)).subtracting(ApacheRenderer(settings: settings).existingListenPorts)
    }

    /// - Parameters:
    ///   - added: ``addedPorts(_:settings:)``.
    ///   - inventory: the proxy's other sites, from its dump (nil when not read).
    ///   - proxyPorts: the ports the managed file in place listens on (its sockets are the proxy's own).
    ///   - sockets: the sockets listening on `added` (none when the port check is off).
    public static func refusals(
        _ plan: ProxyPlan, settings: ProxySettings, added: Set<Int>, inventory: ProxyInventory?,
        proxyPorts: Set<Int>, sockets: [ListeningSocket]
    ) -> [Refusal] {
        let ours: [String?] = settings.listenAddresses.isEmpty ? [nil] : settings.listenAddresses
        var refusals: [Refusal] = []
        for port in added.sorted() {
            guard let listener = plan.listeners.first(where: { $0.port == port }) else { continue }
            var others: [String] = []
            // Overlapping without being equal: one side all addresses, the other a specific one. (Two different
            // specific addresses bind side by side; an equal one is a duplicate Listen that configtest refuses.)
            func overlaps(_ other: String?) -> Bool { ours.contains { ($0 == nil) != (other == nil) } }
            for site in inventory?.sites ?? [] where site.port == port && overlaps(site.address) {
                others.append("\(site.address ?? "*"):\(port) (\(site.file))")
            }
            if !proxyPorts.contains(port) {
                for socket in sockets where socket.port == port {
                    guard overlaps(socket.isWildcard ? nil : socket.address) else { continue }
                    others.append(socket.shown)
                }
            }
            guard let first = others.first else { continue }
            let wanted = ours.map { $0.map { "\($0):\(port)" } ?? "\(port) (all addresses)" }.joined(separator: ", ")
            refusals.append(
                Refusal(
                    listener: listener.origin,
                    reason:
                        "Apache already listens on \(first), and this file's Listen \(wanted) overlaps it without being equal: httpd's graceful restart could not bind and would exit, taking every site down; choose another port in GoCD, or set listen_address to that address (or list \(port) in apache_listen_ports if the main configuration's Listen covers the GoCD site)"
                ))
        }
        return refusals
    }
}
