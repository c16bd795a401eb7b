/// The proxy's programs by name: which processes are the proxy, and which commands start it.
public enum ProxyProcess {
    /// The names (`/proc/PID/comm`) of the proxy's processes. A process so named counts as the proxy only when
    /// it is root's as well: the proxy's master and its listening sockets are root's, and a local user can run a
    /// program merely named `nginx`.
    public static func names(_ kind: ProxyKind) -> Set<String> { kind == .nginx ? ["nginx"] : ["apache2", "httpd"] }

    /// The proxy's own programs, as the first word of a command (by base name): a dump or module list can be
    /// derived from a test command that starts with one of them.
    public static func programs(_ kind: ProxyKind) -> Set<String> {
        kind == .nginx ? ["nginx"] : ["apache2", "httpd", "apachectl", "apache2ctl"]
    }

    /// Whether a process is the proxy's running main process: named as the proxy, not a zombie (a zombie master
    /// serves nothing, and a reload would start a new proxy), and root's.
    public static func isRunningProxy(name: String, zombie: Bool, realUID: UInt32?, kind: ProxyKind) -> Bool {
        names(kind).contains(name) && !zombie && realUID == 0
    }
}
